"""The ios backend's Device contract, verb by verb, on a FakePhone of pymobiledevice3 autospecs.

Nothing here reaches a phone: these tests show that the backend calls pymobiledevice3 11.x the
way its source says it must be called (the autospecs check names and signatures), and what the
backend does with the answers. What a real phone answers is listed in the README as unverified.
"""

from __future__ import annotations

import sys
import time
import types
from datetime import datetime
from pathlib import Path
from unittest.mock import MagicMock

import pytest
from pymobiledevice3.exceptions import (
    ConnectionFailedToUsbmuxdError,
    ConnectionTerminatedError,
    DeviceNotFoundError,
    InvalidServiceError,
    PasswordRequiredError,
    TunneldConnectionError,
)

from harness.core.errors import (
    AppError,
    DeviceUnavailable,
    HarnessError,
    InfraError,
    Unsupported,
    UsageError,
)
from harness.data.plan import PLAN_ENV
from harness.device.backends import ios, ios_errors
from harness.device.backends.ios import (
    DEBUGSERVER_17,
    DEBUGSERVER_BELOW_17,
    IosDevice,
    offline_profile,
    parse_lock_state,
)
from harness.device.backends.ios_connect import declared_mismatches
from harness.device.contract import Device
from tests.test_ios_fakes import (
    CONDITIONS,
    FULL_LOSS,
    PNG,
    UDID,
    FakePhone,
    bgharness_threads,
    make_app,
    make_record,
    modern_record,
    syslog_entry,
)

BUNDLE = "dev.bgharness.probe"


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(ios_errors, "FIRST_WAIT_S", 0.0)
    monkeypatch.setattr(ios, "_pause", lambda seconds: time.sleep(min(seconds, 0.01)))


@pytest.fixture
def opened(tmp_path):
    """Open devices on fakes; afterwards every one is closed and no thread is left."""
    devices: list[IosDevice] = []

    def open_(phone: FakePhone, record=None) -> IosDevice:
        device = IosDevice.open(record or make_record(), tmp_path / "state", pmd3=phone.pmd3)
        devices.append(device)
        return device

    yield open_
    for device in devices:
        device.close()
    assert bgharness_threads() == []


@pytest.fixture
def lldb(monkeypatch):
    """harness.device.lldb (the lldb bridge): a stand-in that records the endpoint."""
    bridge = MagicMock(name="LldbBridge")
    monkeypatch.setitem(
        sys.modules, "harness.device.lldb", types.SimpleNamespace(LldbBridge=bridge)
    )
    return bridge


def installed_probe(device: IosDevice, phone: FakePhone, tmp_path: Path) -> None:
    device.install(make_app(tmp_path / "build"))
    assert BUNDLE in phone.apps


# -- open --------------------------------------------------------------------------------------


def test_every_verb_of_the_contract_is_there():
    verbs = {name for name in vars(Device) if not name.startswith("_")} | {"name"}
    missing = {verb for verb in verbs if not hasattr(IosDevice, verb) and verb != "name"}
    assert missing == set()


def test_open_reads_the_phone_and_info_reports_it(opened):
    phone = FakePhone()
    device = opened(phone)
    info = device.info()
    assert (info.udid, info.name, info.backend) == (UDID, "iphone", "ios")
    assert (info.model, info.ios_version, info.ios_build) == ("iPhone14,5", "16.7", "20H19")
    assert (info.device_name, info.battery_percent, info.charging) == ("Lab iPhone", 87.0, True)
    assert not info.virtual and device.warnings == []
    connect = phone.pmd3.create_using_usbmux
    connect.assert_awaited_with(serial=UDID, autopair=True, pair_timeout=0, usbmux_address=None)


def test_a_remote_usbmuxd_is_asked_by_address(opened):
    from harness.data.inventory import Address

    phone = FakePhone()
    opened(phone, make_record(usbmux=Address("10.0.0.5", 27015)))
    assert phone.pmd3.create_using_usbmux.call_args.kwargs["usbmux_address"] == "10.0.0.5:27015"


