"""The virtual iPhone's continued tasks (harness/device/backends/virtual_continued.py), through
Session.

Each defect the issue listed has a test here that failed on the old model: resubmitting a
running id recursed without end, a second submit silently replaced the run, the wildcard
permitted refresh and processing ids, `strategy: fail` was ignored, GPU was refused on every
model, the stall timer ran in the foreground, and the tolerance was one number (30 s).
"""

import plistlib
from pathlib import Path

import pytest

from harness.core.errors import UsageError
from harness.data.appbundle import read_app
from harness.data.inventory import DeviceRecord
from harness.data.journal import Journal
from harness.device.backends.virtual import VirtualIPhone
from harness.device.backends.virtual_continued import (
    GPU_ENTITLEMENT,
    STOP_REASONS,
    ContinuedProfile,
    profile_for,
    tolerance_for,
)
from harness.session.session import App, Session
from tests.paths import PROBE_PLIST


def open_phone(tmp_path: Path, **record) -> VirtualIPhone:
    record = {"name": "v", "backend": "virtual", "model": "iPhone17,3", "ios": "26.1", **record}
    return VirtualIPhone.open(DeviceRecord(**record), tmp_path / "state")


def session_on(phone: VirtualIPhone, tmp_path: Path, plist: Path = PROBE_PLIST):
    phone.install(plist)
    session = Session(phone, Journal(tmp_path / "state"))
    return session, App(session, read_app(plist))


@pytest.fixture
def bg_app(tmp_path):
    phone = open_phone(tmp_path)
    session, app = session_on(phone, tmp_path)
    yield session, app
    session.close()
    phone.close()


def submit(task: str, **request) -> dict:
    return {"submit": {"type": "continued", "id": task, "title": "Export", **request}}


def launch_tapped(app: App, task: str, taps: dict | None = None, **handler) -> None:
    app.launch({"register": [task], "taps": taps or {"start": [submit(task)]}, "handler": handler})
    app.tap("start")


def found(bg: Session, kind: str, task: str | None = None, **attrs) -> list:
    return [e for e in bg.timeline.events(bg.started) if e.matches(kind, task, **attrs)]


def test_resubmitting_a_running_id_from_its_handler_queues_instead_of_recursing(
    bg_app, monkeypatch
):
    bg, app = bg_app
    phone = bg.device
    runs, start = [], phone._run_task

    def counted(*args, **kwargs):
        runs.append(phone.clock.now())
        if len(runs) > 50:  # the old model started runs without end at one instant
            raise RuntimeError("continued runs without end: resubmission recursed")
        return start(*args, **kwargs)

    monkeypatch.setattr(phone, "_run_task", counted)
    task = app.task("continued", "again")
    launch_tapped(app, task, work_s=20, progress={"every_s": 5}, resubmit="on_start")
    began = bg.expect("task.launched", task, source="probe", within=1)
    first = bg.expect("task.completed", task, source="probe", within=30)
    assert first.attrs["success"] and first.time == began.time + 20, "the first run was cut"
    second = bg.expect("task.launched", task, source="probe", within=5, since=bg.mark())
    assert second.time >= first.time, "the resubmission ran while its own id was running"
    assert 2 <= len(runs) <= 3


def test_a_second_tap_on_a_running_id_waits_for_it_instead_of_replacing_it(bg_app):
    bg, app = bg_app
    task = app.task("continued", "twice")
    launch_tapped(app, task, work_s=20, progress={"every_s": 5})
    bg.wait(5)
    app.tap("start")
    bg.wait(60)
    completed = found(bg, "task.completed", task, source="probe", success=True)
    launched = found(bg, "task.launched", task, source="probe")
    assert len(completed) == 2, "the first run was replaced silently and never completed"
    assert launched[1].time >= completed[0].time


@pytest.mark.parametrize("type_", ["refresh", "processing"])
def test_the_continued_wildcard_does_not_permit_other_types(bg_app, type_):
    bg, app = bg_app
    task = app.task("continued", f"as-{type_}")
    app.launch({"register": [task], "submit": [{"type": type_, "id": task}]})
    failed = bg.expect("task.submit_failed", task, source="probe", within=5)
    assert failed.attrs["code"] == 3
    assert not found(bg, "task.submitted", task, source="dasd")


def test_fail_strategy_at_the_concurrency_limit_is_code_4_and_queue_waits(bg_app):
    bg, app = bg_app
    limit = ContinuedProfile().max_concurrent
    tasks = [app.task("continued", f"slot-{i}") for i in range(limit + 2)]
    app.launch(
        {
            "register": tasks,
            "taps": {
                "start": [submit(t, strategy="fail") for t in tasks[: limit + 1]]
                + [submit(tasks[-1])]
            },
            "handler": {"work_s": 30, "progress": {"every_s": 5}},
        }
    )
    app.tap("start")
    bg.wait(1)
    failed = found(bg, "task.submit_failed", source="probe")
    assert [(e.task, e.attrs["code"]) for e in failed] == [(tasks[limit], 4)]
    assert not found(bg, "task.launched", tasks[-1], source="probe"), "over the limit"
    bg.expect("task.launched", tasks[-1], source="probe", within=60)  # once a slot frees


def gpu_plist(tmp_path: Path, entitled: bool) -> Path:
    plist = plistlib.loads(PROBE_PLIST.read_bytes())
    if entitled:
        plist[GPU_ENTITLEMENT] = True
    path = tmp_path / ("gpu" if entitled else "plain") / "Info.plist"
    path.parent.mkdir()
    path.write_bytes(plistlib.dumps(plist))
    return path


