"""The ios backend against the fake phone: the real pymobiledevice3 client over real sockets."""

from __future__ import annotations

import gc
import threading
import time

import pytest

from harness.core.errors import AppError, DeviceUnavailable, HarnessError, InfraError
from harness.device.backends import ios, ios_errors
from harness.device.backends.ios import IosDevice
from tests.fakephone import FakePhone, LogLine
from tests.fakephone.fixtures import record_for
from tests.test_ios_fakes import make_app


def test_open_reads_the_phones_facts(ios_device: IosDevice, fake: FakePhone):
    info = ios_device.info()
    assert (info.ios_version, info.model, info.device_name) == (fake.ios, fake.model, fake.name)
    assert info.battery_percent == 87 and info.charging is True
    assert ("lockdown", "StartSession") in fake.requests  # a TLS session, not a shortcut


def test_an_unpaired_phone_is_not_ready_and_says_trust(fake: FakePhone, tmp_path):
    fake.scenario.paired = False
    with pytest.raises(DeviceUnavailable, match="trust"):
        IosDevice.open(record_for(fake), tmp_path)


def _read(stream, count: int, timeout: float = 15.0) -> list:
    got: list = []

    def run() -> None:
        for entry in stream:
            got.append(entry)
            if len(got) >= count:
                return

    reader = threading.Thread(target=run, daemon=True)
    reader.start()
    reader.join(timeout)
    return got


def _streaming(fake: FakePhone) -> None:
    """Wait until the phone's os_trace relay has a reader (StartActivity arrived)."""
    for _ in range(500):
        if ("os_trace", "StartActivity") in fake.requests:
            return
        time.sleep(0.01)
    raise AssertionError("the log stream never started")


def test_the_live_log_survives_garbage_collection(ios_device: IosDevice, fake: FakePhone):
    """asyncio holds tasks weakly: a reader task only a dropped future referred to is collected
    mid-stream (issue 13). Collect hard while 15 lines stream; all 15 arrive."""
    stream = ios_device.log_stream()
    try:
        _streaming(fake)
        for i in range(15):
            gc.collect()
            fake.log(LogLine(f"line {i}"))
            gc.collect()
            time.sleep(0.02)
        got = [e.message for e in _read(stream, 15)]
    finally:
        stream.close()
    assert got == [f"line {i}" for i in range(15)]


# -- Installs -------------------------------------------------------------------------------------

STAGING = "/PublicStaging/bgharness"


def staged(phone: FakePhone) -> list[str]:
    return [path for path in phone.files if path.startswith(STAGING)]


def app_for(phone: FakePhone, tmp_path, **fields):
    return make_app(tmp_path / "build", devices=[phone.udid], **fields)


def test_install_shows_progress_lists_the_app_and_skips_the_same_build(
    ios_device: IosDevice, fake: FakePhone, tmp_path
):
    seen: list[tuple[str, float]] = []
    app = app_for(fake, tmp_path)
    assert ios_device.install(app, progress=lambda stage, f: seen.append((stage, f))) is True
    assert "dev.bgharness.probe" in fake.apps and ios_device.installed("dev.bgharness.probe")
    stages = [stage for stage, _ in seen]
    assert stages[0] == "upload" and stages[-1] == "install" and seen[-1][1] == 1.0
    assert staged(fake) == []  # the upload is removed once installed
    writes = fake.requests.count(("afc", 0x10))
    assert ios_device.install(app) is False  # same build, same content: nothing sent
    assert fake.requests.count(("afc", 0x10)) == writes


def test_a_refused_install_says_the_installers_words_and_leaves_nothing(
    ios_device: IosDevice, fake: FakePhone, tmp_path
):
    fake.install_error = (
        "ApplicationVerificationFailed",
        "Failed to verify code signature of /private/var/installd/Library/Caches/"
        "com.apple.mobile.installd.staging/temp.X/extracted/Payload/BGProbe.app : 0xe8008015 "
        "(A valid provisioning profile for this executable was not found.)",
    )
    with pytest.raises(AppError, match="valid provisioning profile"):
        ios_device.install(app_for(fake, tmp_path), progress=lambda *_: None)
    assert staged(fake) == [] and "dev.bgharness.probe" not in fake.apps


def test_preflight_stops_an_app_not_provisioned_for_this_phone_before_uploading(
    ios_device: IosDevice, fake: FakePhone, tmp_path
):
    app = make_app(tmp_path / "build", devices=["00008110-0000000000000000"])
    with pytest.raises(AppError, match=fake.udid):
        ios_device.install(app, progress=lambda *_: None)
    assert not any(kind == "afc" for kind, _ in fake.requests)