def test_the_clock_is_the_phones(opened):
    device = opened(FakePhone(skew=120.0))
    assert abs(device.clock.now() - (time.time() + 120.0)) < 2


def test_an_ios_version_other_than_declared_is_a_warning_not_a_failure(opened):
    device = opened(FakePhone(), make_record(ios="17.0"))
    assert device.warnings == [
        "iphone: devices.yaml declares iOS 17.0, the phone runs iOS 16.7 (20H19); results are "
        "for 16.7: update `ios:` in devices.yaml"
    ]
    assert declared_mismatches(make_record(ios="16.7.0"), "16.7", "20H19", "iPhone14,5") == []


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (DeviceNotFoundError(UDID), "not attached"),
        (ConnectionFailedToUsbmuxdError(), "no usbmuxd is running here"),
        (PasswordRequiredError(), "locked with a passcode"),
    ],
)
def test_a_phone_that_cannot_be_reached_is_unavailable_and_leaves_nothing(
    failure, expected, tmp_path
):
    phone = FakePhone()
    phone.connect_errors = [failure] * 3
    with pytest.raises(DeviceUnavailable, match=expected):
        IosDevice.open(make_record(), tmp_path, pmd3=phone.pmd3)
    assert bgharness_threads() == []


def test_developer_mode_off_is_unavailable_with_where_to_switch_it_on(tmp_path):
    phone = FakePhone(developer_mode=False)
    with pytest.raises(DeviceUnavailable, match="Settings > Privacy & Security > Developer Mode"):
        IosDevice.open(make_record(), tmp_path, pmd3=phone.pmd3)
    assert bgharness_threads() == []


def test_an_unmounted_disk_image_is_unavailable_with_the_mount_command(tmp_path):
    phone = FakePhone(mounted=False)
    with pytest.raises(DeviceUnavailable, match=f"mounter auto-mount --udid {UDID}"):
        IosDevice.open(make_record(), tmp_path, pmd3=phone.pmd3)


def test_ios_17_without_a_tunnel_in_devices_yaml_is_unsupported(tmp_path):
    phone = FakePhone("26.1", "iPhone17,3")
    with pytest.raises(Unsupported, match="add `tunnel: tunneld`"):
        IosDevice.open(make_record(ios="26.1"), tmp_path, pmd3=phone.pmd3)
    assert bgharness_threads() == []


def test_ios_17_with_tunneld_down_is_unavailable_with_how_to_start_it(tmp_path):
    phone = FakePhone("26.1", "iPhone17,3")
    phone.pmd3.get_tunneld_tunnels.side_effect = TunneldConnectionError()
    with pytest.raises(DeviceUnavailable, match="sudo pymobiledevice3 remote tunneld"):
        IosDevice.open(modern_record(), tmp_path, pmd3=phone.pmd3)


def test_ios_17_without_a_tunnel_for_this_phone_is_unavailable(tmp_path):
    phone = FakePhone("26.1", "iPhone17,3")
    phone.pmd3.get_tunneld_tunnels.return_value = {}
    with pytest.raises(DeviceUnavailable, match="has none for"):
        IosDevice.open(modern_record(), tmp_path, pmd3=phone.pmd3)


def test_ios_17_finds_its_tunnel_whatever_the_udid_spelling(opened):
    phone = FakePhone("26.1", "iPhone17,3")
    opened(phone, modern_record(udid=UDID.replace("-", "").lower()))
    phone.pmd3.get_tunneld_device_by_udid.assert_awaited_once_with(UDID, ("127.0.0.1", 49151))


# -- install, uninstall, installed --------------------------------------------------------------


