"""What a lab Mac can see of its iPhones, and what stands between each one and a test run.

`survey` lists the phones each usbmuxd (this Mac's, and every `usbmux: HOST:PORT` of the
inventory) reports, with what each says of itself without pairing. `reconcile` sets them beside
devices.yaml. `doctor` walks one phone through everything a test run needs, in order, and
says the fix for each failure. The CLI (`bgharness devices`, `bgharness doctor`) only prints
what these return; nothing here prints.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pymobiledevice3.exceptions import (
    PasswordRequiredError,
    PyMobileDevice3Exception,
    TunneldConnectionError,
)

from harness.core.errors import HarnessError
from harness.core.udid import same_udid, udid_key
from harness.core.versions import major
from harness.data.appbundle import read_app
from harness.data.inventory import Address, DeviceRecord, Inventory
from harness.device.backends.ios_apps import preflight, read_signing
from harness.device.backends.ios_connect import Pmd3, declared_mismatches
from harness.device.backends.ios_errors import (
    Where,
    fix_attach,
    fix_developer_mode,
    fix_disk_image,
    fix_trust,
    fix_tunnel,
    fix_unlock,
    fix_usbmuxd,
    fix_wda,
    translate,
)

Status = Literal["ok", "fail", "warn", "skip"]
# How the checks below add a line: (check, status, what was found, the fix).
Add = Callable[..., None]


@dataclass
class Attached:
    """A phone one usbmuxd lists, and what it said of itself (lockdown, without pairing)."""

    udid: str
    connection: str  # "USB" or "Network"
    usbmux: str  # which usbmuxd: "this Mac" or HOST:PORT
    name: str | None = None
    model: str | None = None
    ios: str | None = None
    build: str | None = None
    paired: bool | None = None
    developer_mode: bool | None = None
    problem: str | None = None  # why some of the above is unknown


@dataclass
class Row:
    """One line of `bgharness devices`: a declared phone, an attached one, or both."""

    name: str | None  # devices.yaml name; None when the phone is not declared
    udid: str
    attached: Attached | None
    declared_ios: str | None = None
    declared_model: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """One element of `bgharness devices --json`; `name` is the devices.yaml name."""
        here = self.attached
        facts = asdict(here) if here else {}
        return {
            "name": self.name,
            "udid": self.udid,
            "declared": self.name is not None,
            "attached": here is not None,
            "connection": facts.get("connection"),
            "usbmux": facts.get("usbmux"),
            "device_name": facts.get("name"),
            "model": facts.get("model") or self.declared_model,
            "ios": facts.get("ios") or self.declared_ios,
            "build": facts.get("build"),
            "paired": facts.get("paired"),
            "developer_mode": facts.get("developer_mode"),
            "declared_ios": self.declared_ios,
            "declared_model": self.declared_model,
            "notes": self.notes,
        }


@dataclass
class Survey:
    attached: list[Attached]
    unreachable: dict[str, str]  # usbmuxd → why it did not answer


@dataclass
class Check:
    """One line of the doctor's checklist."""

    name: str
    status: Status
    detail: str
    fix: str = ""


def usbmux_label(address: Address | None) -> str:
    return str(address) if address else "this Mac"


def usbmuxd_addresses(inventory: Inventory | None) -> list[Address | None]:
    """This Mac's usbmuxd, then each remote one devices.yaml names, once each."""
    found: list[Address | None] = [None]
    for record in inventory.devices if inventory else ():
        if record.backend == "ios" and record.usbmux not in found:
            found.append(record.usbmux)
    return found


async def survey(addresses: list[Address | None], pmd3: Pmd3, *, describe: bool = True) -> Survey:
    """The phones each usbmuxd lists; with `describe`, also what each says of itself."""
    attached: list[Attached] = []
    unreachable: dict[str, str] = {}
    for address in addresses:
        label = usbmux_label(address)
        where = _mux(address)
        try:
            devices = await pmd3.list_devices(usbmux_address=where)
        except (PyMobileDevice3Exception, OSError) as exc:
            unreachable[label] = (
                f"{type(exc).__name__}: {fix_usbmuxd(Where('', '', usbmux=address))}"
            )
            continue
        for device in devices:
            found = Attached(device.serial, device.connection_type, label)
            attached.append(await _describe(found, address, pmd3) if describe else found)
    return Survey(attached, unreachable)


