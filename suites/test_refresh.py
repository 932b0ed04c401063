"""BGAppRefreshTask: the bridge's happy path, and the ~30 s budget (facts B1, S1)."""

import pytest

pytestmark = pytest.mark.device

REFRESH = {"register": ["refresh"], "submit": [{"type": "refresh", "id": "refresh"}]}


def test_refresh_runs_when_triggered(app, bg):
    app.launch(plan={**REFRESH, "handler": {"work_s": 5, "complete": "success"}})
    bg.expect("task.submitted", task=app.task("refresh"))
    app.background()
    bg.trigger(app.task("refresh"))
    bg.expect("task.launched", task=app.task("refresh"), within=10)
    bg.expect("task.completed", task=app.task("refresh"), success=True, within=35)


def test_dasd_accepts_the_request(app, bg):
    """The request reaches dasd as a bgRefresh activity, not only the app's own framework."""
    app.launch(plan=REFRESH)
    event = bg.expect("task.submitted", task=app.task("refresh"), source="dasd")
    assert event.attrs["type"] == "refresh"


@pytest.mark.soak
def test_refresh_overrunning_its_budget_is_expired(app, bg):
    """A handler that works longer than ~30 s is expired, and completes unsuccessfully."""
    app.launch(plan={**REFRESH, "handler": {"work_s": 120}})
    app.background()
    launched = bg.expect(
        "task.launched", task=app.task("refresh"), simulated=False, within=4 * 3600
    )
    expired = bg.expect("task.expired", task=app.task("refresh"), source="probe", within=60)
    bg.expect("task.completed", task=app.task("refresh"), success=False, within=5)
    assert 5 <= expired.time - launched.time <= 60, "the budget is about 30 s (facts B1)"