def test_install_uploads_shows_progress_and_records_the_build(opened, tmp_path):
    phone = FakePhone()
    device = opened(phone)
    seen: list[tuple[str, float]] = []
    device.progress = lambda stage, fraction: seen.append((stage, fraction))
    app = make_app(tmp_path / "build")
    assert device.install(app) is True
    assert phone.apps[BUNDLE]["CFBundleVersion"] == "1"
    assert phone.staged == {}  # the staged package is removed
    assert [c["Command"] for c in phone.commands] == ["Install"]
    assert ("upload", 1.0) in seen and ("install", 0.6) in seen and seen[-1] == ("install", 1.0)
    assert device.installed(BUNDLE)


def test_install_is_skipped_when_the_same_content_is_installed(opened, tmp_path):
    phone = FakePhone()
    device = opened(phone)
    app = make_app(tmp_path / "build")
    device.install(app)
    assert device.install(app) is False
    assert [c["Command"] for c in phone.commands] == ["Install"]


def test_install_again_when_the_content_changed_under_the_same_build(opened, tmp_path):
    phone = FakePhone()
    device = opened(phone)
    device.install(make_app(tmp_path / "a"))
    rebuilt = make_app(tmp_path / "b")
    (rebuilt / "Assets.car").write_bytes(b"new art")  # Xcode rebuilds keep CFBundleVersion
    assert device.install(rebuilt) is True


def test_install_again_when_someone_else_reinstalled_it(opened, tmp_path):
    phone = FakePhone()
    device = opened(phone)
    app = make_app(tmp_path / "build")
    device.install(app)
    phone.apps[BUNDLE]["Path"] = "/private/var/containers/Bundle/Application/OTHER/BGProbe.app"
    assert device.install(app) is True


def test_an_install_the_phone_refuses_says_its_reason_and_is_not_retried(opened, tmp_path):
    phone = FakePhone()
    device = opened(phone)
    phone.install_error = {
        "Error": "ApplicationVerificationFailed",
        "ErrorDescription": "Failed to verify code signature",
    }
    with pytest.raises(AppError, match="ApplicationVerificationFailed: Failed to verify") as err:
        device.install(make_app(tmp_path / "build"))
    assert "add its UDID to the profile" in str(err.value)
    assert len(phone.commands) == 1


def test_preflight_refuses_a_profile_without_this_phone_before_uploading(opened, tmp_path):
    phone = FakePhone()
    device = opened(phone)
    app = make_app(tmp_path / "build", devices=["00008030-0000000000000001"])
    with pytest.raises(AppError, match="does not list this phone"):
        device.install(app)
    assert phone.commands == [] and phone.staged == {}


def test_preflight_refuses_an_expired_profile(opened, tmp_path):
    device = opened(FakePhone())
    with pytest.raises(AppError, match="expired on 2020-01-01"):
        device.install(make_app(tmp_path / "build", expires=datetime(2020, 1, 1)))


def test_an_info_plist_is_not_installable_on_a_phone(opened):
    device = opened(FakePhone())
    with pytest.raises(AppError, match="installs only a built app"):
        device.install(Path(__file__).resolve().parents[1] / "suites/apps/BGProbe/Info.plist")


def test_a_build_without_get_task_allow_is_said_before_the_test(opened, tmp_path, lldb):
    phone = FakePhone()
    device = opened(phone)
    device.install(make_app(tmp_path / "build", get_task_allow=False))
    assert any("is not debuggable" in line for line in device.warnings)
    pid = device.launch(BUNDLE, {}, [])
    with pytest.raises(AppError, match="no get-task-allow"):
        device.debugger(pid)
    lldb.assert_not_called()


def test_uninstall(opened, tmp_path):
    phone = FakePhone()
    device = opened(phone)
    installed_probe(device, phone, tmp_path)
    device.uninstall(BUNDLE)
    assert not device.installed(BUNDLE)
    device.uninstall(BUNDLE)  # not installed: nothing to do
    assert [c["Command"] for c in phone.commands] == ["Install", "Uninstall"]


# -- processes ---------------------------------------------------------------------------------


