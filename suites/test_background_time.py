"""Background time: beginBackgroundTask's budget, its expiration handler, the watchdog, and
suspension after backgrounding, with and without a debugger (facts B4, G2, G7, A9; seed
question 14)."""

import pytest

pytestmark = pytest.mark.device


def begin_at_launch(work_s: float, end: bool = True, name: str = "save") -> dict:
    """A plan that begins a background task right after launch (in the foreground)."""
    task = {"name": name, "work_s": work_s, "end": end}
    return {"after_launch": [{"at_s": 0, "do": [{"background_task": task}]}]}


def test_a_background_task_ended_in_time_keeps_the_app_alive(app, bg):
    """facts B4 [H]: a background task that is ended is the intended use: the work finishes in
    the background and the app is not killed."""
    app.launch(plan=begin_at_launch(work_s=10))
    bg.expect("bgtime.began", name="save", source="probe", within=5)
    app.background()
    bg.expect("bgtime.ended", name="save", source="probe", within=30)
    bg.expect_none("bgtime.expired", name="save", during=1)
    bg.expect_none("app.terminated", during=60)


@pytest.mark.experiment(fact="B4")
def test_background_task_budget(app, bg):
    """facts B4 [H]: the expiration handler runs "shortly before the app's remaining background
    time reaches 0" (asserted: it runs); the budget is [M] (~30 s on modern iOS, 180 s and 10 min
    on old ones), so the time from Home to the handler is recorded."""
    app.launch(plan=begin_at_launch(work_s=900))
    bg.expect("bgtime.began", name="save", source="probe", within=5)
    home = bg.clock.now()
    app.background()
    expired = bg.expect("bgtime.expired", name="save", source="probe", within=660)
    bg.expect("bgtime.ended", name="save", source="probe", within=5)
    bg.observe("begun_in", "foreground", outcome="expired", expired_after_s=expired.time - home)


def test_a_background_task_not_ended_gets_the_app_killed(app, bg):
    """facts B4 [H], G2 [H]: "You must end every background task that you begin. Failure to do
    so will result in your app being killed by the watchdog"; UIKit first logs that the task is
    "still not ended after expiration handlers were called" (decompiled UIKitCore)."""
    app.launch(plan=begin_at_launch(work_s=900, end=False))
    bg.expect("bgtime.began", name="save", source="probe", within=5)
    app.background()
    bg.expect("bgtime.expired", name="save", source="probe", within=660)
    bg.expect("bgtime.expired_not_ended", within=30)
    bg.expect("app.terminated", within=120)
    assert app.pid is None, "the watchdog killed the app"


@pytest.mark.experiment(fact="G7")
def test_a_backgrounded_app_is_suspended(app, bg):
    """facts G7 [H]: iOS suspends an app "shortly after" it moves to the background; how soon is
    not published, and RunningBoard's suspend line is [M/L], so the delay is recorded."""
    app.launch(plan={})
    bg.expect("app.launched", source="probe", within=10)
    home = bg.clock.now()
    app.background()
    suspended = bg.first_of(["app.suspended"], within=600)
    if suspended is None:
        bg.observe("debugger", "detached", outcome="not_seen", waited_s=600.0)
        return
    bg.observe("debugger", "detached", outcome="suspended", after_s=suspended.time - home)


@pytest.mark.experiment(fact="A9")
def test_the_debugger_keeps_a_backgrounded_app_from_suspending(app, bg, device):
    """facts A9 [H], G7 [H]: "the debugger prevents your app from suspending" (Quinn): while
    lldb is attached no suspension may come (asserted); after it detaches, what the phone does
    is recorded. This is why bgharness attaches only for a trigger."""
    app.launch(plan={})
    bg.expect("app.launched", source="probe", within=10)
    with device.debugger(app.pid):
        app.background()
        bg.expect_none("app.suspended", during=120)
    detached = bg.clock.now()
    suspended = bg.first_of(["app.suspended"], within=600)
    outcome = "not_seen" if suspended is None else "suspended"
    after = {} if suspended is None else {"after_detach_s": suspended.time - detached}
    bg.observe("debugger", "attached", outcome=outcome, **after)


WORK_S = (10, 25, 60)


@pytest.mark.experiment(fact="G10")
@pytest.mark.parametrize("work_s", WORK_S, ids=[f"work{w}s" for w in WORK_S])
def test_background_launch_work_wrapped_in_begin_background_task(app, bg, work_s):
    """Seed question 14: "when the app is launched in the background for a push (start, update,
    end, token, stale), should the work be wrapped in beginBackgroundTask, and how much time is
    there?"

    No push reaches the probe here; a background launch for a task stands in for it (facts G10
    [L]: treat the push launch as a normal background launch). The launch handler hands its
    work to a background task and completes at once. facts B4 [H]: an ended task never gets
    the app killed (asserted); whether `work_s` fits the budget is [M], recorded.
    """
    task = app.task("refresh")
    work = {"background_task": {"name": "push-work", "work_s": work_s}}
    app.launch(
        plan={
            "register": ["refresh"],
            "submit": [{"type": "refresh", "id": "refresh"}],
            "handler": {"work_s": 0.1, "do": [work]},
        }
    )
    bg.expect("task.submitted", task=task, source="dasd")
    app.background()
    bg.trigger(task)
    began = bg.expect("bgtime.began", task=task, name="push-work", within=10)
    end = bg.first_of(["bgtime.ended", "bgtime.expired"], task, within=work_s + 660)
    assert end is not None, "the background task neither ended nor expired: see the log"
    bg.expect("bgtime.ended", task=task, name="push-work", within=5)
    bg.expect_none("app.terminated", during=30)
    outcome = "finished" if end.kind == "bgtime.ended" else "expired"
    bg.observe("work_s", work_s, outcome=outcome, after_s=end.time - began.time)
