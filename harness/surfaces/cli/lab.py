"""`bgharness who`, `release`, `matrix`, `report`: running a lab of phones from CI.

`who` and `release` read and change the lease folder (harness.lab.lease); `matrix` prints the CI job
matrix from devices.yaml (harness.lab.matrix); `report` merges many jobs' Allure results and builds
the HTML with Allure's own tool (harness.surfaces.report). Each verb only parses and prints.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.core.errors import UsageError
from harness.data.inventory import load_inventory
from harness.lab import matrix
from harness.lab.lease import LEASE_DIR_ENV, LeaseDir, LeaseRecord, default_lease_dir
from harness.surfaces import report


def _lease_dir(args: argparse.Namespace) -> LeaseDir:
    return LeaseDir(Path(args.lease_dir).expanduser() if args.lease_dir else default_lease_dir())


def _console() -> Console:
    # A terminal gets its width; a pipe or file gets whole lines.
    return Console(width=None if sys.stdout.isatty() else 1000)


def cmd_who(args: argparse.Namespace) -> None:
    """`bgharness who`: every lease in the lease folder, live or stale."""
    folder = _lease_dir(args)
    leases = folder.all()
    now = time.time()
    if args.json:
        for lease in leases:
            print(json.dumps({**asdict(lease), "stale": lease.stale(now)}, sort_keys=True))
        return
    if not leases:
        print(f"no device is held (lease folder {folder.path})")
        return
    table = Table(caption=f"lease folder {folder.path}")
    for title in ("device", "state", "holder", "CI job", "since", "lease key"):
        table.add_column(title, overflow="fold")
    for lease in leases:
        table.add_row(*map(Text, _who_row(lease, now)))
    _console().print(table)


def _who_row(lease: LeaseRecord, now: float) -> tuple[str, ...]:
    why = lease.stale(now)
    state = (
        f"stale: {why}"
        if why
        else f"held (renewed {max(0.0, now - (lease.expires - lease.ttl)):.0f} s ago)"
    )
    holder = lease.holder
    who = f"pid {holder.pid}" + (f" ({holder.worker})" if holder.worker else "")
    who += f" of {holder.user} on {holder.host}"
    job = (holder.job or "-") + (f" {holder.url}" if holder.url else "")
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(lease.acquired))
    return lease.device, state, who, job, since, lease.key


def cmd_release(args: argparse.Namespace) -> None:
    """`bgharness release DEVICE`: free a stale lease, or any lease with --force."""
    folder = _lease_dir(args)
    matches = [r for r in folder.all() if args.device in (r.device, r.key)]
    if not matches:
        print(f"{args.device} is not held (lease folder {folder.path})")
        return
    if len(matches) > 1:
        keys = ", ".join(f"{r.key} ({r.holder.describe()})" for r in matches)
        raise UsageError(
            f"{len(matches)} leases are for a device named {args.device}: {keys}; "
            "give the lease key that `bgharness who` shows"
        )
    removed = folder.break_lease(matches[0].key, only_stale=not args.force)
    if removed is None:
        print(f"{args.device} is not held (it was released meanwhile)")
        return
    why = removed.stale(time.time()) or "forced (--force)"
    print(f"released {removed.device}: it was held by {removed.holder.describe()} ({why})")


def cmd_matrix(args: argparse.Namespace) -> None:
    """`bgharness matrix`: the CI jobs, one per lab host (or per device)."""
    inventory = load_inventory(args.devices)
    records = inventory.select(args.device, args.device_filter)
    print(matrix.render(matrix.jobs(records, args.per_device), args.format, args.anywhere))


def cmd_report(args: argparse.Namespace) -> None:
    """`bgharness report`: many jobs' Allure results → one HTML report."""
    allure = report.find_allure(args.allure)
    folders = [Path(p) for p in args.results] or [Path("reports/allure-results")]
    output = Path(args.output)
    merged = report.build_html(folders, output, allure, args.name)
    print(
        f"merged {merged.results} results from {len(merged.folders)} folder"
        f"{'' if len(merged.folders) == 1 else 's'}; the report is {output / 'index.html'}"
    )
    if merged.duplicates:
        print(f"({merged.duplicates} files were in more than one folder and were kept once)")


def register(verbs: argparse._SubParsersAction) -> None:
    lease_help = f"the lease folder (default: ${LEASE_DIR_ENV}, else ~/.bgharness/leases)"

    who = verbs.add_parser(
        "who",
        help="show which run holds each device",
        description="List the device leases of this lab Mac: holder (host, pid, user, CI job), "
        "since when, and whether the lease is stale (its holder died or stopped renewing it).",
    )
    who.add_argument("--lease-dir", metavar="DIR", help=lease_help)
    who.add_argument("--json", action="store_true", help="one JSON object per lease")
    who.set_defaults(run=cmd_who)

    release = verbs.add_parser(
        "release",
        help="free a device whose holder is gone",
        description="Remove a device's lease. Without --force only a stale lease (its holder "
        "died or stopped renewing it) is removed; with --force any lease is, so use it only "
        "when you know the holder is gone or must stop.",
    )
    release.add_argument("device", metavar="DEVICE", help="the device name or lease key (`who`)")
    release.add_argument("--force", action="store_true", help="remove the lease even if held")
    release.add_argument("--lease-dir", metavar="DIR", help=lease_help)
    release.set_defaults(run=cmd_release)

    jobs = verbs.add_parser(
        "matrix",
        help="print the CI job matrix from devices.yaml",
        description="One job per lab host (the Mac a phone is plugged into: its `host:`, "
        "else the usbmux/tunnel host; virtual iPhones run anywhere), or one per device.",
    )
    jobs.add_argument("--devices", metavar="PATH", default="devices.yaml", help="the inventory")
    jobs.add_argument("--device", metavar="NAME", action="append", default=[], help="only these")
    jobs.add_argument("--device-filter", metavar="EXPR", help="only devices matching EXPR")
    jobs.add_argument("--format", choices=matrix.FORMATS, default="json", help="default: json")
    jobs.add_argument("--per-device", action="store_true", help="one job per device")
    jobs.add_argument(
        "--anywhere",
        metavar="LABEL",
        default="ubuntu-latest",
        help="github: the runner for virtual-only jobs (default: ubuntu-latest)",
    )
    jobs.set_defaults(run=cmd_matrix)

    html = verbs.add_parser(
        "report",
        help="merge Allure results from many jobs and build the HTML report",
        description="Merge allure-results folders (or folders of them, as CI artifact downloads "
        "leave them) and build the HTML report with Allure's command-line tool (`make report` "
        "installs it).",
    )
    html.add_argument(
        "results",
        metavar="RESULTS_DIR",
        nargs="*",
        help="allure-results folders (default: reports/allure-results)",
    )
    html.add_argument("--output", "-o", metavar="DIR", default="reports/html", help="the HTML")
    html.add_argument("--allure", metavar="PATH", help="Allure's CLI (default: .allure/, PATH)")
    html.add_argument("--name", default="bgharness", help="the report's title")
    html.set_defaults(run=cmd_report)