def test_launch_passes_the_plan_in_the_environment_pid_and_kill(opened, tmp_path):
    phone = FakePhone()
    device = opened(phone)
    installed_probe(device, phone, tmp_path)
    pid = device.launch(BUNDLE, {PLAN_ENV: '{"register": []}'}, ["-v"])
    assert phone.environments[pid] == {PLAN_ENV: '{"register": []}'}
    control = phone.pmd3.ProcessControl.made[0]
    control.launch.assert_awaited_with(
        BUNDLE, arguments=["-v"], kill_existing=True, environment={PLAN_ENV: '{"register": []}'}
    )
    assert device.pid(BUNDLE) == pid
    device.kill(pid)
    assert device.pid(BUNDLE) is None
    assert len(phone.pmd3.DvtProvider.made) == 1  # one instruments connection, reused


def test_a_launch_the_phone_refuses_says_what_it_said(opened):
    device = opened(FakePhone())
    with pytest.raises(
        HarnessError, match=r"the phone refused: dev\.bgharness\.probe is not installed"
    ):
        device.launch(BUNDLE, {}, [])


def test_a_transient_drop_is_retried_on_a_new_connection(opened, tmp_path):
    phone = FakePhone()
    device = opened(phone)
    installed_probe(device, phone, tmp_path)
    phone.launch_error = ConnectionTerminatedError()
    first = {"done": False}
    original = phone.pmd3.ProcessControl.side_effect

    def flaky(*args, **kwargs):
        control = original(*args, **kwargs)
        if first["done"]:
            phone.launch_error = None
        first["done"] = True
        return control

    phone.pmd3.ProcessControl.side_effect = flaky
    assert device.launch(BUNDLE, {}, []) > 0
    assert len(phone.pmd3.DvtProvider.made) == 2


def test_a_drop_that_does_not_heal_is_infra_after_bounded_tries(opened, tmp_path):
    phone = FakePhone()
    device = opened(phone)
    installed_probe(device, phone, tmp_path)
    phone.launch_error = ConnectionTerminatedError()
    with pytest.raises(InfraError, match="did not come back after 3 tries") as err:
        device.launch(BUNDLE, {}, [])
    assert err.value.infra
    assert phone.pmd3.ProcessControl.made[-1].launch.await_count == 1
    assert len(phone.pmd3.ProcessControl.made) == 3


def test_a_refused_developer_service_is_diagnosed(opened, tmp_path):
    phone = FakePhone()
    device = opened(phone)
    phone.mounted = False  # the phone restarted: the image is gone
    phone.dvt_connect_error = InvalidServiceError("InvalidService", UDID, "16.7")
    with pytest.raises(InfraError, match="developer disk image is not mounted"):
        device.pid(BUNDLE)


# -- background, force quit --------------------------------------------------------------------


def test_background_presses_home_through_hid_on_ios_17(opened):
    phone = FakePhone("26.1", "iPhone17,3")
    device = opened(phone, modern_record())
    device.background()
    assert phone.buttons == [(0x0C, 0x40, 1), (0x0C, 0x40, 2)]


def test_background_uses_webdriveragent_below_17(opened):
    phone = FakePhone()
    device = opened(phone, make_record(wda="http://127.0.0.1:8100"))
    device.background()
    assert phone.wda_presses == ["home"]
    phone.pmd3.WdaClient.assert_called_once_with(base_url="http://127.0.0.1:8100")


def test_background_without_hid_or_webdriveragent_names_what_to_install(opened):
    device = opened(FakePhone())
    with pytest.raises(Unsupported, match="WebDriverAgent"):
        device.background()


def test_force_quit_is_the_app_switcher_swipe_never_a_kill(opened, tmp_path):
    phone = FakePhone("26.1", "iPhone17,3")
    device = opened(phone, modern_record(wda="http://127.0.0.1:8100"))
    installed_probe(device, phone, tmp_path)
    device.launch(BUNDLE, {}, [])
    device.force_quit(BUNDLE)
    assert device.pid(BUNDLE) is None
    control = phone.pmd3.ProcessControl.made[0]
    control.kill.assert_not_awaited()
    control.signal.assert_not_awaited()
    assert phone.swipes[0] == (195, 842, 195, 422)  # up from the bottom edge: the switcher
    assert phone.swipes[1] == (195, 422, 195, 42)  # the card, flicked up
    assert phone.wda_presses[-1] == "home"