async def _describe(found: Attached, address: Address | None, pmd3: Pmd3) -> Attached:
    try:
        lockdown = await pmd3.create_using_usbmux(
            serial=found.udid, autopair=False, usbmux_address=_mux(address)
        )
    except Exception as exc:  # one phone that will not say does not stop the listing
        found.problem = f"{type(exc).__name__}: {exc}"
        return found
    try:
        values = lockdown.all_values
        found.name, found.model = values.get("DeviceName"), values.get("ProductType")
        found.ios, found.build = values.get("ProductVersion"), values.get("BuildVersion")
        found.paired = bool(lockdown.paired)
        if found.paired and found.ios and (major(found.ios) or 0) >= 16:
            found.developer_mode = bool(await lockdown.get_developer_mode_status())
        elif found.ios and (major(found.ios) or 0) < 16:
            found.developer_mode = True  # nothing to switch on before iOS 16
    except Exception as exc:
        found.problem = f"{type(exc).__name__}: {exc}"
    finally:
        with contextlib.suppress(Exception):
            await lockdown.close()
    return found


def reconcile(inventory: Inventory | None, seen: Survey) -> list[Row]:
    """Declared ios phones first (in file order), then attached phones nobody declared."""
    rows: list[Row] = []
    claimed: set[str] = set()
    for record in inventory.devices if inventory else ():
        if record.backend != "ios" or not record.udid:
            continue
        here = next((a for a in seen.attached if same_udid(a.udid, record.udid)), None)
        row = Row(record.name, record.udid, here, record.ios, record.model)
        if here is None:
            label = usbmux_label(record.usbmux)
            row.notes.append(
                f"not attached ({label}'s usbmuxd does not answer)"
                if label in seen.unreachable
                else "not attached"
            )
        else:
            claimed.add(udid_key(here.udid))
            row.notes += declared_mismatches(
                record, here.ios or "", here.build or "", here.model or ""
            )
            row.notes += _attached_notes(here)
        rows.append(row)
    for here in seen.attached:
        if udid_key(here.udid) not in claimed:
            rows.append(
                Row(None, here.udid, here, notes=["not in devices.yaml", *_attached_notes(here)])
            )
    return rows


def _attached_notes(here: Attached) -> list[str]:
    notes = []
    if here.paired is False:
        notes.append("not trusted: unlock it and tap Trust")
    if here.developer_mode is False:
        notes.append("Developer Mode is off")
    if here.problem:
        notes.append(here.problem)
    return notes


async def doctor(
    record: DeviceRecord, pmd3: Pmd3, inventory: Inventory | None = None
) -> list[Check]:
    """Everything a test run needs of this phone, in order; after a failure the rest is skipped
    where it depends on it. `inventory` gives the apps to preflight."""
    where = Where(record.name, record.udid or "", record.usbmux, record.tunnel, record.wda)
    checks: list[Check] = []
    label = usbmux_label(record.usbmux)

    def add(name: str, status: Status, detail: str, fix: str = "") -> None:
        checks.append(Check(name, status, detail, fix))

    try:
        devices = await pmd3.list_devices(usbmux_address=_mux(record.usbmux))
    except (PyMobileDevice3Exception, OSError):
        add("usbmuxd", "fail", f"{where.usbmuxd} does not answer", fix_usbmuxd(where))
        return _skip_rest(checks)
    add("usbmuxd", "ok", f"{where.usbmuxd} answers ({len(devices)} phone(s) attached)")
    device = next((d for d in devices if same_udid(d.serial, where.udid)), None)
    if device is None:
        add("attached", "fail", f"{label}'s usbmuxd does not list {where.udid}", fix_attach(where))
        return _skip_rest(checks)
    add("attached", "ok", f"over {device.connection_type}")
    try:
        lockdown = await pmd3.create_using_usbmux(
            serial=device.serial, autopair=False, usbmux_address=_mux(record.usbmux)
        )
    except (PyMobileDevice3Exception, OSError) as exc:
        add("lockdown", "fail", _said(exc, where))
        return _skip_rest(checks)
    try:
        await _with_lockdown(record, where, lockdown, pmd3, add)
    except (PyMobileDevice3Exception, OSError) as exc:
        add("lockdown", "fail", _said(exc, where))
    finally:
        with contextlib.suppress(Exception):
            await lockdown.close()
    apps = inventory.apps if inventory else {}
    for app_name in record.apps:
        if app_name in apps:
            _check_app(record, apps[app_name], lockdown.all_values, add)
    if record.wda:
        await _check_wda(where, pmd3, add)
    return checks


