"""The new device states and the virtual iPhone's system rules, through the library's Session:
what the suites cannot check because it is the harness's own (journal, undo, recovery, state that
outlives a connection, timers of a suspended app) or a model choice marked uncertain."""

import pytest

from harness.core.errors import AppError, UsageError
from harness.data.appbundle import read_app
from harness.data.inventory import DeviceRecord
from harness.data.journal import KINDS, Journal
from harness.device.backends import virtual_system
from harness.device.backends.virtual import VirtualIPhone
from harness.device.contract import Device
from harness.session.session import App, Session, recover
from tests.paths import PROBE_PLIST

REFRESH = {"register": ["refresh"], "submit": [{"type": "refresh", "id": "refresh"}]}


def open_phone(tmp_path) -> VirtualIPhone:
    return VirtualIPhone.open(DeviceRecord(name="v", backend="virtual"), tmp_path / "state")


@pytest.fixture
def phone(tmp_path):
    phone = open_phone(tmp_path)
    phone.install(PROBE_PLIST)
    yield phone
    phone.close()


@pytest.fixture
def bg(phone, tmp_path):
    session = Session(phone, Journal(tmp_path / "state"))
    App(session, read_app(PROBE_PLIST))
    yield session
    session.close()


def test_every_perturbation_kind_is_undone_by_a_device_verb_and_says_so():
    for kind, info in KINDS.items():
        assert callable(getattr(Device, info.undo, None)), f"{kind}: no Device.{info.undo}"
        assert info.done and info.undone


@pytest.mark.parametrize(
    ("enter", "kind", "setting", "applied"),
    [
        ("on_battery", "power", "power", "battery"),
        ("low_power", "low_power", "low_power", True),
        ("refresh_off", "refresh", "background_refresh", False),
        ("memory_pressure", "memory", "memory_pressure", True),
        ("reboot", "reboot", "first_unlocked", False),
    ],
)
def test_each_state_is_journalled_applied_and_undone(
    bg, phone, tmp_path, enter, kind, setting, applied
):
    default = getattr(phone._system.settings, setting)
    with getattr(bg, enter)():
        [entry] = Journal(tmp_path / "state").entries("v")
        assert entry.kind == kind
        assert getattr(phone._system.settings, setting) == applied
        # The state outlives the connection, as on a phone: a new connection sees it.
        assert getattr(open_phone(tmp_path)._system.settings, setting) == applied
    assert getattr(phone._system.settings, setting) == default
    assert Journal(tmp_path / "state").entries("v") == []
    assert [s.kind for s in bg.spans][-1:] and bg.spans[-1].end is not None


def test_a_restart_leaves_the_phone_locked_until_its_first_unlock(bg, phone):
    with bg.reboot():
        assert phone.locked() and not phone._system.settings.first_unlocked
    assert not phone.locked() and phone._system.settings.first_unlocked


def test_recover_undoes_a_crashed_runs_low_power_mode(phone, tmp_path):
    journal = Journal(tmp_path / "state")
    p = journal.record("v", "low_power", "low power")
    phone.set_low_power_mode(True)
    path = tmp_path / "state" / "journal" / "v" / f"{p.id}.json"
    path.write_text(path.read_text().replace(f'"pid": {p.pid}', '"pid": 999999999'))
    [line] = recover(open_phone(tmp_path), journal)
    assert line.startswith("v: turned Low Power Mode off: a crashed run left it (Low Power Mode")
    assert not open_phone(tmp_path)._system.settings.low_power


def test_an_unknown_power_source_names_the_known_ones(phone):
    with pytest.raises(UsageError, match="charger, battery"):
        phone.set_power("solar")


def test_a_suspended_apps_timers_wait_for_its_resume(bg, phone):
    """G7: a suspended process runs no code; its timers fire when the system resumes it."""
    app = bg.app
    step = {"at_s": 60, "do": [{"keychain": "when_unlocked"}]}
    app.launch({**REFRESH, "after_launch": [step]})
    app.background()
    suspended = bg.expect("app.suspended", within=30)
    assert suspended.time - bg.started.time == pytest.approx(virtual_system.SUSPEND_AFTER_S)
    bg.expect_none("keychain.read", during=600)
    bg.trigger(app.task("refresh"))  # the debugger and the task resume it
    bg.expect("app.resumed", within=1)
    bg.expect("keychain.read", within=1)