def test_force_quit_on_a_home_button_phone_double_presses_home(opened, tmp_path):
    phone = FakePhone("16.7", "iPhone12,8")
    device = opened(phone, make_record(model="iPhone12,8", wda="http://127.0.0.1:8100"))
    installed_probe(device, phone, tmp_path)
    phone.foreground = None
    device.launch(BUNDLE, {}, [])
    device.force_quit(BUNDLE)
    assert phone.wda_presses[:2] == ["home", "home"] and device.pid(BUNDLE) is None


def test_a_swipe_that_does_not_quit_the_app_is_reported(opened, tmp_path, monkeypatch):
    monkeypatch.setattr(ios, "FORCE_QUIT_CONFIRM_S", 0.3)
    phone = FakePhone("26.1", "iPhone17,3")
    device = opened(phone, modern_record(wda="http://127.0.0.1:8100"))
    installed_probe(device, phone, tmp_path)
    device.launch(BUNDLE, {}, [])
    phone.pmd3.WdaClient.side_effect = None
    phone.pmd3.WdaClient.return_value = MagicMock(name="a WDA whose swipes do nothing")
    phone.pmd3.WdaClient.return_value.get_window_size.return_value = {"width": 390, "height": 844}
    with pytest.raises(InfraError, match="did not end the app"):
        device.force_quit(BUNDLE)


def test_force_quit_without_webdriveragent_is_unsupported(opened):
    device = opened(FakePhone("26.1", "iPhone17,3"), modern_record())
    with pytest.raises(Unsupported, match="WebDriverAgent"):
        device.force_quit(BUNDLE)


def test_answering_the_continue_prompt_without_webdriveragent_is_unsupported(opened):
    device = opened(FakePhone("26.1", "iPhone17,3"), modern_record())
    with pytest.raises(Unsupported, match="WebDriverAgent"):
        device.answer_prompt(BUNDLE, "stop")


def test_force_quit_of_an_app_that_is_not_running_says_launch_it(opened):
    device = opened(FakePhone(), make_record(wda="http://127.0.0.1:8100"))
    with pytest.raises(UsageError, match="launch it first"):
        device.force_quit(BUNDLE)


# -- lock --------------------------------------------------------------------------------------


def test_lock_presses_the_lock_button_on_ios_17_and_unlock_home(opened):
    phone = FakePhone("26.1", "iPhone17,3")
    device = opened(phone, modern_record(unlock=True))
    device.lock()
    assert phone.buttons == [(0x0C, 0x30, 1), (0x0C, 0x30, 2)]
    assert device.locked() is True
    device.unlock()
    assert device.locked() is False


def test_lock_below_17_sleeps_through_diagnostics_and_webdriveragent_unlocks(opened):
    phone = FakePhone()
    device = opened(phone, make_record(unlock=True, wda="http://127.0.0.1:8100"))
    device.lock()
    assert phone.slept == 1 and phone.locked
    device.unlock()
    assert not phone.locked
    with pytest.raises(Unsupported, match="only iOS 17 and later say whether they are locked"):
        device.locked()


def test_a_phone_bgharness_cannot_unlock_is_not_locked(opened):
    phone = FakePhone("26.1", "iPhone17,3")
    device = opened(phone, modern_record())
    with pytest.raises(Unsupported, match="set `unlock: true`"):
        device.lock()
    with pytest.raises(Unsupported, match="cannot type a passcode"):
        device.unlock()
    assert phone.buttons == []


def test_lock_state_replies():
    assert parse_lock_state({"passcodeRequired": True, "unlockedSinceBoot": True}) is True
    assert parse_lock_state({"isLocked": False}) is False
    assert parse_lock_state({"something": 1}) is None
    assert parse_lock_state(None) is None


# -- network -----------------------------------------------------------------------------------