@pytest.mark.parametrize("point", ["afc-write", "install"])
def test_an_install_outlasts_a_slow_replug_and_removes_the_cut_upload(
    ios_device: IosDevice, fake: FakePhone, tmp_path, point
):
    """Before: three tries 0.5 s and 1 s apart gave up on a replug slower than 1.5 s, and the
    upload cut short stayed in the staging folder."""
    fake.pull_cable_at(point, replug_after=2.5)
    assert ios_device.install(app_for(fake, tmp_path), progress=lambda *_: None) is True
    assert ("point", point) in fake.requests and fake.attached
    assert "dev.bgharness.probe" in fake.apps
    assert staged(fake) == []


def test_a_phone_gone_for_good_fails_the_install_as_infra(
    ios_device: IosDevice, fake: FakePhone, tmp_path, monkeypatch
):
    monkeypatch.setattr(ios_errors, "REPLUG_PATIENCE_S", 1.0)
    monkeypatch.setattr(ios, "REPLUG_PATIENCE_S", 1.0)
    fake.pull_cable_at("afc-write")
    with pytest.raises(InfraError, match="lab-iphone: not attached"):
        ios_device.install(app_for(fake, tmp_path), progress=lambda *_: None)
    fake.plug()
    assert ios_device.install(app_for(fake, tmp_path / "again"), progress=lambda *_: None)
    assert staged(fake) == []  # the next install cleared what the failed one left


def test_uninstall(ios_device: IosDevice, fake: FakePhone, tmp_path):
    ios_device.install(app_for(fake, tmp_path), progress=lambda *_: None)
    ios_device.uninstall("dev.bgharness.probe")
    assert not ios_device.installed("dev.bgharness.probe")
    ios_device.uninstall("dev.bgharness.probe")  # gone already: nothing to do


# -- Processes and the network condition, over DTX -------------------------------------------------

BUNDLE = "dev.bgharness.probe"


def installed(ios_device: IosDevice, fake: FakePhone, tmp_path) -> None:
    ios_device.install(app_for(fake, tmp_path), progress=lambda *_: None)


def test_launch_with_env_then_pid_then_kill(ios_device: IosDevice, fake: FakePhone, tmp_path):
    installed(ios_device, fake, tmp_path)
    pid = ios_device.launch(BUNDLE, {"BGH_PLAN": "{}"}, ["-verbose"])
    assert fake.processes.launches == [(BUNDLE, {"BGH_PLAN": "{}"}, ["-verbose"])]
    assert ios_device.pid(BUNDLE) == pid
    ios_device.kill(pid)
    assert ios_device.pid(BUNDLE) is None
    assert ("dvt", "sendSignal:toPid:") in fake.requests  # kill waits for the phone's answer


def test_a_launch_the_phone_refuses_says_check_the_install(ios_device: IosDevice, fake: FakePhone):
    with pytest.raises(HarnessError, match="started no process"):
        ios_device.launch("dev.bgharness.not-installed", {}, [])


def test_the_network_condition_is_set_held_and_cleared(ios_device: IosDevice, fake: FakePhone):
    ios_device.set_network("offline")
    model = fake.processes
    assert model.condition == "SlowNetwork100PctLoss"  # found by listing, not by name
    ios_device.set_network("offline")  # held already: nothing new
    assert fake.requests.count(("dvt", "enableConditionWithIdentifier:profileIdentifier:")) == 1
    ios_device.clear_network()
    assert model.condition is None


def test_closing_the_device_ends_the_condition(fake: FakePhone, fake_record, tmp_path):
    device = IosDevice.open(fake_record, tmp_path)
    device.set_network("offline")
    device.close()
    assert fake.processes.condition is None


def test_without_developer_mode_a_launch_says_developer_mode(
    ios_device: IosDevice, fake: FakePhone, tmp_path
):
    installed(ios_device, fake, tmp_path)
    fake.scenario.developer_mode = False
    with pytest.raises(InfraError, match="Developer Mode is off"):
        ios_device.launch(BUNDLE, {}, [])


def test_a_cable_pull_during_launch_is_retried(ios_device: IosDevice, fake: FakePhone, tmp_path):
    installed(ios_device, fake, tmp_path)
    fake.pull_cable_at("launch", replug_after=0.5)
    pid = ios_device.launch(BUNDLE, {}, [])
    assert pid and ios_device.pid(BUNDLE) == pid


