"""`bgharness devices` and `bgharness doctor`: for real on this machine, and on fake phones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.device.backends import ios
from harness.surfaces.cli import main
from tests.test_ios_fakes import UDID, FakePhone, make_app

OTHER = "00008140-001A2B3C4D5E6F70"
BGHARNESS = Path(sys.executable).with_name("bgharness")

no_usbmuxd_here = pytest.mark.skipif(
    Path("/var/run/usbmuxd").exists() or bool(os.environ.get("USBMUXD_SOCKET_ADDRESS")),
    reason="a usbmuxd is running here: this test is for a machine without one",
)


@no_usbmuxd_here
@pytest.mark.parametrize(("verb", "done"), [("devices", "seen"), ("doctor", "checked")])
def test_without_usbmuxd_each_verb_says_so_in_one_sentence(tmp_path, verb, done):
    """For real: no mock, no phone, no usbmuxd on this machine."""
    result = subprocess.run(
        [str(BGHARNESS), verb], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert result.stderr.startswith(
        f"bgharness: no usbmuxd is running on this machine, so no iPhone can be {done}: "
    )


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """A lab folder with devices.yaml (two declared phones) and a fake pymobiledevice3."""
    make_app(tmp_path / "build")
    (tmp_path / "devices.yaml").write_text(
        f"""apps:
  BGProbe: {{path: build/BGProbe.app}}
devices:
  - name: iphone-a
    backend: ios
    ios: "16.7"
    model: iPhone14,5
    udid: {UDID}
  - name: iphone-b
    backend: ios
    ios: "26.1"
    udid: {OTHER}
    tunnel: tunneld
  - name: virtual-iphone
    backend: virtual
    apps: []
"""
    )
    monkeypatch.chdir(tmp_path)
    phone = FakePhone()
    monkeypatch.setattr(ios.Pmd3, "real", classmethod(lambda cls: phone.pmd3))
    return phone


def test_devices_lists_declared_beside_attached(lab, capsys):
    assert main(["devices"]) == 2
    out, err = capsys.readouterr()
    assert "iphone-a" in out and "USB (this Mac)" in out and "Developer Mode" in out
    assert "iphone-b" in out and "not attached" in out
    assert err == "bgharness: 1 of the 2 iPhones in devices.yaml is not attached: iphone-b\n"


def test_devices_as_json(lab, capsys):
    assert main(["devices", "--json"]) == 2
    rows = json.loads(capsys.readouterr().out)["devices"]
    first = rows[0]
    assert (first["name"], first["attached"], first["ios"], first["paired"]) == (
        "iphone-a",
        True,
        "16.7",
        True,
    )
    assert first["developer_mode"] is True and first["notes"] == []
    assert (rows[1]["name"], rows[1]["attached"], rows[1]["notes"]) == (
        "iphone-b",
        False,
        ["not attached"],
    )


def test_devices_flags_what_differs_from_devices_yaml_and_undeclared_phones(lab, capsys, tmp_path):
    from pymobiledevice3.usbmux import MuxDevice

    (tmp_path / "devices.yaml").write_text(
        f"devices:\n  - {{name: iphone-a, backend: ios, ios: '17.0', udid: {UDID}}}\n"
    )
    stranger = "00008101-0000000000000042"
    lab.pmd3.list_devices.return_value.append(MuxDevice(2, stranger, "Network"))
    assert main(["devices", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["devices"]
    assert rows[0]["notes"] == [
        "devices.yaml declares iOS 17.0, the phone runs iOS 16.7 (20H19); results are for 16.7: "
        "update `ios:` in devices.yaml"
    ]
    assert (rows[1]["name"], rows[1]["udid"], rows[1]["connection"]) == (None, stranger, "Network")
    assert rows[1]["notes"] == ["not in devices.yaml"]


def test_an_untrusted_phone_is_said(lab, capsys, tmp_path):
    (tmp_path / "devices.yaml").write_text(
        f"devices:\n  - {{name: a, backend: ios, udid: {UDID}}}\n"
    )
    lab.paired = False
    assert main(["devices", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)["devices"][0]
    assert row["paired"] is False and "not trusted: unlock it and tap Trust" in row["notes"]


def test_doctor_passes_a_ready_phone(lab, capsys):
    assert main(["doctor", "--device", "iphone-a"]) == 0
    out = capsys.readouterr().out
    assert f"iphone-a ({UDID})" in out
    for line in (
        "ok    usbmuxd: this Mac's usbmuxd answers",
        "ok    attached: over USB",
        "ok    trusted: paired",
        "ok    as declared: iOS 16.7",
        "ok    Developer Mode: on",
        "ok    disk image: Developer image mounted",
        "skip  tunnel: not needed on iOS 16.7",
        "ok    app BGProbe: dev.bgharness.probe 1.0 (1), debuggable",
    ):
        assert line in out


@pytest.mark.parametrize(
    ("change", "failed", "fix"),
    [
        ({"developer_mode": False}, "FAIL  Developer Mode: off", "Settings > Privacy & Security"),
        (
            {"mounted": False},
            "FAIL  disk image:",
            f"pymobiledevice3 mounter auto-mount --udid {UDID}",
        ),
        ({"paired": False}, "FAIL  trusted:", "tap Trust"),
    ],
)
def test_doctor_names_the_fix_for_each_failure(lab, capsys, change, failed, fix):
    for key, value in change.items():
        setattr(lab, key, value)
    assert main(["doctor", "--device", "iphone-a"]) == 2
    out, err = capsys.readouterr()
    assert failed in out and "fix: " in out and fix in out
    assert err == "bgharness: doctor: iphone-a is not ready; the fixes are above\n"


def test_doctor_says_a_locked_phone_without_a_traceback(lab, capsys):
    from pymobiledevice3.exceptions import PasswordRequiredError

    lab.connect_errors = [PasswordRequiredError()]
    assert main(["doctor", "--device", "iphone-a"]) == 2
    out = capsys.readouterr().out
    assert "FAIL  lockdown: the phone is locked with a passcode: unlock the phone" in out


def test_doctor_on_ios_17_checks_the_tunnel(lab, capsys):
    lab.version = "26.1"
    lab.pmd3.list_devices.return_value[0].serial = OTHER
    lab.pmd3.get_tunneld_tunnels.return_value = {}
    assert main(["doctor", "--device", "iphone-b"]) == 2
    out = capsys.readouterr().out
    assert "FAIL  tunnel: tunneld at 127.0.0.1:49151 has no tunnel for this phone" in out
    assert "sudo pymobiledevice3 remote tunneld" in out


def test_doctor_for_a_phone_that_is_not_attached(lab, capsys):
    assert main(["doctor", "--device", "iphone-b"]) == 2
    out = capsys.readouterr().out
    assert f"FAIL  attached: this Mac's usbmuxd does not list {OTHER}" in out
    assert "skip  the rest" in out


def test_doctor_without_a_device_checks_every_declared_phone(lab, capsys):
    assert main(["doctor"]) == 2
    out, err = capsys.readouterr()
    assert "iphone-a (" in out and "iphone-b (" in out and "virtual-iphone" not in out
    assert err == "bgharness: doctor: iphone-b is not ready; the fixes are above\n"


def test_doctor_refuses_a_virtual_iphone(lab, capsys):
    assert main(["doctor", "--device", "virtual-iphone"]) == 2
    assert "is a virtual iPhone" in capsys.readouterr().err