def test_offline_finds_the_full_loss_profile_and_holds_its_connection(opened):
    phone = FakePhone()
    device = opened(phone)
    device.set_network("offline")
    assert phone.active == FULL_LOSS
    inducer = phone.pmd3.ConditionInducer.made[0]
    inducer.set.assert_awaited_once_with(FULL_LOSS)
    holder = phone.pmd3.DvtProvider.made[0]
    holder.close.assert_not_awaited()  # the condition lasts as long as this connection
    device.pid(BUNDLE)  # other verbs use another connection
    assert phone.active == FULL_LOSS
    device.clear_network()
    assert phone.active is None
    inducer.clear.assert_awaited_once()
    holder.close.assert_awaited()


def test_closing_the_device_clears_the_condition(tmp_path):
    phone = FakePhone()
    device = IosDevice.open(make_record(), tmp_path, pmd3=phone.pmd3)
    device.set_network("offline")
    device.close()
    assert phone.active is None
    phone.pmd3.ConditionInducer.made[0].clear.assert_awaited_once()
    assert bgharness_threads() == []


def test_a_condition_left_by_a_crashed_run_is_cleared(opened):
    phone = FakePhone()
    phone.active = "SlowNetwork3GGood"  # its connection died with the run; recover() clears
    device = opened(phone)
    device.clear_network()
    assert phone.active is None
    phone.active = "SlowNetwork3GGood"
    device.set_network("offline")  # one condition at a time: the stale one goes first
    assert phone.active == FULL_LOSS


def test_a_phone_without_a_full_loss_profile_is_unsupported(opened):
    phone = FakePhone()
    phone.conditions = [CONDITIONS[1]]
    device = opened(phone)
    with pytest.raises(Unsupported, match="lists ThermalFair"):
        device.set_network("offline")
    phone.pmd3.DvtProvider.made[0].close.assert_awaited()


def test_an_unknown_network_profile_is_a_usage_error(opened):
    with pytest.raises(UsageError, match="known: offline"):
        opened(FakePhone()).set_network("edge")


def test_offline_profile_matching():
    assert offline_profile(CONDITIONS) == FULL_LOSS
    named = [{"profiles": [{"identifier": "X1", "name": "100% packet loss"}]}]
    assert offline_profile(named) == "X1"
    assert offline_profile([{"profiles": [{"identifier": "SlowNetwork3G"}]}]) is None


# -- debugger, screenshot, log -----------------------------------------------------------------


def test_the_debugger_below_17_goes_through_a_local_forward(opened, tmp_path, lldb):
    phone = FakePhone()
    device = opened(phone)
    installed_probe(device, phone, tmp_path)
    pid = device.launch(BUNDLE, {}, [])
    session = device.debugger(pid)
    lldb.assert_called_once_with("127.0.0.1:50999", platform="remote-ios", device="iphone")
    lldb.return_value.attach.assert_called_once_with(pid)
    assert session is lldb.return_value.attach.return_value
    assert phone.forwarders[0].service_name == DEBUGSERVER_BELOW_17
    device.debugger(pid)
    assert len(phone.forwarders) == 1  # the forward is kept for the next attach


def test_the_debugger_on_17_uses_the_tunnel_address(opened, lldb):
    phone = FakePhone("26.1", "iPhone17,3")
    device = opened(phone, modern_record())
    assert device.debug_endpoint() == "[fd7a:115c:a1e0::1]:50321"
    phone.tunnel_rsd.get_service_port.assert_called_with(DEBUGSERVER_17)
    assert phone.forwarders == []


def test_the_debugger_through_a_remote_tunneld_is_forwarded_here(opened):
    phone = FakePhone("26.1", "iPhone17,3")
    phone.tunnel_rsd.is_in_process_tunnel = True  # bridged: the address is not routable here
    device = opened(phone, modern_record())
    assert device.debug_endpoint() == "127.0.0.1:50999"
    assert phone.forwarders[0].service_name == DEBUGSERVER_17
    device.close()
    phone.forwarders[0].stop.assert_called_once()


