"""Memory in the background: the per-process limit and jetsam under memory pressure, and what
a memory termination does to later launches (facts G1, G9; seed question 5)."""

import pytest

pytestmark = pytest.mark.device

REFRESH = {"register": ["refresh"], "submit": [{"type": "refresh", "id": "refresh"}]}


def test_allocating_past_the_limit_in_a_background_task_terminates_the_app(app, bg):
    """facts G1 [H]: "Memory limit exceeded" is a termination cause, "same on background and
    foreground"; 16 GB is past any iPhone app's limit. The kernel names it a jetsam kill."""
    task = app.task("refresh")
    app.launch(plan={**REFRESH, "handler": {"work_s": 30, "do": [{"allocate_mb": 16384}]}})
    bg.expect("task.submitted", task=task, source="dasd")
    app.background()
    bg.trigger(task)
    bg.expect("task.launched", task=task, source="probe", within=10)
    bg.expect("app.terminated", reason="memory", within=60)
    bg.expect_none("task.completed", task=task, during=30)
    assert app.pid is None


FOOTPRINTS_MB = (37, 200)


@pytest.mark.experiment(fact="G1")
@pytest.mark.parametrize("mb", FOOTPRINTS_MB, ids=[f"{m}MB" for m in FOOTPRINTS_MB])
def test_memory_pressure_during_a_refresh_task(app, bg, mb):
    """Seed question 5: ""Terminated due to memory issue" for an app syncing with a BLE device
    from a refresh task in the background (about 37 MB, other apps in use)".

    facts G1 [H]: jetsam selection is undocumented and not largest-first; [M] a 37 MB app was
    still jettisoned. So whether a task of this footprint survives other apps' memory pressure
    is recorded. Needs a device that can apply memory pressure (the virtual iPhone; a phone
    needs a companion app, so it skips with the reason).
    """
    task = app.task("refresh")
    app.launch(plan={**REFRESH, "handler": {"work_s": 20, "do": [{"allocate_mb": mb}]}})
    bg.expect("task.submitted", task=task, source="dasd")
    app.background()
    with bg.memory_pressure():
        bg.trigger(task)
        bg.expect("memory.allocated", task=task, within=10)
        end = bg.first_of(["app.terminated", "task.completed"], within=120)
    outcome = (
        "none" if end is None else "jetsammed" if end.kind == "app.terminated" else "completed"
    )
    bg.observe("footprint_mb", mb, outcome=outcome)


@pytest.mark.soak
@pytest.mark.experiment(fact="G9")
def test_refresh_after_a_jetsam_in_the_background(app, bg):
    """facts G9 [H]: a system termination leaves the app "eligible for relaunch" (Quinn's state
    4), and G1 [H/M]: suspended apps are jetsam's first targets. Whether a memory kill in
    particular changes later refresh launches is not documented (G1 [L]), so the launch and its
    delay are recorded."""
    task = app.task("refresh")
    app.launch(plan={**REFRESH, "handler": {"work_s": 5}})
    bg.expect("task.submitted", task=task, source="dasd")
    app.background()
    suspended = bg.first_of(["app.suspended"], within=600)
    with bg.memory_pressure():
        gone = bg.first_of(["app.terminated"], within=600)
    if gone is None:
        bg.observe("suspended", suspended is not None, outcome="not_jetsammed")
        return
    launched = bg.first_of(["task.launched"], task, within=24 * 3600)
    outcome = "not_launched" if launched is None else "launched"
    delay = {} if launched is None else {"delay_s": launched.time - gone.time}
    bg.observe("after", "jetsam", outcome=outcome, **delay)