def test_usage_decay_stops_organic_launches_after_a_week_unused(bg, phone):
    """B2 [H] "used within the past week"; the model's cut-off is uncertain (USAGE_WINDOW_S)."""
    app = bg.app
    week = virtual_system.USAGE_WINDOW_S
    app.launch(
        {
            **REFRESH,
            "submit": [{"type": "refresh", "id": "refresh", "earliest_begin_s": week + 3600}],
        }
    )
    app.background()
    bg.expect_none("task.launched", during=week + 2 * 86400)


def test_a_release_build_is_refused_before_any_debugger_attaches(bg, phone):
    app = bg.app
    app.debuggable = False
    app.launch(REFRESH)
    attached = []
    phone.debugger = lambda pid: attached.append(pid)  # must not be reached
    with pytest.raises(AppError, match="get-task-allow"):
        bg.trigger(app.task("refresh"))
    assert attached == []


def test_the_week_long_soak_writes_its_delays_and_the_cli_prints_them_per_device(
    pytester: pytest.Pytester, capsys
):
    """Issue 11's must-show: 7 virtual days of organic refresh launches, each delay one line of
    reports/observations.jsonl, and `bgharness observations` a row per device."""
    import json

    from harness.surfaces.cli import main
    from tests.paths import ROOT

    pytester.makefile(
        ".yaml",
        devices=f"apps:\n  BGProbe:\n    path: {PROBE_PLIST}\n"
        "devices:\n  - name: phone-a\n    backend: virtual\n    ios: '26.1'\n",
    )
    pytester.makeini("[pytest]\nfilterwarnings = ignore::pytest.PytestAssertRewriteWarning\n")
    pytester.makepyfile(test_week=(ROOT / "suites/test_conditions.py").read_text())
    result = pytester.runpytest("-m", "device", "-k", "over_a_week")
    result.assert_outcomes(passed=1)
    path = pytester.path / "reports/observations.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) >= 7 * 24 // 4, "a launch every few hours for a week"
    assert {line["device"] for line in lines} == {"phone-a"}
    assert all(line["measures"]["delay_s"] >= 3 * 3600 for line in lines), "never before earliest"
    assert max(line["measures"]["day"] for line in lines) >= 6
    main(["observations", str(path)])
    out = capsys.readouterr().out
    assert "phone-a" in out and f"launched ×{len(lines)}" in out


def test_a_state_the_device_cannot_take_leaves_no_journal_entry(bg, phone, tmp_path):
    """On a phone without a switchable hub, on_battery is Unsupported: nothing was changed, so
    nothing is undone and no later run tries to undo it."""
    from harness.core.errors import Unsupported

    def refuse(source):
        raise Unsupported("v", f"set_power {source}", "needs a switchable USB hub")

    phone.set_power = refuse
    with pytest.raises(Unsupported, match="set_power battery"), bg.on_battery():
        pass
    assert Journal(tmp_path / "state").entries("v") == []


def test_nsurlsessiond_delays_background_uploads_after_resuming_the_app_for_one(bg, phone):
    """G4 [H] (Quinn): the per-app delay doubles at each resume for a transfer and a task created
    in the background waits it out; the user bringing the app to the front resets it."""
    app = bg.app
    task = app.task("refresh")
    upload = {"upload": {"bytes": 10}}
    app.launch({**REFRESH, "handler": {"work_s": 0.1, "resubmit": "on_start", "do": [upload]}})
    app.background()
    with bg.offline():
        bg.trigger(task)
        bg.expect("upload.started", task=task, within=5)
        bg.expect("app.suspended", within=30)
    bg.expect("upload.finished", task=task, error=0, within=30)  # resumed for it: delay 60 s
    bg.mark()
    bg.trigger(task)
    started = bg.expect("upload.started", task=task, within=5)
    finished = bg.expect("upload.finished", task=task, within=300)
    assert finished.time - started.time >= virtual_system.FIRST_RESUME_DELAY_S
    app.launch(REFRESH)
    assert phone._system._resume_delay == {}


