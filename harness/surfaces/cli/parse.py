"""`bgharness parse`: the task-lifecycle events in a device log, as a table, JSON lines or a count.

The log is a file, standard input (`-`), or a lab device's live log (`--device NAME`, read until
the stream ends or Ctrl-C). Files and standard input go through the parser's fast path
(`logparse.parse_blocks`, which reads only the records around a trigger); a live device through
`parse_entry`, one record at a time, as its backend delivers them. The command only reads, picks
and prints: what counts as an event, and which events a selection picks, is `harness.core.logparse`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

from harness.core.errors import DeviceUnavailable, UsageError
from harness.core.events import KINDS, Event
from harness.core.logparse import (
    Readable,
    Selection,
    UnknownKind,
    count_file,
    kinds_named,
    parse_entry,
    parse_file,
    parse_since,
)
from harness.data.state import state_dir
from harness.device.contract import LogStream
from harness.lab.lab import Lab

FAMILIES = sorted({kind.split(".")[0] + "." for kind in KINDS})
COLUMNS = ("time (UTC)", "kind", "task", "source", "process", "pid", "attrs")


# -- What the user asked for ----------------------------------------------------------------


def _selection(args: argparse.Namespace) -> Selection:
    """--kind, --task and --since as a Selection; a mistake is a UsageError naming the fix."""
    names = [name.strip() for value in args.kind or () for name in value.split(",")]
    try:
        kinds = kinds_named(name for name in names if name) if names else None
    except UnknownKind as error:
        raise UsageError(
            f"--kind {error.name}: no such event kind; known kinds: {', '.join(sorted(KINDS))}; "
            f"or a family: {', '.join(FAMILIES)}"
        ) from None
    since = None
    if args.since is not None:
        try:
            since = parse_since(args.since)
        except ValueError:
            raise UsageError(
                f"--since {args.since}: not a time; give a date and time "
                "(2026-01-05T09:00:00, zone optional, UTC without one) or a time of day "
                "(09:00 or 09:00:00.5, on the date of the log's first event)"
            ) from None
    return Selection(kinds, args.task) if since is None else Selection(kinds, args.task, since)


# -- Output ---------------------------------------------------------------------------------


def _when(event: Event) -> str:
    if event.time is None:
        return "-"
    try:
        moment = datetime.fromtimestamp(event.time, UTC).replace(tzinfo=None)
        return moment.isoformat(" ", "milliseconds")
    except (ValueError, OverflowError, OSError):  # before year 1 or after 9999 in UTC
        return f"{event.time:.3f} s"  # seconds since 1970: the moment, though no date holds it


def _cells(event: Event) -> tuple[str, ...]:
    attrs = " ".join(f"{key}={value}" for key, value in event.attrs.items())
    pid = "" if event.pid is None else str(event.pid)
    cells = (_when(event), event.kind, event.task or "", event.source, event.process, pid, attrs)
    return tuple(cell.replace("\n", "\\n").replace("\r", "\\r") for cell in cells)


_WIDTHS = (23, 24, 0, 12, 0, 0, 0)  # the table's columns: fixed where values are


def _row(cells: Iterable[str]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(cells, _WIDTHS, strict=True))


def _print_rows(events: Iterable[Event], follow: bool = True) -> int:
    """The table: a header, then one aligned row as each event comes; how many rows.

    One row a line, written as it comes: nothing is held (a boxed table must see every event
    before it prints, and cost a millisecond and kilobytes for each). Values are never cut.
    """
    write = sys.stdout.write
    write(_row(COLUMNS).rstrip() + "\n")
    count = 0
    for event in events:
        write(_row(_cells(event)).rstrip() + "\n")
        count += 1
        if follow:
            sys.stdout.flush()
    return count


def _print_table(events: Iterable[Event], follow: bool) -> None:
    """A log's table: its rows, then how many events they are."""
    count = _print_rows(events, follow)
    print(f"{count} event{'' if count == 1 else 's'}")


def _print_jsonl(events: Iterable[Event], follow: bool) -> None:
    """One JSON object a line; each flushed at once when following a live log."""
    for event in events:
        print(json.dumps(event.as_json(), ensure_ascii=False), flush=follow)


# -- Sources --------------------------------------------------------------------------------


@contextmanager
def _opened(name: str) -> Iterator[tuple[Readable, bool]]:
    """A log file (opened binary, unbuffered), or standard input for `-`, which is followed."""
    if name == "-":
        buffer = getattr(sys.stdin, "buffer", None)
        if buffer is None:  # a text stream put in place of stdin (an embedding, a test)
            buffer = io.BytesIO(sys.stdin.read().encode("utf-8", "replace"))
        yield buffer, True
        return
    try:
        log = open(name, "rb", buffering=0)  # noqa: SIM115 (closed below)
    except OSError as error:
        reason = error.strerror or str(error)
        hint = "give a log file, or - for standard input"
        raise UsageError(f"cannot read {name}: {reason}; {hint}") from None
    with log:
        yield log, False


