"""A user's force quit ends background refresh; a system kill does not (facts A10, B1; S12-S14)."""

import pytest

pytestmark = [pytest.mark.device, pytest.mark.soak]

REFRESH = {"register": ["refresh"], "submit": [{"type": "refresh", "id": "refresh"}]}


def test_no_refresh_launch_after_force_quit(app, bg):
    app.launch(plan=REFRESH)
    bg.expect("task.submitted", task=app.task("refresh"), source="dasd")
    app.background()
    app.force_quit()
    bg.expect("app.terminated", reason="user_force_quit")
    bg.expect_none("task.launched", task=app.task("refresh"), during=12 * 3600)


def test_refresh_launches_after_kill(app, bg):
    app.launch(plan=REFRESH)
    bg.expect("task.submitted", task=app.task("refresh"), source="dasd")
    app.background()
    app.kill()
    bg.expect("app.terminated")
    bg.expect("app.launched", reason="background", within=12 * 3600)
    bg.expect("task.launched", task=app.task("refresh"), simulated=False, within=60)
    bg.expect("task.completed", task=app.task("refresh"), success=True, within=35)
