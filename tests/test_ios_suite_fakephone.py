"""A whole suite file through the ios backend, against the fake phone over the real protocols.

The fake phone is driven by the virtual iPhone (harness.device.backends.virtual, through its public
verbs): what the app does on launch, kill and a network condition is the model's answer, and
its log is the phone's os_trace stream. Everything the suite does goes through pymobiledevice3
and the fake phone's usbmuxd, lockdownd, installation_proxy, AFC, os_trace and DTX — except the
debugger trigger: debugserver and lldb are out of reach here, so in this test only `debugger`
is the virtual iPhone's (its two simulate commands, between the model's clock ticks).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from harness.data.inventory import DeviceRecord
from harness.device.backends.ios import IosDevice
from harness.device.backends.virtual import VirtualIPhone
from tests.fakephone import FakePhone
from tests.fakephone.fixtures import fresh_udid, ours
from tests.test_ios_fakes import make_app

ROOT = Path(__file__).resolve().parents[1]
SUITE = "test_simulate.py"


class _Between:
    """The virtual iPhone's debug session, its commands run between the model's clock ticks."""

    def __init__(self, model, session):
        self._model, self._session = model, session

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._session.detach()

    def evaluate(self, command: str) -> str:
        return self._model.evaluate(self._session, command)

    def detach(self) -> None:
        self._session.detach()


def test_a_whole_suite_runs_through_the_ios_backend(pytester, tmp_path, monkeypatch):
    before = ours()
    model = DeviceRecord(name="model", backend="virtual", ios="16.7.2", model="iPhone14,5")
    virtual = VirtualIPhone.open(model, tmp_path / "virtual-state")
    phone = FakePhone(udid=fresh_udid()).start().drive_with(virtual)
    try:
        app = make_app(tmp_path / "build", devices=[phone.udid])
        monkeypatch.setattr(
            IosDevice,
            "debugger",
            lambda self, pid: _Between(phone.processes, virtual.debugger(pid)),
        )
        pytester.makefile(
            ".yaml",
            devices=f"""\
apps:
  BGProbe:
    path: {app}
devices:
  - name: lab-phone
    backend: ios
    udid: {phone.udid}
    usbmux: {phone.address}
    ios: "{phone.ios}"
    model: {phone.model}
""",
        )
        pytester.makeini("[pytest]\nfilterwarnings = ignore::pytest.PytestAssertRewriteWarning\n")
        shutil.copy(ROOT / "suites" / SUITE, pytester.path / SUITE)
        result = pytester.runpytest("-m", "device", "-p", "no:randomly")
        print(result.stdout.str()[-3000:])
        outcomes = result.parseoutcomes()
        assert (
            outcomes.get("passed", 0) >= 5
            and not outcomes.get("failed")
            and not outcomes.get("errors")
        ), outcomes
        assert "lab-phone" in result.stdout.str()
        # it really went over the wire: installed over AFC, launched over DTX, read over os_trace
        assert ("afc", 0x10) in phone.requests
        assert (
            "dvt",
            "launchSuspendedProcessWithDevicePath:bundleIdentifier:environment:arguments:options:",
        ) in phone.requests
        assert ("os_trace", "StartActivity") in phone.requests
    finally:
        phone.stop()
    assert phone.threads_alive() == [] and phone.open_sockets() == 0
    assert ours() == before
