"""The simulate semantics of Apple's lldb recipe (bg-facts A2, A3; scenarios 2-5)."""

import pytest

pytestmark = pytest.mark.device

REFRESH = {"register": ["refresh"], "submit": [{"type": "refresh", "id": "refresh"}]}


def test_trigger_without_submit_is_rejected(app, bg):
    app.launch(plan={"register": ["refresh"]})
    bg.trigger(app.task("refresh"))
    bg.expect("task.simulate_rejected", task=app.task("refresh"), reason="no_pending_request")
    bg.expect_none("task.launched", task=app.task("refresh"), during=10)
    assert app.pid is not None, "the app is still alive"


def test_second_trigger_needs_a_resubmit(app, bg):
    """A successful simulate consumes the pending request (A2)."""
    app.launch(plan={**REFRESH, "handler": {"work_s": 1}})
    bg.trigger(app.task("refresh"))
    bg.expect("task.completed", task=app.task("refresh"), success=True)
    bg.mark()
    bg.trigger(app.task("refresh"))
    bg.expect("task.simulate_rejected", task=app.task("refresh"), reason="no_pending_request")
    bg.expect_none("task.launched", task=app.task("refresh"), during=5)


def test_second_trigger_after_resubmit_runs(app, bg):
    app.launch(plan={**REFRESH, "handler": {"work_s": 1, "resubmit": "on_start"}})
    bg.trigger(app.task("refresh"))
    bg.expect_sequence(
        ["task.launched", "task.submitted", ("task.completed", {"success": True})],
        task=app.task("refresh"),
    )
    bg.mark()
    bg.trigger(app.task("refresh"))
    bg.expect("task.launched", task=app.task("refresh"), simulated=True)
    bg.expect_none("task.simulate_rejected", task=app.task("refresh"), during=5)


def test_trigger_while_running_is_rejected(app, bg):
    app.launch(plan={**REFRESH, "handler": {"work_s": 60, "resubmit": "on_start"}})
    bg.trigger(app.task("refresh"))
    bg.expect("task.launched", task=app.task("refresh"), source="probe")
    bg.trigger(app.task("refresh"))
    bg.expect("task.simulate_rejected", task=app.task("refresh"), reason="already_running")
    launches = [
        e
        for e in bg.timeline.events()
        if e.matches("task.launched", app.task("refresh"), source="probe")
    ]
    assert len(launches) == 1, "no second handler call"


def test_simulated_expiration_calls_the_expiration_handler(app, bg):
    app.launch(plan={**REFRESH, "handler": {"work_s": 300}})
    bg.trigger(app.task("refresh"))
    bg.expect("task.launched", task=app.task("refresh"), source="probe")
    bg.expire(app.task("refresh"))
    bg.expect_sequence(
        [
            ("task.expired", {"source": "framework", "simulated": True}),
            ("task.completed", {"success": False}),
        ],
        task=app.task("refresh"),
        within=10,
    )


def test_expiring_a_task_that_is_not_running_is_rejected(app, bg):
    app.launch(plan=REFRESH)
    bg.expire(app.task("refresh"))
    bg.expect("task.simulate_rejected", task=app.task("refresh"), reason="not_simulated")
    bg.expect_none("task.expired", task=app.task("refresh"), during=5)


def test_expiring_without_an_expiration_handler_keeps_the_task_running(app, bg):
    app.launch(plan={**REFRESH, "handler": {"work_s": 20, "expiration_handler": False}})
    bg.trigger(app.task("refresh"))
    bg.expect("task.launched", task=app.task("refresh"), source="probe")
    bg.expire(app.task("refresh"))
    bg.expect("task.simulate_rejected", task=app.task("refresh"), reason="no_expiration_handler")
    bg.expect_none("task.expired", task=app.task("refresh"), during=10)
    bg.expect("task.completed", task=app.task("refresh"), success=True, within=15)