async def _with_lockdown(
    record: DeviceRecord, where: Where, lockdown: Any, pmd3: Pmd3, add: Add
) -> None:
    values = lockdown.all_values
    ios = str(values.get("ProductVersion") or "")
    if not lockdown.paired:
        add("trusted", "fail", "the phone does not trust this Mac", fix_trust(where))
        add("the rest", "skip", _AFTER_FAILURE)
        return
    add("trusted", "ok", f"paired ({values.get('DeviceName')}, {values.get('ProductType')})")
    said = declared_mismatches(
        record, ios, str(values.get("BuildVersion") or ""), str(values.get("ProductType") or "")
    )
    if said:
        add("as declared", "warn", "; ".join(said))
    else:
        add("as declared", "ok", f"iOS {ios} ({values.get('BuildVersion')})")
    ios_major = major(ios) or 0
    if ios_major >= 16:
        if not await lockdown.get_developer_mode_status():
            add("Developer Mode", "fail", "off", fix_developer_mode(where))
            add("disk image, tunnel", "skip", _AFTER_FAILURE)
            return
        add("Developer Mode", "ok", "on")
    else:
        add("Developer Mode", "ok", f"not needed on iOS {ios}")
    kind = "Developer" if ios_major < 17 else "Personalized"
    try:
        async with pmd3.MobileImageMounterService(lockdown) as mounter:
            mounted = await mounter.is_image_mounted(kind)
    except (PyMobileDevice3Exception, OSError) as exc:
        # The disk image's own check failed: say so under its name, with its own fix (not the
        # "Developer Mode or disk image" guess, Developer Mode having just been checked).
        locked = isinstance(exc, PasswordRequiredError)
        add(
            "disk image",
            "fail",
            f"the phone's image mounter did not answer ({type(exc).__name__}: {exc})",
            fix_unlock(where) if locked else fix_disk_image(where),
        )
        add("tunnel", "skip", _AFTER_FAILURE)
        return
    if mounted:
        add("disk image", "ok", f"{kind} image mounted")
    else:
        add(
            "disk image",
            "fail",
            f"no {kind} developer disk image is mounted",
            fix_disk_image(where),
        )
    if ios_major < 17:
        add("tunnel", "skip", f"not needed on iOS {ios}")
    elif record.tunnel is None:
        add("tunnel", "fail", "devices.yaml names no tunnel", fix_tunnel(where))
    else:
        await _check_tunnel(where, record.tunnel, pmd3, add)


async def _check_tunnel(where: Where, address: Address, pmd3: Pmd3, add: Add) -> None:
    try:
        tunnels = await pmd3.get_tunneld_tunnels(tuple(address))
    except TunneldConnectionError:
        add("tunnel", "fail", f"tunneld does not answer at {address}", fix_tunnel(where))
        return
    mine = next((v for k, v in tunnels.items() if same_udid(k, where.udid)), None)
    if not mine:
        add(
            "tunnel",
            "fail",
            f"tunneld at {address} has no tunnel for this phone",
            fix_tunnel(where),
        )
        return
    add(
        "tunnel",
        "ok",
        f"tunneld at {address}: {mine[0].get('tunnel-address')} port {mine[0].get('tunnel-port')}",
    )


async def _check_wda(where: Where, pmd3: Pmd3, add: Add) -> None:
    client = pmd3.WdaClient(base_url=where.wda, timeout=5.0)
    try:
        status = await asyncio.to_thread(client.get_status)
    except Exception as exc:  # requests' and WDA's failures alike: the fix is the same
        add(
            "WebDriverAgent",
            "fail",
            f"{where.wda} does not answer ({type(exc).__name__})",
            fix_wda(where),
        )
        return
    ready = (status.get("value") or {}).get("ready", True) if isinstance(status, dict) else True
    add(
        "WebDriverAgent",
        "ok" if ready else "warn",
        f"{where.wda} answers" + ("" if ready else ", not ready"),
    )


def _check_app(record: DeviceRecord, entry: Any, values: dict[str, Any], add: Add) -> None:
    name = f"app {entry.name}"
    try:
        info = read_app(entry.path)
        signing = read_signing(entry.path, info.executable)
    except HarnessError as exc:
        add(name, "fail", str(exc), "rebuild the app")
        return
    except (OSError, ValueError) as exc:
        add(name, "fail", f"cannot read {entry.path}: {exc}", "rebuild the app")
        return
    errors, warnings = preflight(
        info, signing, record.udid or "", str(values.get("ProductVersion") or "0")
    )
    if errors:
        add(name, "fail", "; ".join(errors), "rebuild and sign it as said")
    elif warnings:
        add(name, "warn", "; ".join(warnings))
    else:
        add(name, "ok", f"{info.bundle_id} {info.version} ({info.build}), debuggable")


def _said(exc: BaseException, where: Where) -> str:
    """The harness's message for a pymobiledevice3 failure, without the device's name."""
    error = translate(exc, where, "doctor", opening=True)
    return str(error).split(": ", 1)[-1] if error else f"{type(exc).__name__}: {exc}"


_AFTER_FAILURE = "needs the failed check above to pass first"


def _skip_rest(checks: list[Check]) -> list[Check]:
    checks.append(Check("the rest", "skip", _AFTER_FAILURE))
    return checks


def _mux(address: Address | None) -> str | None:
    """pymobiledevice3's usbmux_address: HOST:PORT (it splits on ':', so no IPv6 here)."""
    return f"{address.host}:{address.port}" if address else None
