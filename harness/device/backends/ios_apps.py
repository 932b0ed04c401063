"""Installing on a real iPhone: the preflight, the package, the record of what is installed.

Pure except for reading the bundle and the small JSON record under the state folder.
`read_signing` reads what the installer and the debugger will judge the build by: the
entitlements in the executable's code signature (else the embedded provisioning profile's),
the profile's device list and expiry. `preflight` turns that into errors (the install would be
refused) and warnings (it installs, but the debugger bridge could not attach), before anything
is uploaded. `InstallRecords` remembers the content hash installed on each phone, because the
phone only reports CFBundleVersion, which Xcode builds often leave unchanged.
"""

from __future__ import annotations

import io
import json
import logging
import os
import plistlib
import sys
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from harness.core.udid import udid_key
from harness.core.versions import version_key
from harness.data.appbundle import AppInfo
from harness.device.contract import Progress

log = logging.getLogger("bgharness.ios")

# CSMAGIC_EMBEDDED_ENTITLEMENTS: the XML entitlements blob of a Mach-O code signature.
_ENTITLEMENTS_MAGIC = b"\xfa\xde\x71\x71"
_PROFILE = "embedded.mobileprovision"


@dataclass(frozen=True)
class Signing:
    """How the build is signed, as far as the bundle says."""

    get_task_allow: bool | None  # None: neither a signature nor a profile says
    source: str  # where get_task_allow came from: "code signature", "provisioning profile" or ""
    profile_name: str | None = None
    expires: datetime | None = None
    devices: frozenset[str] | None = None  # None: no profile, or one for all devices


def read_signing(app: Path, executable: str) -> Signing:
    """The signing facts of an `.ipa` or `.app` (executable named by CFBundleExecutable)."""
    binary, profile_blob = _bundle_files(Path(app), executable)
    entitlements = _signature_entitlements(binary) if binary else None
    profile = _profile(profile_blob) if profile_blob else None
    source, allow = "", None
    if entitlements is not None:
        source, allow = "code signature", entitlements.get("get-task-allow")
    elif profile is not None:
        source = "provisioning profile"
        allow = (profile.get("Entitlements") or {}).get("get-task-allow")
    devices = None
    if profile is not None and not profile.get("ProvisionsAllDevices"):
        devices = frozenset(udid_key(d) for d in profile.get("ProvisionedDevices") or ())
    expires = profile.get("ExpirationDate") if profile else None
    return Signing(
        get_task_allow=None if allow is None and not source else bool(allow),
        source=source,
        profile_name=profile.get("Name") if profile else None,
        expires=expires.replace(tzinfo=UTC) if isinstance(expires, datetime) else None,
        devices=devices,
    )


def preflight(
    app: AppInfo, signing: Signing, udid: str, ios: str, now: datetime | None = None
) -> tuple[list[str], list[str]]:
    """(errors, warnings) for installing `app` on the phone `udid` running `ios`.

    An error means the installer would refuse, so nothing is uploaded; a warning means it
    installs but something a test needs will not work, which is said before the test runs.
    """
    errors: list[str] = []
    warnings: list[str] = []
    if app.min_os and version_key(app.min_os) > version_key(ios):
        errors.append(
            f"{app.bundle_id} needs iOS {app.min_os} (MinimumOSVersion) and the phone runs {ios}: "
            "lower the deployment target or use a newer phone"
        )
    now = now or datetime.now(UTC)
    if signing.expires is not None and signing.expires <= now:
        errors.append(
            f"its provisioning profile {signing.profile_name!r} expired on "
            f"{signing.expires:%Y-%m-%d}: renew it in Xcode (Signing & Capabilities) and rebuild"
        )
    if signing.devices is not None and udid_key(udid) not in signing.devices:
        errors.append(
            f"its provisioning profile {signing.profile_name!r} does not list this phone "
            f"({udid}): register the phone in the developer portal (Xcode does it when the phone "
            "is plugged in with automatic signing), then rebuild"
        )
    if signing.get_task_allow is False:
        warnings.append(
            f"{app.bundle_id} is not debuggable: its {signing.source} has no get-task-allow, so "
            "the debugger bridge cannot attach and bg.trigger/bg.expire will fail: build it with "
            "development signing (the Debug configuration, an Apple Development certificate)"
        )
    elif signing.get_task_allow is None:
        warnings.append(
            f"{app.bundle_id} has neither a code signature nor an embedded provisioning profile: "
            "the phone will refuse an unsigned app, and only a development-signed one "
            "(get-task-allow) lets the debugger bridge attach"
        )
    for entry, why in app.invalid_identifier_entries():
        warnings.append(
            f"BGTaskSchedulerPermittedIdentifiers entry {entry!r} is dropped by iOS: {why}"
        )
    if app.permitted_identifiers and not app.background_modes & {"fetch", "processing"}:
        warnings.append(
            f"{app.bundle_id} permits background task identifiers but UIBackgroundModes has "
            "neither `fetch` (refresh tasks) nor `processing` (processing tasks): iOS refuses "
            "to submit them"
        )
    return errors, warnings


def package(app: Path) -> bytes:
    """The bytes to upload: an `.ipa` as it is, an `.app` folder zipped as Payload/<Name>.app/."""
    app = Path(app)
    if not app.is_dir():
        return app.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(app.rglob("*")):
            if path.is_file():
                arcname = PurePosixPath("Payload", app.name, *path.relative_to(app).parts)
                zf.write(path, str(arcname))  # keeps the mode bits: the executable stays +x
    return buffer.getvalue()


