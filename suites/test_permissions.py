"""Info.plist gates: identifiers missing from BGTaskSchedulerPermittedIdentifiers (facts B6, B7)."""

import pytest

pytestmark = pytest.mark.device


def test_identifier_not_permitted_is_refused_with_code_3(app, bg):
    unlisted = app.task("unlisted")
    app.launch(plan={"register": ["unlisted"], "submit": [{"type": "refresh", "id": "unlisted"}]})
    bg.expect("task.registration_error", task=unlisted, reason="not_permitted")
    bg.expect("task.submit_failed", task=unlisted, code=3)
    # The framework logs every submitTaskRequest: call; dasd only ever sees accepted requests.
    bg.expect_none("task.submitted", task=unlisted, source="dasd", during=10)
