"""BGProcessingTask waits for the network it asked for (facts B2; S15)."""

import pytest

pytestmark = [pytest.mark.device, pytest.mark.soak]


def test_processing_needing_network_waits_for_it(app, bg):
    task = app.task("processing")
    app.launch(
        plan={
            "register": ["processing"],
            "submit": [{"type": "processing", "id": "processing", "requires_network": True}],
            "handler": {"work_s": 10},
        }
    )
    bg.expect("task.submitted", task=task, source="dasd")
    app.background()
    with bg.locked():  # processing runs only when the device is idle
        with bg.offline():
            bg.expect_none("task.launched", task=task, during=6 * 3600)
        bg.expect("task.launched", task=task, simulated=False, within=48 * 3600)
        bg.expect("task.completed", task=task, success=True, within=60)
