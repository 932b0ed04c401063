"""Installing on a phone: what the bundle's signature says, the preflight, the install record."""

from __future__ import annotations

import io
import os
import plistlib
import stat
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.data.appbundle import read_app
from harness.device.backends.ios_apps import (
    InstallRecords,
    Signing,
    already_installed,
    package,
    preflight,
    read_signing,
)
from tests.test_ios_fakes import UDID, make_app

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def as_ipa(app: Path) -> Path:
    ipa = app.parent / "BGProbe.ipa"
    ipa.write_bytes(package(app))
    return ipa


@pytest.mark.parametrize("form", ["app", "ipa"])
def test_signing_is_read_from_the_code_signature(tmp_path, form):
    app = make_app(tmp_path)
    path = as_ipa(app) if form == "ipa" else app
    signing = read_signing(path, "BGProbe")
    assert signing.get_task_allow is True and signing.source == "code signature"
    assert signing.profile_name == "BGProbe Development"
    assert signing.devices == frozenset({UDID.replace("-", "")})
    assert signing.expires == datetime(2099, 1, 1, tzinfo=UTC)


def test_without_a_signature_the_profile_says(tmp_path):
    app = make_app(tmp_path)
    (app / "BGProbe").write_bytes(b"\xcf\xfa\xed\xfe unsigned")
    signing = read_signing(app, "BGProbe")
    assert (signing.get_task_allow, signing.source) == (True, "provisioning profile")


def test_an_unsigned_bundle_says_nothing(tmp_path):
    app = make_app(tmp_path, get_task_allow=None)
    (app / "embedded.mobileprovision").unlink()
    assert read_signing(app, "BGProbe") == Signing(get_task_allow=None, source="")


def check(app: Path, *, signing: Signing | None = None, ios: str = "17.4"):
    info = read_app(app)
    return preflight(info, signing or read_signing(app, info.executable), UDID, ios, NOW)


def test_a_good_development_build_passes(tmp_path):
    assert check(make_app(tmp_path)) == ([], [])


def test_preflight_errors_say_the_fix(tmp_path):
    app = make_app(
        tmp_path,
        min_os="18.0",
        devices=["00008030-0000000000000001"],
        expires=datetime(2026, 1, 1),
    )
    errors, _ = check(app)
    assert len(errors) == 3
    assert "needs iOS 18.0 (MinimumOSVersion) and the phone runs 17.4" in errors[0]
    assert "expired on 2026-01-01: renew it in Xcode" in errors[1]
    assert f"does not list this phone ({UDID})" in errors[2]


def test_a_release_build_is_warned_about_before_the_test(tmp_path):
    _, warnings = check(make_app(tmp_path, get_task_allow=False))
    assert len(warnings) == 1
    assert "is not debuggable" in warnings[0] and "bg.trigger/bg.expire will fail" in warnings[0]


def test_identifiers_and_modes_ios_ignores_are_warned_about(tmp_path):
    app = make_app(tmp_path)
    plist = plistlib.loads((app / "Info.plist").read_bytes())
    plist["BGTaskSchedulerPermittedIdentifiers"] = ["com.other.*"]
    plist["UIBackgroundModes"] = ["audio"]
    (app / "Info.plist").write_bytes(plistlib.dumps(plist))
    _, warnings = check(app)
    assert any("'com.other.*' is dropped by iOS" in w for w in warnings)
    assert any("neither `fetch`" in w for w in warnings)


def test_an_app_folder_is_packaged_as_payload_keeping_the_executable_bit(tmp_path):
    app = make_app(tmp_path)
    os.chmod(app / "BGProbe", 0o755)
    with zipfile.ZipFile(io.BytesIO(package(app))) as zf:
        names = sorted(zf.namelist())
        mode = zf.getinfo("Payload/BGProbe.app/BGProbe").external_attr >> 16
    assert names == [
        "Payload/BGProbe.app/BGProbe",
        "Payload/BGProbe.app/Info.plist",
        "Payload/BGProbe.app/embedded.mobileprovision",
    ]
    assert mode & stat.S_IXUSR
    assert read_app(as_ipa(app)).content_hash == read_app(app).content_hash


def test_the_install_record_round_trips_per_phone(tmp_path):
    info = read_app(make_app(tmp_path))
    records = InstallRecords(tmp_path / "state", UDID)
    on_device = {
        "CFBundleVersion": "1",
        "Path": "/private/var/containers/Bundle/Application/A/X.app",
    }
    records.put(info, on_device)
    assert InstallRecords(tmp_path / "state", UDID.lower()).get(info.bundle_id) == {
        "content_hash": info.content_hash,
        "build": "1",
        "path": on_device["Path"],
    }
    records.drop(info.bundle_id)
    assert records.get(info.bundle_id) is None


@pytest.mark.parametrize(
    ("recorded", "on_device", "same"),
    [
        (
            {"content_hash": "H", "build": "1", "path": "/A"},
            {"CFBundleVersion": "1", "Path": "/A"},
            True,
        ),
        ({"content_hash": "H", "build": "1", "path": None}, {"CFBundleVersion": "1"}, True),
        (None, {"CFBundleVersion": "1", "Path": "/A"}, False),  # installed by someone else
        ({"content_hash": "H", "build": "1", "path": "/A"}, None, False),  # deleted on the phone
        (
            {"content_hash": "OLD", "build": "1", "path": "/A"},
            {"CFBundleVersion": "1", "Path": "/A"},
            False,
        ),
        (
            {"content_hash": "H", "build": "1", "path": "/A"},
            {"CFBundleVersion": "2", "Path": "/A"},
            False,
        ),
        (
            {"content_hash": "H", "build": "1", "path": "/A"},
            {"CFBundleVersion": "1", "Path": "/B"},
            False,
        ),
    ],
)
def test_when_an_install_is_skipped(tmp_path, recorded, on_device, same):
    info = read_app(make_app(tmp_path))
    if recorded and recorded["content_hash"] == "H":
        recorded = {**recorded, "content_hash": info.content_hash}
    assert already_installed(info, recorded, on_device) is same
