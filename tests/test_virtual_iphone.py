"""The virtual iPhone's policies that the suites do not reach, through the library's Session.

The scheduling policies a phone must show too (pending limits, replacement, background modes,
submit without a handler, unlock, keychain) are in suites/test_policies.py.
"""

import plistlib
from pathlib import Path

import pytest

from harness.core.errors import DebuggerError, UsageError
from harness.core.timeline import ExpectationFailed
from harness.data.appbundle import read_app
from harness.data.inventory import DeviceRecord
from harness.data.journal import Journal
from harness.device.backends.virtual import VirtualIPhone
from harness.session.session import App, Session
from tests.paths import PROBE_PLIST

B = "dev.bgharness.probe"


def make_phone(tmp_path: Path) -> VirtualIPhone:
    return VirtualIPhone.open(DeviceRecord(name="v", backend="virtual"), tmp_path / "state")


def plist_without(tmp_path: Path, mode: str) -> Path:
    plist = plistlib.loads(PROBE_PLIST.read_bytes())
    plist["UIBackgroundModes"] = [m for m in plist["UIBackgroundModes"] if m != mode]
    path = tmp_path / f"no-{mode}" / "Info.plist"
    path.parent.mkdir()
    path.write_bytes(plistlib.dumps(plist))
    return path


@pytest.fixture
def phone(tmp_path):
    phone = make_phone(tmp_path)
    yield phone
    phone.close()


def start(phone: VirtualIPhone, tmp_path: Path, plist: Path = PROBE_PLIST) -> tuple[Session, App]:
    phone.install(plist)
    session = Session(phone, Journal(tmp_path / "state"))
    return session, App(session, read_app(plist))


@pytest.fixture
def bg_app(phone, tmp_path):
    session, app = start(phone, tmp_path)
    yield session, app
    session.close()


def test_keychain_reads_report_their_status_on_success_too(bg_app):
    bg, app = bg_app
    reads = [{"keychain": c} for c in ("when_unlocked", "after_first_unlock_this_device_only")]
    app.launch(
        {
            "register": ["refresh"],
            "submit": [{"type": "refresh", "id": "refresh"}],
            "handler": {"do": reads},
        }
    )
    with bg.locked():
        bg.trigger(app.task("refresh"))
        locked = bg.expect("keychain.locked", app.task("refresh"), source="probe")
        ok = bg.expect(
            "keychain.read",
            app.task("refresh"),
            accessibility="after_first_unlock_this_device_only",
        )
    assert locked.attrs == {"accessibility": "when_unlocked", "status": -25308}
    assert ok.attrs["status"] == 0


def test_a_continued_task_from_a_tap_runs_and_one_without_is_cancelled_with_a_note(
    bg_app, phone, monkeypatch
):
    bg, app = bg_app
    log, write = [], phone._log
    monkeypatch.setattr(phone, "_log", lambda *a, **k: (log.append(a), write(*a, **k))[1])
    tapped, auto = app.task("continued", "tap-1"), app.task("continued", "auto-1")
    app.launch(
        {
            "register": [tapped, auto],
            "submit": [{"type": "continued", "id": auto}],
            "taps": {"start": [{"submit": {"type": "continued", "id": tapped}}]},
            "handler": {"work_s": 10, "progress": {"every_s": 2}},
        }
    )
    bg.expect("task.expired", auto, source="probe", within=5)  # virtual_continued: after 1 s
    app.tap("start")
    bg.expect("app.tapped", source="probe", name="start")
    bg.expect("task.completed", tapped, source="probe", success=True, within=20)
    bg.expect_none("task.expired", tapped, during=1)
    notes = [a[3] for a in log if a[2][0] == "dev.bgharness.virtual" and "uncertain" in a[3]]
    assert len(notes) == 1 and auto in notes[0] and "uncertain (facts B3)" in notes[0]


def test_tapping_a_button_the_plan_does_not_have_names_the_ones_it_has(bg_app, phone):
    _, app = bg_app
    app.launch({"taps": {"start": []}})
    with pytest.raises(UsageError, match=r"bgprobe\.tap\.start"):
        app.tap("stop")