def _parse_log(args: argparse.Namespace, selection: Selection) -> None:
    with _opened(args.file) as (log, follow):
        if args.count:
            print(count_file(log, selection, follow))
        elif args.format == "jsonl":
            _print_jsonl(selection.select(parse_file(log, follow)), follow)
        else:
            _print_table(selection.select(parse_file(log, follow)), follow)


def _say(line: str) -> None:
    print(f"bgharness: {line}", file=sys.stderr, flush=True)


def _follow_device(args: argparse.Namespace, selection: Selection) -> None:
    """A device's live log until it ends or Ctrl-C; --count prints the count at the end.

    A phone's log needs only a paired phone (`ios.open_log`); drops, gaps and returns are said
    on stderr as they happen, and when the phone is gone for good the command says so and ends.
    """
    devices = Path(args.devices)
    lab = Lab.load(devices, state_dir(devices), _say)
    stopped: list[str] = []
    try:
        record = lab.record(args.device)
        if record.backend == "ios":
            from harness.device.backends.ios import open_log  # imports pymobiledevice3

            def notify(kind: str, line: str) -> None:
                _say(f"{args.device}: {line}")
                if kind == "stopped":
                    stopped.append(line)

            stream: LogStream = open_log(record, notify)
        else:
            stream = lab.open(args.device).log_stream()
        _say(f"reading {args.device}'s log; Ctrl-C stops")
        events = selection.select(e for entry in stream for e in parse_entry(entry))
        count = 0
        try:
            if args.count:
                for _ in events:
                    count += 1
            elif args.format == "jsonl":
                _print_jsonl(events, follow=True)
            else:
                _print_rows(events)
        except KeyboardInterrupt:
            pass  # Ctrl-C is how a live log is ended: what was read stands
        finally:
            stream.close()
        if args.count:
            print(count)
        if stopped:
            raise DeviceUnavailable(
                f"{args.device}: gave up reading the log: the phone is gone (check the cable, "
                "unlock it, then run the command again)"
            )
    finally:
        lab.close()


@contextmanager
def _reader_gone() -> Iterator[None]:
    """A reader that stops early (`| head`) ends the output, as for grep: no traceback.

    Standard output is pointed at /dev/null so Python's own flush at exit finds no pipe.
    """
    try:
        yield
    except BrokenPipeError:
        # Not a real file (a test's capture): then nothing will flush into a closed pipe.
        with suppress(OSError, ValueError, io.UnsupportedOperation):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def cmd_parse(args: argparse.Namespace) -> None:
    """`bgharness parse FILE|-` or `--device NAME`: the task-lifecycle events in a device log."""
    with _reader_gone():
        _cmd_parse(args)


def _cmd_parse(args: argparse.Namespace) -> None:
    selection = _selection(args)
    if args.device is not None:
        if args.file is not None:
            raise UsageError("give a log FILE or --device NAME, not both")
        _follow_device(args, selection)
    elif args.file is None:
        raise UsageError("give a log FILE (or - for standard input), or --device NAME")
    else:
        _parse_log(args, selection)


def register(verbs: argparse._SubParsersAction) -> None:
    parse = verbs.add_parser(
        "parse",
        help="list the background-task events in a device log",
        description="List the events in a device log: pymobiledevice3 syslog live (text or "
        "--format json), Xcode console, Console.app copies, log show/stream (default, compact, "
        "syslog styles), idevicesyslog, lldb transcripts and crash-report fields; or in a lab "
        "device's live log.",
    )
    parse.add_argument(
        "file", metavar="FILE|-", nargs="?", help="the log file, or - for standard input"
    )
    parse.add_argument(
        "--device", metavar="NAME", help="read this device's live log (until Ctrl-C)"
    )
    parse.add_argument(
        "--devices",
        metavar="PATH",
        default="devices.yaml",
        help="the lab inventory that names --device (default: devices.yaml)",
    )
    parse.add_argument("--task", metavar="ID", help="only events of this task identifier")
    parse.add_argument(
        "--kind",
        metavar="KIND",
        action="append",
        help="only events of this kind, or family (task., app.); repeatable, or comma-separated",
    )
    parse.add_argument(
        "--since",
        metavar="TIME",
        help="only events from this time: 2026-01-05T09:00:00[+02:00] (UTC without a zone), "
        "or a time of day (09:00:00) on the date of the log's first event",
    )
    parse.add_argument(
        "--format",
        choices=("table", "jsonl"),
        default="table",
        help="a table (default) or one JSON object per line",
    )
    parse.add_argument("--count", action="store_true", help="print only how many events match")
    parse.set_defaults(run=cmd_parse)