def test_screenshot(opened):
    phone = FakePhone()
    device = opened(phone)
    assert device.screenshot() == PNG
    assert device.screenshot() == PNG
    assert len(phone.pmd3.Screenshot.made) == 1


def test_the_log_stream_carries_labels_and_stops_with_close(opened):
    phone = FakePhone()
    now = time.time()
    phone.log_connections = [[syslog_entry("bgprobe {}", now)]]
    device = opened(phone)
    stream = device.log_stream()
    entry = next(iter(stream))
    assert (entry.process, entry.pid, entry.subsystem, entry.category, entry.level) == (
        "BGProbe",
        412,
        "dev.bgharness.probe",
        "lifecycle",
        "NOTICE",
    )
    assert entry.image == "BackgroundTasks" and abs(entry.time - now) < 1e-3
    stream.close()
    assert not any(name.startswith("bgharness-log") for name in bgharness_threads())


def test_close_twice_is_harmless(tmp_path):
    device = IosDevice.open(make_record(), tmp_path, pmd3=FakePhone().pmd3)
    device.close()
    device.close()
    with pytest.raises(InfraError, match="connection is closed"):
        device.pid(BUNDLE)


def test_a_failing_test_still_leaves_no_thread(tmp_path):
    phone = FakePhone()
    device = IosDevice.open(make_record(), tmp_path, pmd3=phone.pmd3)
    stream = device.log_stream()
    try:
        with pytest.raises(ZeroDivisionError):
            try:
                raise ZeroDivisionError("the test failed here")
            finally:
                device.close()
    finally:
        stream.close()
    assert bgharness_threads() == []


def test_the_open_device_factory_opens_ios(monkeypatch, tmp_path):
    from harness.device.backends import open_device

    phone = FakePhone()
    monkeypatch.setattr(ios.Pmd3, "real", classmethod(lambda cls: phone.pmd3))
    device = open_device(make_record(), tmp_path)
    try:
        assert isinstance(device, IosDevice)
    finally:
        device.close()


def test_the_endpoint_is_what_the_lldb_bridge_parses(opened):
    lldb = pytest.importorskip("harness.device.lldb")
    from harness.data.inventory import Address

    phone = FakePhone("26.1", "iPhone17,3")
    device = opened(phone, modern_record())
    assert lldb.parse_endpoint(device.debug_endpoint()) == Address("fd7a:115c:a1e0::1", 50321)


def test_tap_finds_the_element_by_accessibility_id_through_webdriveragent(opened):
    phone = FakePhone("26.1", "iPhone17,3")
    device = opened(phone, modern_record(wda="http://127.0.0.1:8100"))
    phone.pmd3.WdaClient.side_effect = None
    client = phone.pmd3.WdaClient.return_value = MagicMock(name="WDA")
    client.find_element.return_value = "element-7"
    device.tap("bgprobe.tap.start")
    using, value = client.find_element.call_args.args[:2]
    assert (using, value) == ("accessibility id", "bgprobe.tap.start")
    assert client.click.call_args.args[0] == "element-7"


def test_tap_without_webdriveragent_is_unsupported(opened):
    device = opened(FakePhone("26.1", "iPhone17,3"), modern_record())
    with pytest.raises(Unsupported, match=r"tap bgprobe\.tap\.start is not supported"):
        device.tap("bgprobe.tap.start")


def test_reboot_restarts_through_diagnostics_and_settings_say_what_they_need(opened):
    phone = FakePhone()
    device = opened(phone)
    device.reboot()
    assert phone.restarted == 1
    for verb, fix in (
        (lambda: device.set_power("battery"), "USB hub"),
        (lambda: device.set_low_power_mode(True), "WebDriverAgent"),
        (lambda: device.set_background_refresh(False), "WebDriverAgent"),
        (lambda: device.set_memory_pressure(True), "companion app"),
    ):
        with pytest.raises(Unsupported, match=fix):
            verb()