@pytest.mark.parametrize(
    ("model", "entitled", "supported"),
    [("iPad16,3", True, ["gpu"]), ("iPad16,3", False, []), ("iPhone17,3", True, [])],
)
def test_gpu_follows_the_model_and_the_entitlement(tmp_path, model, entitled, supported):
    phone = open_phone(tmp_path, model=model)
    bg, app = session_on(phone, tmp_path, gpu_plist(tmp_path, entitled))
    task = app.task("continued", "gpu")
    launch_tapped(
        app, task, {"start": [submit(task, gpu=True)]}, work_s=60, progress={"every_s": 5}
    )
    launched = bg.expect("app.launched", source="probe")
    assert launched.attrs["supported_resources"] == supported
    if supported:
        bg.expect("task.launched", task, source="probe", within=5)
    else:
        assert bg.expect("task.submit_failed", task, source="probe").attrs["code"] == 1
    bg.close()
    phone.close()


def test_no_stall_expiry_in_the_foreground_and_silence_counts_from_leaving_it(bg_app):
    bg, app = bg_app
    task = app.task("continued", "silent")
    launch_tapped(app, task, work_s=600)
    bg.expect_none("task.expired", task, during=120)
    app.background()
    left = bg.clock.now()
    expired = bg.expect("task.expired", task, source="probe", within=60)
    low, high = ContinuedProfile().stall_tolerance_s
    assert low <= expired.time - left <= high + 0.01


@pytest.mark.parametrize(
    ("tolerance", "gap", "outcome"),
    [
        ((30.0, 30.0), 30.0, "task.completed"),
        ((20.0, 20.0), 25.0, "task.expired"),
        ((20.0, 25.0), 19.5, "task.completed"),
        ((20.0, 25.0), 25.5, "task.expired"),
    ],
)
def test_the_stall_tolerance_is_the_profile_range(tmp_path, tolerance, gap, outcome):
    phone = open_phone(tmp_path, stall_tolerance_s=tolerance)
    bg, app = session_on(phone, tmp_path)
    task = app.task("continued", f"gap-{gap:g}")
    launch_tapped(app, task, work_s=4 * gap, progress={"every_s": gap})
    app.background()
    end = bg.first_of(["task.expired", "task.completed"], task, within=5 * gap)
    assert end is not None and end.kind == outcome
    bg.close()
    phone.close()


def test_each_task_gets_a_stable_tolerance_inside_the_range():
    profile = profile_for("iPhone17,3", (20.0, 30.0))
    tolerances = [tolerance_for(profile, f"dev.x.continued.t{i}") for i in range(50)]
    assert all(20.0 <= t <= 30.0 for t in tolerances)
    assert len({round(t, 3) for t in tolerances}) > 10
    assert tolerance_for(profile, "dev.x.continued.t1") == tolerances[1]


def test_a_child_progress_counts_only_as_the_profile_says(bg_app):
    bg, app = bg_app
    phone = bg.device
    phone._continued.profile = ContinuedProfile(child_progress_counts=False)
    task = app.task("continued", "child")
    launch_tapped(app, task, work_s=60, progress={"every_s": 5, "as": "child"})
    app.background()
    bg.expect("task.expired", task, source="probe", within=40)


def test_the_prompt_stop_expires_with_dasds_reason_and_continue_lets_it_run(bg_app):
    bg, app = bg_app
    with pytest.raises(UsageError, match="no continue-or-stop prompt"):
        app.answer_prompt("stop")
    stopped, kept = app.task("continued", "stop"), app.task("continued", "keep")
    app.launch(
        {
            "register": [stopped, kept],
            "taps": {"start": [submit(stopped), submit(kept)]},
            "handler": {"work_s": 600, "progress": {"every_s": 10}},
        }
    )
    app.tap("start")
    app.background()
    bg.wait(ContinuedProfile().prompt_after_s + 1)
    prompts = found(bg, "task.card", state="prompt")
    assert {e.task for e in prompts} == {stopped, kept}
    app.answer_prompt("stop")  # the first prompt is the first task's
    bg.expect("task.expired", stopped, source="dasd", reason_code=STOP_REASONS, reason="user_stop")
    bg.expect("task.expired", stopped, source="probe", within=1)
    app.answer_prompt("continue")
    bg.expect("task.completed", kept, source="probe", success=True, within=600)
    with pytest.raises(UsageError, match="one of continue, stop"):
        app.answer_prompt("maybe")


def test_cards_a_failed_card_stays_and_a_resubmission_adds_a_second(bg_app):
    bg, app = bg_app
    task = app.task("continued", "cards")
    launch_tapped(
        app,
        task,
        {"start": [submit(task)], "retry": [submit(task)]},
        work_s=10,
        progress={"every_s": 2},
        complete="failure",
    )
    bg.expect("task.completed", task, source="probe", success=False, within=20)
    app.tap("retry")
    bg.wait(20)
    states = [(e.attrs["state"], e.attrs["cards"]) for e in found(bg, "task.card", task)]
    assert states == [("running", 1), ("failed", 1), ("running", 2), ("failed", 2)]


def test_force_quit_cancels_queued_requests_and_running_ones_without_a_handler(bg_app):
    bg, app = bg_app
    tasks = [app.task("continued", f"fq-{i}") for i in range(3)]
    app.launch(
        {
            "register": tasks,
            "taps": {"start": [submit(t) for t in tasks]},
            "handler": {"work_s": 300, "progress": {"every_s": 5}},
        }
    )
    app.tap("start")
    bg.wait(1)
    app.force_quit()
    bg.wait(1)  # the log pump reads what the phone wrote
    canceled = {e.task for e in found(bg, "task.canceled", source="dasd")}
    assert canceled == set(tasks)
    bg.wait(120)
    assert not found(bg, "task.expired")
    assert len(found(bg, "task.launched", source="probe")) == ContinuedProfile().max_concurrent
