"""BGContinuedProcessingTask (iOS 26) starts at once, lives on progress (facts A6, B3; S18-S23)."""

import pytest

pytestmark = [pytest.mark.device, pytest.mark.requires(ios=">=26")]


def continued_plan(task: str, **handler) -> dict:
    return {
        "register": [task],
        "submit": [{"type": "continued", "id": task, "title": "Export"}],
        "handler": handler,
    }


def test_continued_task_runs_on_while_backgrounded_and_locked(app, bg):
    task = app.task("continued", "export-1")
    app.launch(plan=continued_plan(task, work_s=120, progress_every_s=5))
    bg.expect("task.submitted", task=task, source="dasd", within=1)
    bg.expect("task.launched", task=task, simulated=False, within=1)
    app.background()
    with bg.locked():
        bg.expect("task.progress", task=task, within=10)
        bg.expect("task.completed", task=task, success=True, within=150)
    bg.expect_none("task.expired", task=task, during=1)


def test_continued_task_without_progress_is_expired(app, bg):
    task = app.task("continued", "stalled-1")
    app.launch(plan=continued_plan(task, work_s=600))
    launched = bg.expect("task.launched", task=task, source="probe", within=1)
    expired = bg.expect("task.expired", task=task, source="probe", within=120)
    bg.expect("task.completed", task=task, success=False, within=5)
    assert expired.time - launched.time < 120, "stalled tasks expire within tens of seconds"


def test_force_quit_cancels_a_running_continued_task_without_its_expiration_handler(app, bg):
    task = app.task("continued", "quit-1")
    app.launch(plan=continued_plan(task, work_s=300, progress_every_s=5))
    bg.expect("task.launched", task=task, source="probe", within=1)
    app.force_quit()
    bg.expect("task.canceled", task=task, source="dasd")
    bg.expect_none("task.expired", task=task, during=60)
    bg.expect_none("task.completed", task=task, during=1)


def test_gpu_without_the_entitlement_is_refused(app, bg):
    task = app.task("continued", "gpu-1")
    plan = continued_plan(task)
    plan["submit"][0]["gpu"] = True
    app.launch(plan=plan)
    failed = bg.expect("task.submit_failed", task=task, source="probe")
    assert failed.attrs["code"] in (1, 3), "26.1 code says 1, the header says 3 (facts B3)"
    bg.expect_none("task.launched", task=task, during=5)