PROCESSING = {"register": ["processing"], "submit": [{"type": "processing", "id": "processing"}]}


def burning(percent: int, seconds: int = 120, **request) -> dict:
    """A processing task that busy-loops `percent` % for `seconds` and works 180 s in all."""
    return {
        "register": ["processing"],
        "submit": [{"type": "processing", "id": "processing", **request}],
        "handler": {"work_s": 180, "do": [{"cpu": {"seconds": seconds, "percent": percent}}]},
    }


def test_the_cpu_monitor_kills_a_processing_task_burning_cpu_on_battery(bg, phone):
    """G6 [M]: over 80 % CPU for 60 s, not frontmost, on battery: killed once 48 s of CPU are
    used (100 % → after 48 s), with the kernel's line the parser reads as reason=cpu."""
    app = bg.app
    task = app.task("processing")
    app.launch(burning(100))
    app.background()
    with bg.on_battery():
        bg.trigger(task)
        started = bg.expect("cpu.started", task=task, seconds=120, percent=100, within=5)
        killed = bg.expect("app.terminated", reason="cpu", within=120)
        bg.expect_none("cpu.finished", during=120)
        bg.expect_none("task.completed", during=1)
    assert killed.time - started.time == pytest.approx(virtual_system.CPU_LIMIT_S, abs=0.1)
    assert "CPU usage trigger" in killed.raw and "averaging 100%" in killed.raw
    assert app.pid is None


@pytest.mark.parametrize(
    ("case", "percent", "request_", "battery"),
    [
        ("on a charger (uncertain, G6 [L])", 100, {}, False),
        ("requiresExternalPower (G6 [H])", 100, {"requires_power": True}, True),
        ("at 80 %, not over it", 80, {}, True),
    ],
)
def test_the_cpu_monitor_leaves_a_burning_task_alone(bg, phone, case, percent, request_, battery):
    app = bg.app
    task = app.task("processing")
    app.launch(burning(percent, **request_))
    app.background()
    phone.set_power("battery" if battery else "charger")
    bg.trigger(task)
    bg.expect("cpu.finished", task=task, within=130)
    bg.expect("task.completed", task=task, success=True, within=120)
    bg.expect_none("app.terminated", during=1)
    assert app.pid is not None


def test_the_cpu_monitor_counts_from_the_unplugging_and_adds_up_busy_loops(bg, phone):
    """Two 50 % loops are 100 % of the app; on a charger nothing is counted, so the kill comes
    48 s after the phone goes on battery, not 48 s after the loops began."""
    app = bg.app
    task = app.task("processing")
    plan = burning(50)
    plan["handler"]["do"] = [{"cpu": {"seconds": 300, "percent": 50}}] * 2
    plan["handler"]["work_s"] = 400
    app.launch(plan)
    app.background()
    bg.trigger(task)
    bg.expect("cpu.started", task=task, within=5)
    bg.expect_none("app.terminated", during=100)
    with bg.on_battery():
        unplugged = bg.clock.now()
        killed = bg.expect("app.terminated", reason="cpu", within=120)
    assert killed.time - unplugged == pytest.approx(virtual_system.CPU_LIMIT_S, abs=0.1)


def test_the_cpu_monitor_forgets_a_burn_once_the_task_is_over(bg, phone):
    """The model watches an app while it runs a processing task: a loop that outlives its
    task (completed after 10 s) is not killed."""
    app = bg.app
    task = app.task("processing")
    plan = burning(100)
    plan["handler"]["work_s"] = 10
    app.launch(plan)
    app.background()
    with bg.on_battery():
        bg.trigger(task)
        bg.expect("task.completed", task=task, within=20)
        bg.expect_none("app.terminated", reason="cpu", during=200)
