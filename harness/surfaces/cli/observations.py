"""`bgharness observations`: what experiments recorded, across runs, nights and devices.

A shell over `harness.data.observations`: it reads the JSON-lines files (or folders of them: a
nightly's downloaded artifacts), filters, summarises and prints the table (a sweep as parameter
→ outcome per device and iOS; each measure as n, min, median, p90, max), as text, JSON or CSV,
and draws the SVG picture with `--plot`. Garbled lines are skipped with one warning per file.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from itertools import groupby
from pathlib import Path

from rich.console import Console
from rich.table import Table

from harness.core.errors import UsageError
from harness.data import observations_svg
from harness.data.observations import (
    DEFAULT_PATH,
    Row,
    format_number,
    read_observations,
    select,
    summarise,
)

_STATS = ("n", "min", "median", "p90", "max")


def cmd_observations(args: argparse.Namespace) -> None:
    """`bgharness observations`: the table of what the devices did."""
    paths = [Path(p) for p in args.paths] or [DEFAULT_PATH]
    reading = read_observations(paths)
    for warning in reading.warnings:
        print(f"bgharness: warning: {warning}", file=sys.stderr)
    chosen = select(reading.observations, args.scenario, args.device, args.parameter)
    if not chosen:
        filters = [
            f"{flag} {value}"
            for flag, value in (
                ("--scenario", args.scenario),
                ("--device", ", ".join(args.device)),
                ("--parameter", args.parameter),
            )
            if value
        ]
        raise UsageError(
            f"no observations in {', '.join(map(str, reading.files))}"
            + (f" match {' and '.join(filters)}" if filters else "")
            + (f" ({reading.skipped} lines skipped)" if reading.skipped else "")
        )
    rows = summarise(chosen)
    if args.plot:
        out = Path(args.plot)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(observations_svg.render(rows, measure=args.measure))
        print(f"bgharness: wrote {out}", file=sys.stderr)
    if args.format == "json":
        print(json.dumps([r.as_json() for r in rows], indent=1))
    elif args.format == "csv":
        _print_csv(rows)
    else:
        _print_tables(rows, len(reading.files), len({o.run for o in chosen}))


def _measure_names(rows: list[Row]) -> list[str]:
    return list(dict.fromkeys(name for r in rows for name in r.measures))


def _outcomes(row: Row) -> str:
    return ", ".join(f"{k} ×{n}" if n > 1 else k for k, n in row.outcomes.items())


def _print_tables(rows: list[Row], files: int, runs: int) -> None:
    """One table per scenario and parameter: a row per device, iOS and value."""
    # Piped (CI logs, `| less`), rich would wrap at 80 columns: give the rows room instead.
    console = Console(highlight=False, width=None if sys.stdout.isatty() else 200)
    console.print(
        f"{sum(r.n for r in rows)} observations from {runs} run{'s' * (runs != 1)} "
        f"in {files} file{'s' * (files != 1)}"
    )
    for (scenario, parameter), group in groupby(rows, key=lambda r: (r.scenario, r.parameter)):
        part = list(group)
        table = Table(title=f"{scenario}" + (f" · {parameter}" if parameter else ""))
        table.add_column("device")
        table.add_column("iOS")
        table.add_column(parameter or "value", justify="right")
        table.add_column("n", justify="right")
        table.add_column("outcomes")
        for name in _measure_names(part):
            table.add_column(f"{name}\nn · min · median · p90 · max", justify="right")
        for row in part:
            cells = []
            for name in _measure_names(part):
                d = row.measures.get(name)
                cells.append(
                    "–"
                    if d is None
                    else " · ".join([str(d.n), *(format_number(getattr(d, s)) for s in _STATS[1:])])
                )
            device = row.device + (f" ({row.model})" if row.model else "")
            value = "–" if row.value is None else str(row.value)
            table.add_row(device, row.ios or "?", value, str(row.n), _outcomes(row), *cells)
        console.print(table)


def _print_csv(rows: list[Row]) -> None:
    names = _measure_names(rows)
    writer = csv.writer(sys.stdout)
    head = ["scenario", "parameter", "value", "device", "model", "ios", "backend", "n", "runs"]
    writer.writerow([*head, "outcomes", *(f"{name}.{stat}" for name in names for stat in _STATS)])
    for r in rows:
        cells: list[object] = [
            r.scenario, r.parameter or "", "" if r.value is None else r.value, r.device,
            r.model, r.ios, r.backend, r.n, r.runs,
            "; ".join(f"{k}={n}" for k, n in r.outcomes.items()),
        ]  # fmt: skip
        for name in names:
            d = r.measures.get(name)
            cells += [getattr(d, s) if d else "" for s in _STATS]
        writer.writerow(cells)


def register(verbs: argparse._SubParsersAction) -> None:
    p = verbs.add_parser(
        "observations",
        help="the table of what experiments observed, across runs and devices",
        description="Read observations (reports/observations.jsonl by default; files, or folders "
        "searched for observations*.jsonl, e.g. several nights' downloaded artifacts) and print "
        "per scenario: each parameter value → the outcomes per device and iOS, and each measure "
        "(e.g. a delay in device seconds) as n, min, median, p90, max.",
    )
    p.add_argument("paths", nargs="*", metavar="PATH", help=f"default: {DEFAULT_PATH}")
    p.add_argument("--scenario", metavar="TEXT", help="only scenarios whose name contains TEXT")
    p.add_argument(
        "--device", metavar="NAME", action="append", default=[], help="only this device (repeat)"
    )
    p.add_argument("--parameter", metavar="NAME", help="only observations turning this parameter")
    p.add_argument("--format", choices=("table", "json", "csv"), default="table")
    p.add_argument("--plot", metavar="OUT.svg", help="also draw the picture as SVG")
    p.add_argument(
        "--measure", metavar="NAME", help="the measure the plot draws (default: each panel's first)"
    )
    p.set_defaults(run=cmd_observations)