class InstallRecords:
    """What bgharness installed on one phone: bundle id → content hash, build, path on device.

    One JSON file per phone under the state folder, replaced atomically; a worker owns a phone
    for the run, so two writers never share a file.
    """

    def __init__(self, state_dir: Path, udid: str):
        self.path = Path(state_dir) / "ios-installs" / f"{udid_key(udid)}.json"

    def _load(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def get(self, bundle_id: str) -> dict[str, Any] | None:
        return self._load().get(bundle_id)

    def put(self, app: AppInfo, on_device: dict[str, Any] | None) -> None:
        data = self._load()
        data[app.bundle_id] = {
            "content_hash": app.content_hash,
            "build": app.build,
            "path": (on_device or {}).get("Path"),
        }
        self._save(data)

    def drop(self, bundle_id: str) -> None:
        data = self._load()
        if data.pop(bundle_id, None) is not None:
            self._save(data)

    def _save(self, data: dict[str, dict[str, Any]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


def already_installed(
    app: AppInfo, recorded: dict[str, Any] | None, on_device: dict[str, Any] | None
) -> bool:
    """The same content is on the phone: it reports the build we recorded for this hash.

    The phone's CFBundleVersion must match the bundle's, and our record for the phone must hold
    this content hash with that build; if the phone reports where the app lives, that must not
    have changed since (another install, by Xcode or by hand, moves it).
    """
    if on_device is None or recorded is None:
        return False
    if on_device.get("CFBundleVersion") != app.build or recorded.get("build") != app.build:
        return False
    if recorded.get("content_hash") != app.content_hash:
        return False
    was, now = recorded.get("path"), on_device.get("Path")
    return was is None or now is None or was == now


class UploadProgress:
    """The `progress` object AfcService.set_file_contents advances (it calls `update(n)`)."""

    def __init__(self, total: int, report: Progress):
        self.total, self.done, self.report = max(total, 1), 0, report

    def update(self, n: float = 1) -> None:
        self.done += int(n)
        self.report("upload", min(1.0, self.done / self.total))


class ShownProgress:
    """Shows install progress: a rich bar on a terminal, else a log line every quarter.

    pymobiledevice3's own bar is not used: it redirects stdout, stderr and logging handlers
    while it is drawn, which fights pytest's capture.
    """

    def __init__(self, title: str):
        self.title = title
        self._bar: Any = None
        self._task: Any = None
        self._logged: dict[str, int] = {}

    def __call__(self, stage: str, fraction: float) -> None:
        if sys.stderr.isatty():
            self._draw(stage, fraction)
            return
        quarter = int(fraction * 4)
        if quarter > self._logged.get(stage, -1):
            self._logged[stage] = quarter
            log.info("%s: %s %d%%", self.title, stage, round(fraction * 100))

    def _draw(self, stage: str, fraction: float) -> None:
        from rich.console import Console
        from rich.progress import Progress as Bar

        if self._bar is None:
            self._bar = Bar(console=Console(stderr=True), transient=True)
            self._bar.start()
            self._task = self._bar.add_task(self.title, total=1.0)
        self._bar.update(self._task, completed=fraction, description=f"{self.title}: {stage}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


# -- Reading the bundle --------------------------------------------------------------------------


def _bundle_files(app: Path, executable: str) -> tuple[bytes | None, bytes | None]:
    """(executable bytes, embedded.mobileprovision bytes), None for what is missing."""
    if app.is_dir():
        binary, profile = app / executable, app / _PROFILE
        return (
            binary.read_bytes() if executable and binary.is_file() else None,
            profile.read_bytes() if profile.is_file() else None,
        )
    with zipfile.ZipFile(app) as zf:
        names = set(zf.namelist())
        prefixes = sorted(
            {
                "/".join(parts[:2]) + "/"
                for parts in (PurePosixPath(n).parts for n in names)
                if len(parts) > 2 and parts[0] == "Payload" and parts[1].endswith(".app")
            }
        )
        if not prefixes:
            return None, None
        prefix = prefixes[0]
        binary_name, profile_name = prefix + executable, prefix + _PROFILE
        return (
            zf.read(binary_name) if executable and binary_name in names else None,
            zf.read(profile_name) if profile_name in names else None,
        )


def _signature_entitlements(binary: bytes) -> dict[str, Any] | None:
    """The XML entitlements of the first slice whose code signature carries them."""
    at = binary.find(_ENTITLEMENTS_MAGIC)
    while at != -1:
        length = int.from_bytes(binary[at + 4 : at + 8], "big")
        try:
            value = plistlib.loads(binary[at + 8 : at + length])
        except Exception:  # not a blob after all: keep looking
            value = None
        if isinstance(value, dict):
            return value
        at = binary.find(_ENTITLEMENTS_MAGIC, at + 4)
    return None


def _profile(blob: bytes) -> dict[str, Any] | None:
    """The plist inside a provisioning profile (a CMS envelope around XML)."""
    start, end = blob.find(b"<?xml"), blob.find(b"</plist>")
    if start == -1 or end == -1:
        return None
    try:
        value = plistlib.loads(blob[start : end + len(b"</plist>")])
    except Exception:
        return None
    return value if isinstance(value, dict) else None
