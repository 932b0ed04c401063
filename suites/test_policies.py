"""Scheduling policies every iPhone applies (facts B1, B2, B6, B7, B8), on any phone.

These ran only against the virtual iPhone (tests/test_virtual_iphone.py) until they moved here:
each asserts only what an [H] fact decides, so a phone that disagrees is a finding. Two need a
variant of the probe's Info.plist (suites/apps/BGProbeVariants): on a phone, build it first.
"""

import pytest

pytestmark = pytest.mark.device

REFRESH = {"type": "refresh", "id": "refresh"}


@pytest.mark.app("BGProbeNoFetch")
def test_refresh_without_the_fetch_mode_is_refused_with_code_3(app, bg):
    """facts B1 [H]: refresh needs UIBackgroundModes `fetch`; B6: else code 3 (notPermitted)."""
    app.launch(plan={"register": ["refresh"], "submit": [REFRESH]})
    bg.expect("task.submit_failed", task=app.task("refresh"), code=3, source="probe")
    bg.expect_none("task.submitted", task=app.task("refresh"), source="dasd", during=5)


def test_a_second_refresh_identifier_is_refused_with_code_2(app, bg):
    """facts B1 [H]: "a total of 1 refresh task ... scheduled at any time"; B6: code 2."""
    other = app.task("refresh", "alt")
    app.launch(plan={"register": ["refresh", other], "submit": [REFRESH, {**REFRESH, "id": other}]})
    bg.expect("task.submitted", task=app.task("refresh"), source="dasd")
    bg.expect("task.submit_failed", task=other, code=2, source="probe")


def test_resubmitting_replaces_the_pending_request(app, bg):
    """facts B1 [H]: "Submitting a task request for an unexecuted task that's already in the
    queue replaces the previous task request": dasd cancels the old activity; one remains."""
    app.launch(plan={"register": ["refresh"], "submit": [REFRESH, REFRESH]})
    dasd = {"source": "dasd"}
    first, canceled, second = bg.expect_sequence(
        [("task.submitted", dasd), ("task.canceled", dasd), ("task.submitted", dasd)],
        task=app.task("refresh"),
    )
    assert canceled.attrs.get("activity") == first.attrs.get("activity")
    assert first.attrs.get("activity") != second.attrs.get("activity")
    # Exactly one pending request: one trigger runs it, the next finds nothing (facts A2).
    bg.trigger(app.task("refresh"))
    bg.expect("task.completed", task=app.task("refresh"), success=True)
    bg.mark()
    bg.trigger(app.task("refresh"))
    bg.expect("task.simulate_rejected", task=app.task("refresh"), reason="no_pending_request")


@pytest.mark.app("BGProbeManyProcessing")
def test_an_eleventh_processing_request_is_refused_with_code_2(app, bg):
    """facts B1 [H]: at most 10 processing requests pending; B6: the 11th gets code 2."""
    names = [f"p{i}" for i in range(11)]
    app.launch(plan={"register": names, "submit": [{"type": "processing", "id": n} for n in names]})
    bg.expect("task.submit_failed", task=app.task("p10"), code=2, source="probe")
    accepted = [
        e for e in bg.timeline.events(bg.started) if e.matches("task.submitted", source="dasd")
    ]
    assert len(accepted) == 10, f"dasd accepted {len(accepted)} processing requests, not 10"


def test_submitting_a_permitted_identifier_without_a_handler_crashes_the_app(app, bg):
    """facts B7 [H]: submitting a permitted id with no launch handler raises
    NSInternalInconsistencyException `No launch handler registered ...`."""
    app.launch(plan={"submit": [REFRESH]})
    bg.expect("app.terminated", within=10)
    assert app.pid is None, "the app crashed"


@pytest.mark.soak
def test_unlocking_expires_a_running_processing_task(app, bg):
    """facts B2 [H], G6 [H]: "The system terminates any background processing tasks running
    when the user starts using the device": the expiration handler runs, then it completes."""
    task = app.task("processing")
    app.launch(
        plan={
            "register": ["processing"],
            "submit": [{"type": "processing", "id": "processing"}],
            "handler": {"work_s": 3600},
        }
    )
    bg.expect("task.submitted", task=task, source="dasd")
    app.background()
    with bg.locked():  # processing runs only when the device is idle
        bg.expect("task.launched", task=task, simulated=False, within=48 * 3600)
    bg.expect("task.expired", task=task, source="probe", within=60)
    bg.expect("task.completed", task=task, success=False, within=10)


def test_a_when_unlocked_keychain_item_is_unreadable_while_locked(app, bg):
    """facts B8 [H], G3 [H]: a kSecAttrAccessibleWhenUnlocked read while locked fails with
    errSecInteractionNotAllowed (-25308); the probe logs the status of every read."""
    task = app.task("refresh")
    app.launch(
        plan={
            "register": ["refresh"],
            "submit": [REFRESH],
            "handler": {"do": [{"keychain": "when_unlocked"}]},
        }
    )
    bg.expect("task.submitted", task=task, source="dasd")
    with bg.locked():
        bg.trigger(task)
        read = bg.expect("keychain.read", task=task, accessibility="when_unlocked", within=10)
        bg.expect("keychain.locked", task=task, source="probe", within=1)
    assert read.attrs["status"] == -25308