def test_registering_an_identifier_twice_kills_the_app(bg_app):
    bg, app = bg_app
    app.launch(
        {"register": ["refresh", "refresh"], "submit": [{"type": "refresh", "id": "refresh"}]}
    )
    bg.expect("task.registered", app.task("refresh"), source="probe")
    bg.expect_none("task.submitted", app.task("refresh"), during=5)
    assert app.pid is None


def test_a_rejected_plan_is_reported_by_the_probe(phone, tmp_path):
    bg, app = start(phone, tmp_path)
    phone.launch(app.bundle_id, {"BGPROBE_PLAN": '{"version": 3}'}, [])
    event = bg.expect("plan.rejected", source="probe", within=1)
    assert event.attrs == {"reason": "version", "path": "plan.version"}
    bg.close()


def test_install_is_skipped_when_the_content_is_the_same(tmp_path):
    phone = make_phone(tmp_path)
    assert phone.install(PROBE_PLIST) is True
    assert phone.install(PROBE_PLIST) is False
    assert phone.install(plist_without(tmp_path, "fetch")) is True


def test_the_debugger_accepts_only_the_two_commands_and_live_pids(bg_app, phone):
    _, app = bg_app
    pid = app.launch({})
    session = phone.debugger(pid)
    with pytest.raises(DebuggerError, match="only the two simulate commands"):
        session.evaluate("p (int)getpid()")
    session.detach()
    phone.kill(pid)
    with pytest.raises(DebuggerError, match="no such process"):
        phone.debugger(pid)


def test_an_expectation_that_fails_on_the_virtual_clock_fails_fast(bg_app):
    bg, app = bg_app
    app.launch({})
    start_time = bg.clock.now()
    with pytest.raises(ExpectationFailed):
        bg.expect("task.launched", within=3600)
    assert bg.clock.now() - start_time == pytest.approx(3600)


def test_network_and_lock_outlive_the_connection(tmp_path):
    phone = make_phone(tmp_path)
    phone.set_network("offline")
    phone.lock()
    phone.close()
    again = make_phone(tmp_path)
    assert again.locked() and again._network == "offline"


def test_a_fast_progress_plan_keeps_one_timer_at_a_time(bg_app, phone):
    """Issue 14: timers are created as the previous one fires, never all up front."""
    bg, app = bg_app
    task = app.task("continued", "fast-1")
    app.launch(
        {
            "register": [task],
            "taps": {"start": [{"submit": {"type": "continued", "id": task}}]},
            "handler": {"work_s": 1e6, "progress": {"every_s": 0.01}},
        }
    )
    app.tap("start")
    bg.expect("task.progress", task, source="probe", completed=50, within=5)
    assert len(phone._clock._clock._timers) < 50


def test_a_late_registration_kills_the_app_but_a_continued_one_is_exempt(bg_app):
    """B7: handlers register before launch finishes; B3: continued identifiers are exempt."""
    bg, app = bg_app
    continued = app.task("continued", "late-1")
    app.launch({"taps": {"late": [{"register": continued}, {"register": "refresh"}]}})
    app.tap("late")
    bg.expect("task.registered", continued, source="probe")
    bg.expect_none("task.registered", app.task("refresh"), source="probe", during=1)
    bg.expect("task.registration_error", reason="too_late")
    assert app.pid is None


def test_the_probes_events_carry_only_the_documented_attrs(bg_app):
    """The Swift probe cannot know whether a launch was simulated: no `simulated=` from it."""
    bg, app = bg_app
    app.launch({"register": ["refresh"], "submit": [{"type": "refresh", "id": "refresh"}]})
    bg.trigger(app.task("refresh"))
    launched = bg.expect("task.launched", app.task("refresh"), source="probe")
    bg.expire(app.task("refresh"))
    expired = bg.expect("task.expired", app.task("refresh"), source="probe")
    assert launched.attrs == {"type": "refresh"} and expired.attrs == {}
    with pytest.raises(ExpectationFailed):
        bg.expect("task.launched", app.task("refresh"), source="probe", simulated=True, within=1)
