"""Background URLSession: transfers continue while the app is suspended or gone, relaunch it
when they end, and stop at a force quit (facts B5, G4, A10; seed question 13)."""

import pytest

from harness.core.errors import AppError

pytestmark = pytest.mark.device

UPLOAD = {"upload": {"bytes": 1_000_000}}


def upload_at_launch() -> dict:
    return {"after_launch": [{"at_s": 0, "do": [UPLOAD]}]}


def test_an_upload_finishes_while_the_app_is_suspended(app, bg):
    """facts G4 [H]: background transfers "continue to run even when your app is suspended";
    the app hears of the end when the system wakes it (B5 [H])."""
    with bg.offline():  # the transfer cannot end before the app is in the background
        app.launch(plan=upload_at_launch())
        bg.expect("upload.started", source="probe", within=10)
        app.background()
        bg.wait(60)
    bg.expect("upload.finished", error=0, source="probe", within=3600)


@pytest.mark.experiment(fact="B5")
def test_an_upload_outlives_a_kill_and_relaunches_the_app(app, bg):
    """facts B5 [H], G4 [H]: if the app "is terminated while transfers are ongoing, the system
    continues the transfers ... and launches your app" (handleEventsForBackgroundURLSession).
    A SIGKILL from the host is not the system's own termination (facts A10 [L]), so whether it
    counts is recorded."""
    with bg.offline():
        app.launch(plan=upload_at_launch())
        bg.expect("upload.started", source="probe", within=10)
        app.background()
        app.kill()
        bg.expect("app.terminated", within=10)
    relaunch = bg.first_of(["upload.finished"], within=3600)
    if relaunch is None:
        bg.observe("terminated_by", "sigkill", outcome="not_relaunched")
        return
    launches = [
        e for e in bg.timeline.events(bg.started) if e.matches("app.launched", source="probe")
    ]
    background = any(e.attrs.get("reason") == "background" for e in launches)
    bg.observe(
        "terminated_by",
        "sigkill",
        outcome="relaunched" if background else "finished",
        error=relaunch.attrs["error"],
    )


@pytest.mark.experiment(fact="G4")
def test_force_quit_cancels_a_background_upload(app, bg):
    """facts G4 [H], A9/B1 [H] (Quinn): a force quit is "a strong indication that the app should
    do no more work in the background, and that includes NSURLSession background tasks": the
    app is not relaunched for the transfer (asserted). The cancellation reaches the app as -999
    on its next launch ([M]), recorded."""
    with bg.offline():
        app.launch(plan=upload_at_launch())
        bg.expect("upload.started", source="probe", within=10)
        app.background()
        app.force_quit()
        bg.expect("app.terminated", reason="user_force_quit", within=10)
    bg.expect_none("app.launched", reason="background", during=3600)
    bg.mark()
    app.launch(plan={})
    told = bg.first_of(["upload.finished"], within=60)
    if told is not None:
        assert told.attrs["error"] == -999, "a cancelled transfer reports NSURLErrorCancelled"
    bg.observe("next_launch", "user", outcome="cancelled" if told else "not_told")


@pytest.mark.soak
@pytest.mark.app("BGProbeRelease")
@pytest.mark.experiment(fact="B2")
def test_processing_with_a_background_upload_in_a_release_build(app, bg):
    """Seed question 13: "A processing task with a background upload runs reliably in Debug
    builds but not from TestFlight".

    A release-signed build (no get-task-allow, so no debugger: facts A9) and the system's own
    scheduling: processing needs an idle phone (B2 [H]: modelled by locking it) and runs
    "within the next two days" at best; an upload created in the background waits for
    nsurlsessiond's per-app delay (G4 [H], [M] 60 s doubling). When it launched, whether its
    upload finished and how long it took are recorded, per device and night.
    """
    task = app.task("processing", "net")
    app.launch(
        plan={
            "register": [task],
            "submit": [{"type": "processing", "id": task, "requires_network": True}],
            "handler": {"work_s": 30, "do": [UPLOAD]},
        }
    )
    submitted = bg.expect("task.submitted", task=task, source="dasd", within=10)
    app.background()
    with bg.locked():
        launched = bg.first_of(["task.launched"], task, within=48 * 3600)
        if launched is None:
            bg.observe("build", "release", outcome="not_launched", waited_s=48 * 3600.0)
            return
        assert not launched.attrs.get("simulated"), "no debugger touched this run"
        started = bg.first_of(["upload.started"], task, within=120)
        finished = bg.first_of(["upload.finished"], within=3600)
    uploaded = bool(finished and finished.attrs["error"] == 0)
    took = {"upload_s": finished.time - started.time} if uploaded and started else {}
    bg.observe(
        "build",
        "release",
        outcome="uploaded" if uploaded else "not_uploaded",
        delay_s=launched.time - submitted.time,
        **took,
    )


@pytest.mark.app("BGProbeRelease")
def test_trigger_and_expire_refuse_a_release_build(app, bg):
    """facts A7 [H/M]: a debugger attaches only to a development-signed build (get-task-allow):
    bgharness says so before trying, instead of failing in lldb."""
    app.launch(plan={"register": ["refresh"], "submit": [{"type": "refresh", "id": "refresh"}]})
    bg.expect("task.submitted", task=app.task("refresh"), source="dasd")
    with pytest.raises(AppError, match=r"release-signed build \(no get-task-allow\)"):
        bg.trigger(app.task("refresh"))
    with pytest.raises(AppError, match="get-task-allow"):
        bg.expire(app.task("refresh"))
    bg.expect_none("task.launched", task=app.task("refresh"), during=5)
