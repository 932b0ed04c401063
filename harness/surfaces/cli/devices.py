"""`bgharness devices` and `bgharness doctor`: the lab's phones, and what each one still needs.

A shell over `harness.device.backends.ios_doctor`: it loads devices.yaml, runs the survey or the
checklist, prints it, and raises a `HarnessError` (one line, exit code 2) when a declared phone
is missing or a check failed. pymobiledevice3 is imported only when one of these verbs runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.core.errors import DeviceUnavailable, InfraError, UsageError
from harness.data.inventory import DeviceRecord, Inventory, load_inventory

if TYPE_CHECKING:  # the backend imports pymobiledevice3: only when a verb here runs
    from harness.device.backends.ios_doctor import Check, Row

_MARK = {"ok": "ok  ", "fail": "FAIL", "warn": "warn", "skip": "skip"}


def _quiet_pymobiledevice3() -> None:
    """pymobiledevice3 logs its own tracebacks (e.g. when a developer service is refused); with
    no logging set up Python would print them. The verbs say what went wrong themselves."""
    logging.getLogger("pymobiledevice3").addHandler(logging.NullHandler())


def _inventory(path: str | None) -> Inventory | None:
    """devices.yaml: the one named, else ./devices.yaml if there is one, else none."""
    if path is not None:
        return load_inventory(path)
    default = Path("devices.yaml")
    return load_inventory(default) if default.is_file() else None


def _no_usbmuxd(unreachable: dict[str, str], done: str = "seen") -> DeviceUnavailable:
    """One sentence: nothing can be `done` (seen, checked) because no usbmuxd answers."""
    if list(unreachable) == ["this Mac"]:
        return DeviceUnavailable(
            f"no usbmuxd is running on this machine, so no iPhone can be {done}: macOS runs it by "
            "itself; on Linux install and start usbmuxd, or set `usbmux: HOST:PORT` in "
            "devices.yaml to use the Mac the phones are plugged into"
        )
    return DeviceUnavailable(
        f"no usbmuxd answers ({', '.join(unreachable)}), so no iPhone can be {done}: start "
        "usbmuxd here, or the relay on the Mac that `usbmux:` names in devices.yaml"
    )


def cmd_devices(args: argparse.Namespace) -> None:
    """`bgharness devices`: the phones devices.yaml declares beside those attached."""
    from harness.device.backends.ios import Pmd3
    from harness.device.backends.ios_doctor import reconcile, survey, usbmuxd_addresses

    _quiet_pymobiledevice3()
    inventory = _inventory(args.devices)
    addresses = usbmuxd_addresses(inventory)
    seen = asyncio.run(survey(addresses, Pmd3.real()))
    if not seen.attached and len(seen.unreachable) == len(addresses):
        raise _no_usbmuxd(seen.unreachable)
    rows = reconcile(inventory, seen)
    if args.json:
        print(
            json.dumps(
                {"devices": [r.as_json() for r in rows], "unreachable": seen.unreachable}, indent=1
            )
        )
    else:
        _print_devices(rows, seen.unreachable)
    missing = [r.name for r in rows if r.name is not None and r.attached is None]
    declared = [r for r in rows if r.name is not None]
    if missing:
        raise DeviceUnavailable(
            f"{len(missing)} of the {len(declared)} iPhones in devices.yaml "
            f"{'is' if len(missing) == 1 else 'are'} not attached: {', '.join(missing)}"
        )
    if not rows:
        raise DeviceUnavailable(
            "no iPhone is attached: plug one in with a data cable, unlock it and tap Trust"
        )


def _print_devices(rows: list[Row], unreachable: dict[str, str]) -> None:
    table = Table()
    for title in ("name", "udid", "attached", "model", "iOS", "paired", "Developer Mode", "notes"):
        table.add_column(title, overflow="fold")
    for row in rows:
        here = row.attached
        cells = (
            row.name or "-",
            row.udid,
            f"{here.connection} ({here.usbmux})" if here else "no",
            (here.model if here else None) or row.declared_model or "",
            (here.ios if here else None) or row.declared_ios or "",
            _yes_no(here.paired if here else None),
            _yes_no(here.developer_mode if here else None),
            "; ".join(row.notes),
        )
        table.add_row(*map(Text, cells))
    table.caption = "; ".join(f"{where}: {why}" for where, why in unreachable.items()) or None
    Console(width=None if sys.stdout.isatty() else 200).print(table)


def _yes_no(value: bool | None) -> str:
    return "?" if value is None else "yes" if value else "no"


def cmd_doctor(args: argparse.Namespace) -> None:
    """`bgharness doctor`: a checklist per phone, with the fix for each failure."""
    from harness.device.backends.ios import Pmd3
    from harness.device.backends.ios_doctor import doctor, survey, usbmuxd_addresses

    _quiet_pymobiledevice3()
    inventory = _inventory(args.devices)
    pmd3 = Pmd3.real()
    records = _doctor_records(inventory, args.device)
    addresses = usbmuxd_addresses(inventory) if not records else [r.usbmux for r in records]
    seen = asyncio.run(survey(list(dict.fromkeys(addresses)), pmd3, describe=False))
    if not seen.attached and len(seen.unreachable) == len(set(addresses)):
        raise _no_usbmuxd(seen.unreachable, "checked")
    if not records:
        records = [DeviceRecord(name=a.udid, backend="ios", udid=a.udid) for a in seen.attached]
    if not records:
        raise DeviceUnavailable(
            "no iPhone is attached and devices.yaml declares none: plug one in with a data "
            "cable, unlock it and tap Trust"
        )
    failed: list[str] = []
    for record in records:
        checks = asyncio.run(doctor(record, pmd3, inventory))
        _print_checks(record, checks)
        if any(c.status == "fail" for c in checks):
            failed.append(record.name)
    if failed:
        raise InfraError(
            f"doctor: {', '.join(failed)} {'is' if len(failed) == 1 else 'are'} not ready; "
            "the fixes are above"
        )


def _doctor_records(inventory: Inventory | None, name: str | None) -> list[DeviceRecord]:
    if name is None:
        return [r for r in inventory.devices if r.backend == "ios"] if inventory else []
    if inventory is None:
        raise UsageError(f"--device {name}: no devices.yaml here; point --devices at the inventory")
    record = inventory.select([name])[0]
    if record.backend != "ios":
        raise UsageError(f"{name} is a virtual iPhone: there is nothing on it for doctor to check")
    return [record]


def _print_checks(record: DeviceRecord, checks: list[Check]) -> None:
    print(f"{record.name} ({record.udid})")
    for check in checks:
        print(f"  {_MARK[check.status]}  {check.name}: {check.detail}")
        if check.fix and check.status in ("fail", "warn"):
            print(f"        fix: {check.fix}")
    print()


def register(verbs: argparse._SubParsersAction) -> None:
    devices = verbs.add_parser(
        "devices",
        help="list the iPhones devices.yaml declares beside those attached",
        description="The iPhones of devices.yaml and those each usbmuxd lists: model, iOS, "
        "whether they trust this Mac and have Developer Mode on. Exits 2 when a declared "
        "phone is not attached.",
    )
    devices.add_argument(
        "--devices", metavar="PATH", help="the inventory (default: ./devices.yaml)"
    )
    devices.add_argument("--json", action="store_true", help="one JSON document instead of a table")
    devices.set_defaults(run=cmd_devices)
    doctor = verbs.add_parser(
        "doctor",
        help="check each iPhone is ready for a test run, with the fix for each problem",
        description="Walk each iPhone of devices.yaml (or each attached one) through usbmuxd, "
        "trust, Developer Mode, the developer disk image, the iOS 17+ tunnel, WebDriverAgent "
        "and the apps' signing. Exits 2 when a check failed.",
    )
    doctor.add_argument("--devices", metavar="PATH", help="the inventory (default: ./devices.yaml)")
    doctor.add_argument("--device", metavar="NAME", help="check only this device of the inventory")
    doctor.set_defaults(run=cmd_doctor)
