"""`bgharness parse`: the task-lifecycle events in a device log, as a table or JSON lines."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table
from rich.text import Text

from harness.errors import UsageError
from harness.events import Event
from harness.logparse import parse_lines


def _when(event: Event) -> str:
    if event.time is None:
        return "-"
    return datetime.fromtimestamp(event.time, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _print_table(events: Iterable[Event]) -> None:
    table = Table()
    for title in ("time (UTC)", "kind", "task", "source", "process", "pid", "attrs"):
        # Long values fold onto more lines, never cut: the table is evidence.
        table.add_column(title, overflow="fold", no_wrap=title in ("time (UTC)", "kind", "pid"))
    count = 0
    for event in events:
        attrs = " ".join(f"{key}={value}" for key, value in event.attrs.items())
        pid = "" if event.pid is None else str(event.pid)
        cells = (
            _when(event),
            event.kind,
            event.task or "",
            event.source,
            event.process,
            pid,
            attrs,
        )
        table.add_row(*map(Text, cells))  # Text: log text is not rich markup
        count += 1
    table.caption = f"{count} event{'' if count == 1 else 's'}"
    # A terminal gets its width; a pipe or file gets whole lines, not an 80-column wrap.
    Console(width=None if sys.stdout.isatty() else 1000).print(table)


def _print_events(events: Iterable[Event], form: str) -> None:
    if form == "jsonl":
        for event in events:
            print(json.dumps(event.as_json(), ensure_ascii=False))
    else:
        _print_table(events)


def cmd_parse(args: argparse.Namespace) -> None:
    """`bgharness parse FILE|-`: the task-lifecycle events in a device log."""
    if args.file == "-":
        _print_events(parse_lines(sys.stdin), args.format)
        return
    try:
        log = open(args.file, encoding="utf-8", errors="replace")  # noqa: SIM115 (with below)
    except OSError as error:
        reason = error.strerror or str(error)
        hint = "give a log file, or - for standard input"
        raise UsageError(f"cannot read {args.file}: {reason}; {hint}") from None
    with log:
        _print_events(parse_lines(log), args.format)


def register(verbs: argparse._SubParsersAction) -> None:
    parse = verbs.add_parser(
        "parse",
        help="list the background-task events in a device log",
        description="List the events in a device log: pymobiledevice3 syslog live (text or "
        "--format json), Xcode console, Console.app copies, log show, idevicesyslog.",
    )
    parse.add_argument("file", metavar="FILE|-", help="the log file, or - for standard input")
    parse.add_argument(
        "--format",
        choices=("table", "jsonl"),
        default="table",
        help="a table (default) or one JSON object per line",
    )
    parse.set_defaults(run=cmd_parse)