# -- Scenarios at open, the live log across a cable pull, the lease ---------------------------


@pytest.mark.parametrize(
    ("scenario", "said"),
    [
        ({"passcode": True, "paired": False}, "locked with a passcode"),
        ({"locked": True}, "locked with a passcode"),
        ({"developer_mode": False}, "Developer Mode is off"),
        ({"disk_image": False}, "developer disk image is not mounted"),
    ],
)
def test_a_phone_that_is_not_ready_says_why_and_leaves_nothing(
    fake: FakePhone, tmp_path, scenario, said
):
    for key, value in scenario.items():
        setattr(fake.scenario, key, value)
    with pytest.raises(DeviceUnavailable, match=said) as raised:
        IosDevice.open(record_for(fake), tmp_path)
    assert "lab-iphone" in str(raised.value)
    assert not [t for t in threading.enumerate() if t.name.startswith("bgharness-ios-")]


def _log_after_pull(ios_device: IosDevice, fake: FakePhone, replay: int) -> list[str]:
    fake.replay = replay
    stream = ios_device.log_stream()
    try:
        _streaming(fake)
        fake.log(*(LogLine(f"before {i}") for i in range(3)))
        got = [e.message for e in _read(stream, 3)]
        fake.unplug()
        time.sleep(0.2)
        fake.plug()
        for _ in range(1000):
            if fake.requests.count(("os_trace", "StartActivity")) == 2:
                break
            time.sleep(0.01)
        fake.log(LogLine("after"))
        got += [
            "GAP" if e.process == "bgharness" else e.message for e in _read(stream, 2 - replay // 3)
        ]
    finally:
        stream.close()
    return got


def test_a_cable_pull_mid_log_repeats_nothing_when_the_phone_replays(
    ios_device: IosDevice, fake: FakePhone
):
    """The new stream repeats the last lines it had sent: they are recognised, not doubled."""
    assert _log_after_pull(ios_device, fake, replay=3) == [
        "before 0",
        "before 1",
        "before 2",
        "after",
    ]


def test_a_cable_pull_mid_log_is_a_gap_entry_when_nothing_overlaps(
    ios_device: IosDevice, fake: FakePhone
):
    assert _log_after_pull(ios_device, fake, replay=0) == [
        "before 0",
        "before 1",
        "before 2",
        "GAP",
        "after",
    ]


def test_the_lab_releases_the_phones_lease_on_close(fake: FakePhone, tmp_path):
    from harness.lab.lab import Lab
    from harness.lab.lease import Holder, LeaseDir, Leases

    (tmp_path / "devices.yaml").write_text(
        f"devices:\n  - name: lab-iphone\n    backend: ios\n    udid: {fake.udid}\n"
        f'    usbmux: {fake.address}\n    ios: "{fake.ios}"\n'
    )
    folder = LeaseDir(tmp_path / "leases")
    leases = Leases(folder, Holder.this_process())
    lab = Lab.load(tmp_path / "devices.yaml", tmp_path / "state", lambda _: None, leases)
    key = lab.lease_key("lab-iphone")
    lab.open("lab-iphone")
    assert folder.read(key) is not None
    lab.close()
    assert folder.read(key) is None


def test_a_refused_screenshot_is_not_remembered_as_connected(
    ios_device: IosDevice, fake: FakePhone, monkeypatch
):
    """Before: the Screenshot channel was kept before it connected, so after one refusal every
    later screenshot (the failure evidence of every later test) failed with "not connected"."""
    from tests.fakephone import dtx

    monkeypatch.delitem(dtx.CAPABILITIES, dtx.SCREENSHOT)
    with pytest.raises(HarnessError):
        ios_device.screenshot()
    monkeypatch.setitem(dtx.CAPABILITIES, dtx.SCREENSHOT, 1)
    assert ios_device.screenshot().startswith(b"\x89PNG")


def test_the_live_log_shows_what_is_logged_right_after_it_is_opened(
    ios_device: IosDevice, fake: FakePhone
):
    """Before: log_stream() returned before the stream was up, so on a slow phone or a busy
    host what a test did first (a trigger right after launch) was never in its log."""
    fake.scenario.slow["com.apple.os_trace_relay"] = 1.0
    stream = ios_device.log_stream()
    try:
        ios_device.info()  # the test's first action: a few round trips to the phone
        fake.log(LogLine("the first thing"))
        assert [e.message for e in _read(stream, 1)] == ["the first thing"]
    finally:
        stream.close()
