"""`bgharness devices` and `doctor` against the fake phone, with the real pymobiledevice3 client."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from harness.lab.lab import Lab
from harness.surfaces.cli import main
from tests.fakephone import FakePhone
from tests.test_ios_fakes import make_app


def inventory(tmp_path, phone: FakePhone, *, ios: str | None = None, apps: str = "") -> str:
    path = tmp_path / "devices.yaml"
    path.write_text(
        apps + f"devices:\n  - name: lab-phone\n    backend: ios\n    udid: {phone.udid}\n"
        f'    usbmux: {phone.address}\n    ios: "{ios or phone.ios}"\n'
    )
    return str(path)


def doctor(tmp_path, phone: FakePhone, capsys, **kw) -> tuple[int, list[str]]:
    code = main(["doctor", "--devices", inventory(tmp_path, phone, **kw)])
    return code, capsys.readouterr().out.splitlines()


def line(lines: list[str], name: str) -> str:
    return next(row for row in lines if row.strip()[6:].startswith(name + ":"))


def test_devices_lists_the_phone_as_attached_paired_and_in_developer_mode(fake, tmp_path, capsys):
    assert main(["devices", "--devices", inventory(tmp_path, fake), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["devices"]
    assert len(listed) == 1
    row = listed[0]
    assert row["name"] == "lab-phone" and row["attached"] is True and row["ios"] == fake.ios
    assert row["paired"] is True and row["developer_mode"] is True
    assert row["device_name"] == fake.name and row["connection"] == "USB"


def test_devices_says_a_declared_phone_is_not_attached(fake, tmp_path, capsys):
    fake.unplug()
    assert main(["devices", "--devices", inventory(tmp_path, fake)]) == 2
    assert "lab-phone" in capsys.readouterr().err


def test_doctor_passes_a_ready_phone(fake, tmp_path, capsys):
    code, lines = doctor(tmp_path, fake, capsys)
    assert code == 0, lines
    assert "ok" in line(lines, "trusted") and "ok" in line(lines, "disk image")


@pytest.mark.parametrize(
    ("scenario", "check", "fix"),
    [
        ({"paired": False}, "trusted", "Trust"),
        ({"developer_mode": False}, "Developer Mode", "Developer Mode"),
        ({"disk_image": False}, "disk image", "mounter auto-mount"),
    ],
)
def test_doctor_names_the_failed_check_and_its_fix(fake, tmp_path, capsys, scenario, check, fix):
    for key, value in scenario.items():
        setattr(fake.scenario, key, value)
    code, lines = doctor(tmp_path, fake, capsys)
    assert code == 2
    assert "FAIL" in line(lines, check)
    assert fix in "\n".join(lines)


def test_a_disk_image_check_that_fails_is_labelled_disk_image_not_lockdown(fake, tmp_path, capsys):
    """Before: the mounter's refusal was reported as a "lockdown" failure whose fix blamed
    Developer Mode, one line after Developer Mode was reported on."""
    fake.scenario.refused["com.apple.mobile.mobile_image_mounter"] = "InvalidService"
    code, lines = doctor(tmp_path, fake, capsys)
    assert code == 2
    assert "ok" in line(lines, "Developer Mode")
    assert "FAIL" in line(lines, "disk image")
    assert not any(row.strip().startswith("FAIL  lockdown") for row in lines)
    after = "\n".join(lines[lines.index(line(lines, "disk image")) :])
    assert "Developer Mode" not in after


def test_doctor_on_a_locked_phone_says_unlock_under_the_disk_image(fake, tmp_path, capsys):
    fake.scenario.refused["com.apple.mobile.mobile_image_mounter"] = "PasswordProtected"
    code, lines = doctor(tmp_path, fake, capsys)
    assert code == 2 and "FAIL" in line(lines, "disk image")
    assert "unlock" in "\n".join(lines).lower()
    assert "Traceback" not in "\n".join(lines)


def test_doctor_preflights_the_declared_app(fake, tmp_path, capsys):
    app = make_app(tmp_path / "build", devices=["00008110-0000000000000000"])
    apps = f"apps:\n  BGProbe:\n    path: {app}\n"
    path = Path(inventory(tmp_path, fake, apps=apps))
    path.write_text(path.read_text().replace("    ios:", "    apps: [BGProbe]\n    ios:"))
    assert main(["doctor", "--devices", str(path)]) == 2
    assert fake.udid in capsys.readouterr().out  # not provisioned for this phone


def test_a_warning_is_said_once(fake, tmp_path, caplog):
    """Before: a phone running another iOS than declared was logged at WARNING and said by the
    lab as well, so the CLI printed it twice."""
    said: list[str] = []
    lab = Lab.load(inventory(tmp_path, fake, ios="16.1"), tmp_path / "state", said.append)
    caplog.set_level(logging.INFO)
    try:
        lab.open("lab-phone")
    finally:
        lab.close()
    mismatch = [s for s in said if "devices.yaml declares iOS 16.1" in s]
    assert len(mismatch) == 1
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "16.1" in r.message]
