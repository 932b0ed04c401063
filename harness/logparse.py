"""Device log text and records → `Event`s: what the log says happened to background tasks.

Pure: standard library only, no I/O beyond iterating what it is given (lines, byte blocks,
records).

Containers. `read_entries` turns lines into `LogEntry`s. It knows, line by line:

- `pymobiledevice3 syslog live` (`LogEntry.syslog_line`), with or without `--label` and
  `--image-offset`: `2026-11-25 14:39:32.123456 dasd{DuetActivityScheduler+0x1234}[412]
  <NOTICE>: msg [sub][cat]`; the colours it writes to `-o FILE` on a terminal are removed
- `pymobiledevice3 syslog live --format json`: one JSON object a line
- Xcode console: `2019-06-18 23:36:54.523814+0800 NetNewsWire[5127:695645] msg`
- `log show` / `log stream`, default style: `2026-03-15 14:14:19.737128-0500 0x18538 Default
  0x0 120 8 dasd: [sub:cat] msg`; compact: `2026-10-06 00:18:48.912 Df SpringBoard[80966:a1da12]
  [sub:cat] msg`; syslog: `2026-03-15 14:14:19.737128-0500  localhost dasd[120]: msg`
- idevicesyslog (and `syslog live-old`): `Nov 12 12:24:37 iPad runningboardd(RunningBoard)[31]
  <Notice>: msg`
- Console.app copies, tab-separated: `[type<TAB>][date ]time[ ]zone<TAB>process<TAB>[columns
  <TAB>...]msg`; the optional columns (library, subsystem, category) sit before the message,
  which is the last column
- anything else: a bare message (lldb transcripts, lines pasted without their header).

Before its header is looked for, a line loses terminal colour codes and `(lldb) ` prompts glued
to its start; a header indented by a paste into an issue counts as a header.

Records. A line with a header starts a record; so does every bare line that does not continue
the one before. After a header every line without one continues the record (multi-line
messages). After a bare line, a line continues it when it is blank, indented deeper than the
record's first line, opens with `)`, `}` or `]`, follows while a `{` of the record is still open
(NSSet `{( … )}`, NSError `UserInfo={…}`), or is a crash-report field (`Exception Type:`) after a
record that began with one.

Times: a stamp without a zone is UTC (pymobiledevice3 prints the lab Mac's local time without a
zone, so the times read back as that wall clock); a missing year is 2000 (a leap year, so Feb 29
parses), a missing date 2000-01-01; no time at all is `NO_TIME`, which events carry as `None`. A
record that names no pid has `NO_PID`, carried as `None`.

Events. `parse_entry` decides by message text which event a record holds. dasd's forms count only
from dasd or an unnamed sender, the kernel's from the kernel; lldb's output and crash-report
fields only from bare text, never from a device record. The sender (process, subsystem, image)
sets `source`; where the container names none, the message's usual sender is assumed (a bare
"Running task: …" line is the framework's).

The fast path. `parse_blocks` and `count_blocks` read a whole log as byte blocks and give the
same events (and count) as `parse_lines` over its lines, but never look at most noise lines.
Every message form has trigger literals (`TRIGGERS`); a dozen C-speed scans per block find them
all (re for triggers holding a common key byte, memchr for those holding a rare one, a skip
search or re for the rest), and only the records around a hit are read. A block that dense
with hits is read whole, line by line. Counting builds no events, and remembers what it found
in a (process, message): a device says the same things many times.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from typing import Any, NamedTuple, Protocol, TypeVar

from harness.events import KINDS, Event, LogEntry

__all__ = [
    "BLOCK",
    "NO_PID",
    "NO_TIME",
    "TRIGGERS",
    "Readable",
    "Selection",
    "Since",
    "UnknownKind",
    "count_blocks",
    "count_file",
    "kinds_named",
    "parse_blocks",
    "parse_entry",
    "parse_file",
    "parse_lines",
    "parse_since",
    "read_entries",
]

NO_TIME = 0.0  # LogEntry.time of a record whose container carries no time
NO_PID = -1  # LogEntry.pid of a record whose container names no pid

PROBE_SUBSYSTEM = "dev.bgharness.probe"
PROBE_PREFIX = "bgprobe "

# -- Lines ----------------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the SGR codes pymobiledevice3's colours are made of
_PROMPT = "(lldb) "


def _clean(line: str) -> str:
    """`line` without its newline, terminal colours, or lldb prompts glued to its start."""
    if line.endswith("\n"):
        line = line[:-1]
    if line.endswith("\r"):
        line = line[:-1]
    if "\x1b" in line:
        line = _ANSI.sub("", line)
    while line.startswith(_PROMPT):
        line = line[len(_PROMPT) :]
    return line


def _split(text: str) -> list[str]:
    """The lines of `text` as a file iterator would give them (no empty line after the last)."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


# -- Containers -----------------------------------------------------------------------------

_LEVELS = {
    "default": "NOTICE",
    "notice": "NOTICE",
    "info": "INFO",
    "debug": "DEBUG",
    "error": "ERROR",
    "fault": "FAULT",
}
_COMPACT_LEVELS = {"Df": "NOTICE", "I": "INFO", "In": "INFO", "Db": "DEBUG", "E": "ERROR"}
_COMPACT_LEVELS |= {"Er": "ERROR", "F": "FAULT", "Fa": "FAULT", "A": "ACTIVITY"}
_TRACE_LEVELS = {0: "NOTICE", 1: "INFO", 2: "DEBUG", 3: "USER_ACTION", 0x10: "ERROR", 0x11: "FAULT"}
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_NO_YEAR = 2000

_STAMP = r"(?P<stamp>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)(?P<zone>[+-]\d\d:?\d\d)?"
_LABEL_SHOW = r"(?:\((?P<image>[^()]*)\) )?(?:\[(?P<subsystem>[^:\]]*):(?P<category>[^\]]*)\] )?"

_SYSLOG_LIVE = re.compile(
    _STAMP + r" (?P<process>[^{]+)\{(?P<image>[^{}]*)\}\[(?P<pid>-?\d+)\] <(?P<level>\w+)>: ",
    re.ASCII,
)
_LOG_SHOW = re.compile(
    _STAMP + r" +0x[0-9a-f]+ +(?P<level>\w+) +0x[0-9a-f]+ +(?P<pid>\d+) +\d+ +"
    r"(?P<process>[^:]+?): " + _LABEL_SHOW,
    re.ASCII,
)
_LOG_COMPACT = re.compile(
    r"(?P<stamp>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) (?P<level>[A-Z][a-z]?) +"
    r"(?P<process>[^\[\]]+?)\[(?P<pid>\d+):[0-9a-fA-F]+\] " + _LABEL_SHOW,
    re.ASCII,
)
_LOG_SYSLOG = re.compile(
    _STAMP + r" +\S+ (?P<process>[^\[\]]+?)\[(?P<pid>\d+)\]: " + _LABEL_SHOW,
    re.ASCII,
)
_XCODE = re.compile(_STAMP + r" (?P<process>[^\[\]]+)\[(?P<pid>\d+):\w+\] ", re.ASCII)
_IDEVICESYSLOG = re.compile(
    rf"(?P<month>{'|'.join(_MONTHS)}) +(?P<day>\d\d?) (?P<clock>\d\d:\d\d:\d\d(?:\.\d+)?) \S+ "
    r"(?P<process>[^\[\]()]+?)(?:\((?P<image>[^()]*)\))?\[(?P<pid>\d+)\] <(?P<level>\w+)>: ",
    re.ASCII,
)
_CONSOLE = re.compile(
    r"(?:(?P<level>[A-Za-z]+)\t)?(?:(?P<date>\d{4}-\d\d-\d\d) )?"
    r"(?P<clock>\d\d:\d\d:\d\d(?:\.\d+)?)(?: ?(?P<zone>[+-]\d\d:?\d\d))?\t(?P<process>[^\t]+)\t",
    re.ASCII,
)
_OFFSET = re.compile(r"\+0x[0-9a-fA-F]+\Z")  # `--image-offset`: `{BackgroundTasks+0x1234}`
_LABEL = re.compile(r" \[(?P<subsystem>[^\[\]\n]*)\]\[(?P<category>[^\[\]\n]*)\]\Z")

# What a record's container says about it, in LogEntry's field order.
_Fields = tuple[float, str, int, str, str, str, str, str]


_SECONDS: dict[tuple[str, str | None], int | None] = {}


def _second(stamp: str, zone: str | None) -> int | None:
    """Seconds since the epoch of a whole-second ISO stamp; UTC unless it names a zone."""
    try:
        moment = datetime.fromisoformat(stamp + (zone or ""))
    except ValueError:
        return None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


def _epoch(stamp: str, zone: str | None) -> float:
    """Seconds since the epoch of `YYYY-MM-DD HH:MM:SS[.fff]`: one datetime per second, kept.

    A busy log has thousands of records a second; parsing each stamp whole was a fifth of the
    time spent on a relevant line. The sum is the one `datetime.timestamp()` makes.
    """
    key = (stamp[:19], zone)
    base = _SECONDS.get(key, -1)
    if base == -1:
        if len(_SECONDS) > 4096:
            _SECONDS.clear()
        base = _SECONDS[key] = _second(*key)
    if base is None:
        return NO_TIME
    if len(stamp) <= 20:
        return float(base)
    micros = int(stamp[20:26].ljust(6, "0"))
    return (base * 1_000_000 + micros) / 1_000_000


def _epoch_iso(stamp: str) -> float:
    """Seconds since the epoch of any ISO 8601 stamp (a JSON record's); UTC unless zoned."""
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return NO_TIME
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _level(name: str) -> str:
    """os_trace's name for a level as any container spells it (Default, <Notice>, info)."""
    return _LEVELS.get(name.lower(), name.upper())


def _live_message(m: re.Match[str], text: str) -> tuple[str, str, str]:
    """A `syslog live` record's message, subsystem and category (its `--label`)."""
    label = _LABEL.search(text, m.end())
    if label is None:
        return text[m.end() :], "", ""
    return text[m.end() : label.start()], label[1], label[2]


def _from_syslog_live(m: re.Match[str], text: str) -> _Fields:
    stamp, zone, process, pid, level, image = m.group(
        "stamp", "zone", "process", "pid", "level", "image"
    )
    message, subsystem, category = _live_message(m, text)
    if "+0x" in image:
        image = _OFFSET.sub("", image)
    return _epoch(stamp, zone), process, int(pid), message, subsystem, category, level, image


def _light_syslog_live(m: re.Match[str], text: str) -> tuple[str, str]:
    label = _LABEL.search(text, m.end())
    return m["process"], text[m.end() : None if label is None else label.start()]


def _light(m: re.Match[str], text: str) -> tuple[str, str]:
    """Process and message of a container whose message is the rest of the text."""
    return m["process"], text[m.end() :]


def _from_xcode(m: re.Match[str], text: str) -> _Fields:
    time = _epoch(m["stamp"], m["zone"])
    return time, m["process"], int(m["pid"]), text[m.end() :], "", "", "NOTICE", ""


def _from_log_show(m: re.Match[str], text: str) -> _Fields:
    return (
        _epoch(m["stamp"], m["zone"]), m["process"], int(m["pid"]), text[m.end() :],
        m["subsystem"] or "", m["category"] or "", _level(m["level"]), m["image"] or "",
    )  # fmt: skip


def _from_log_compact(m: re.Match[str], text: str) -> _Fields:
    level = _COMPACT_LEVELS.get(m["level"], m["level"].upper())
    return (
        _epoch(m["stamp"], None), m["process"], int(m["pid"]), text[m.end() :],
        m["subsystem"] or "", m["category"] or "", level, m["image"] or "",
    )  # fmt: skip


def _from_log_syslog(m: re.Match[str], text: str) -> _Fields:
    return (
        _epoch(m["stamp"], m["zone"]), m["process"], int(m["pid"]), text[m.end() :],
        m["subsystem"] or "", m["category"] or "", "NOTICE", m["image"] or "",
    )  # fmt: skip


def _from_idevicesyslog(m: re.Match[str], text: str) -> _Fields:
    day = f"{_NO_YEAR}-{_MONTHS[m['month']]:02d}-{int(m['day']):02d}"
    return (
        _epoch(f"{day} {m['clock']}", None), m["process"], int(m["pid"]), text[m.end() :],
        "", "", _level(m["level"]), m["image"] or "",
    )  # fmt: skip


def _console_message(m: re.Match[str], text: str) -> str:
    # Optional columns (subsystem, library, ...) sit between process and message, in the order
    # the user chose; the message is the last column.
    first, newline, rest = text[m.end() :].partition("\n")
    return first.rpartition("\t")[2] + newline + rest


def _from_console(m: re.Match[str], text: str) -> _Fields:
    time = _epoch(f"{m['date'] or f'{_NO_YEAR}-01-01'} {m['clock']}", m["zone"])
    level = _level(m["level"]) if m["level"] else "NOTICE"
    return time, m["process"], NO_PID, _console_message(m, text), "", "", level, ""


def _light_console(m: re.Match[str], text: str) -> tuple[str, str]:
    return m["process"], _console_message(m, text)


def _json_record(line: str) -> dict[str, Any] | None:
    """The object on a `syslog live --format json` line, or None when the line is not one.

    pymobiledevice3 always names the process file; an object that does not is other text.
    """
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("message"), str):
        return None
    if not posixpath.basename(_text(record.get("filename"))):
        return None
    return record


def _from_json(record: dict[str, Any], text: str) -> _Fields:
    label = record.get("label")
    label = label if isinstance(label, dict) else {}
    level = record.get("level")
    level = _level(level) if isinstance(level, str) else _TRACE_LEVELS.get(_int(level, 0), "NOTICE")
    stamp = record.get("timestamp")
    return (
        _epoch_iso(stamp) if isinstance(stamp, str) else NO_TIME,
        posixpath.basename(_text(record.get("filename"))),
        _int(record.get("pid"), NO_PID),
        record["message"] + text[len(text.partition("\n")[0]) :],
        _text(label.get("subsystem")),
        _text(label.get("category")),
        level,
        posixpath.basename(_text(record.get("image_name"))),
    )


def _light_json(record: dict[str, Any], text: str) -> tuple[str, str]:
    fields = _from_json(record, text)
    return fields[1], fields[3]


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object, default: int) -> int:
    """A JSON integer, or `default` for anything else (true and false included)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else default


# A container: finds its header at the start of a line, then builds the record's fields from
# the header match and the record's whole text (first line and continuations); its light
# builder gives only process and message, all that deciding and counting events needs. The
# most specific headers come first: a `log show` message quoting `[pid:tid]` must not pass for
# Xcode's, nor a compact line (`Df SpringBoard[80966:a1da12]`) for an Xcode one.
_Container = tuple[
    Callable[[str], Any], Callable[[Any, str], _Fields], Callable[[Any, str], tuple[str, str]]
]
_CONTAINERS: tuple[_Container, ...] = (
    (_SYSLOG_LIVE.match, _from_syslog_live, _light_syslog_live),
    (_LOG_SHOW.match, _from_log_show, _light),
    (_LOG_COMPACT.match, _from_log_compact, _light),
    (_XCODE.match, _from_xcode, _light),
    (_LOG_SYSLOG.match, _from_log_syslog, _light),
    (_CONSOLE.match, _from_console, _light_console),
    (_IDEVICESYSLOG.match, _from_idevicesyslog, _light),
    (_json_record, _from_json, _light_json),
)
_Header = tuple[_Container, Any]


def _header(line: str) -> _Header | None:
    """The container whose record `line` starts, with its header; None for other lines."""
    for container in _CONTAINERS:
        found = container[0](line)
        if found is not None:
            return container, found
    return None


def _line(raw: str) -> tuple[str, _Header | None]:
    """A raw line cleaned (see `_clean`), and the header it starts with, if any.

    A header indented by a paste (a log quoted in an issue) is still a header.
    """
    line = _clean(raw) if raw.endswith(("\n", "\r")) or "\x1b" in raw or raw[:1] == "(" else raw
    for container in _CONTAINERS:
        found = container[0](line)
        if found is not None:
            return line, (container, found)
    if line[:1] in (" ", "\t"):
        stripped = line.lstrip(" \t")
        header = _header(stripped)
        if header is not None:
            return stripped, header
    return line, None


# -- Records --------------------------------------------------------------------------------

_CLOSERS = (")", "}", "]")
_MAX_OPEN = 50  # lines a bare record may take while a `{` is open: a stray `{` swallows no more
_CRASH_FIELD = re.compile(
    r"[ \t]*(?:Incident Identifier|CrashReporter Key|Hardware Model|Process|Path|Identifier|"
    r"Version|Code Type|Role|Parent Process|Coalition|Responsible Process|Date/Time|Launch Time|"
    r"OS Version|Release Type|Baseband Version|Report Version|Exception Type|Exception Codes|"
    r"Exception Subtype|Exception Message|Exception Note|Exception Reason|Termination Reason|"
    r"Termination Description|Termination Signal|Kernel Triage|Triggered by Thread|"
    r"Crashed Thread|Application Specific Information|Beta Identifier|Sleep/Wake UUID|"
    r"Time Awake Since Boot|Time Since Boot):"
)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


class _Bare:
    """What decides whether a line continues a bare record (see the module docstring)."""

    __slots__ = ("crash", "depth", "indent", "lines")

    def __init__(self, first: str):
        self.indent = _indent(first)
        self.depth = first.count("{") - first.count("}")
        self.crash = _CRASH_FIELD.match(first) is not None
        self.lines = 1

    def takes(self, line: str) -> bool:
        body = line.lstrip(" \t")
        taken = (
            not body
            or len(line) - len(body) > self.indent
            or body.startswith(_CLOSERS)
            or (self.depth > 0 and self.lines < _MAX_OPEN)
            or (self.crash and _CRASH_FIELD.match(line) is not None)
        )
        if taken:
            self.depth += line.count("{") - line.count("}")
            self.lines += 1
        return taken


def _records(lines: Iterable[str]) -> Iterator[tuple[_Header | None, str]]:
    """Group lines into records: each record's header (None when bare) and its whole text."""
    header: _Header | None = None
    bare: _Bare | None = None
    first: str | None = None
    more: list[str] = []
    for raw in lines:
        line, found = _line(raw)
        if found is None and first is not None and (header or bare.takes(line)):  # type: ignore[union-attr]
            more.append(line)
            continue
        if first is not None:
            yield header, "\n".join([first, *more]) if more else first
            more = []
        header, first = found, line
        bare = None if found else _Bare(line)
    if first is not None:
        yield header, "\n".join([first, *more]) if more else first


def _fields(header: _Header | None, text: str) -> _Fields:
    """The fields of one record; a bare one has only its message."""
    if header is None:
        return NO_TIME, "", NO_PID, text, "", "", "NOTICE", ""
    (_, build, _), found = header
    return build(found, text)


def read_entries(lines: Iterable[str]) -> Iterator[LogEntry]:
    """The log records in `lines` of any known container (see the module docstring)."""
    for header, text in _records(lines):
        yield LogEntry(*_fields(header, text))


# -- Task references ------------------------------------------------------------------------

_CLASS_TYPES = {
    "BGAppRefreshTask": "refresh",
    "BGProcessingTask": "processing",
    "BGContinuedProcessingTask": "continued",
}
_ACTIVITY_TYPES = {
    "Refresh": "refresh",
    "Processing": "processing",
    "ContinuedProcessing": "continued",
}

_DESCRIPTION = re.compile(r"<(?P<cls>BG[A-Za-z]+): (?P<id>[^\s,>]+)")
_ACTIVITY = re.compile(
    r"bg(?P<type>Refresh|Processing|ContinuedProcessing)-(?P<id>[^\s:,\"'<>()]+)"
    r"(?::(?P<activity>[0-9A-Fa-f]+))?"
)
_POWER = re.compile(r"requiresExternalPower=(\d)")
_NETWORK = re.compile(r"requiresNetworkConnectivity=(\d)")


def _identifier(text: str) -> str | None:
    """The identifier as logged; None where the log hides it (`<private>`, `<decode: …>`, …)."""
    return None if not text or text[0] in "<(" or "…" in text else text


def _ref(text: str) -> tuple[str | None, dict[str, Any]]:
    """A task named by description, dasd activity or bare identifier → (task, attrs)."""
    m = _DESCRIPTION.match(text) if text.startswith("<BG") else None
    if m:
        attrs: dict[str, Any] = {}
        cls, identifier = m.group("cls", "id")
        cls = cls.removesuffix("Request")
        if cls in _CLASS_TYPES:
            attrs["type"] = _CLASS_TYPES[cls]
        if "requires" in text:
            for key, pattern in (("requires_power", _POWER), ("requires_network", _NETWORK)):
                flag = pattern.search(text)
                if flag:
                    attrs[key] = flag[1] != "0"
        return _identifier(identifier), attrs
    m = _ACTIVITY.match(text) if text.startswith("bg") else None
    if m:
        attrs = {"type": _ACTIVITY_TYPES[m["type"]]}
        if m["activity"]:
            attrs["activity"] = m["activity"]
        return _identifier(m["id"]), attrs
    return _identifier(text), {}


# -- How processes end ----------------------------------------------------------------------

# `app.terminated` reasons, from the words a crash report, an exit status or the kernel uses.
# The first that matches wins: a watchdog kill is also an EXC_CRASH (SIGKILL).
_REASONS = (
    ("watchdog", re.compile(r"0x8badf00d|\b2343432205\b", re.IGNORECASE)),
    ("file_lock", re.compile(r"0xdead10cc|\b3735883980\b", re.IGNORECASE)),
    ("memory", re.compile(r"\bjetsam|JETSAM|per-process-limit|RESOURCE_TYPE_MEMORY|"
                          r"EXC_RESOURCE[^\n]*\n?[^\n]*MEMORY")),
    ("cpu", re.compile(r"CPU_FATAL|RESOURCE_TYPE_CPU[^\n]*FATAL")),
    ("signal", re.compile(r"SIGKILL|SIGTERM|SIGQUIT|Killed: 9|\bSIGNAL,? (?:Code )?(?:9|15)\b")),
    ("crash", re.compile(r"EXC_BAD_ACCESS|EXC_BREAKPOINT|EXC_BAD_INSTRUCTION|EXC_ARITHMETIC|"
                         r"EXC_GUARD|EXC_CRASH|SIG(?:SEGV|ABRT|BUS|ILL|TRAP|FPE|SYS|PIPE)|"
                         r"Abort trap|Segmentation fault|Bus error|Illegal instruction")),
)  # fmt: skip
_NOT_FATAL = re.compile(r"EXC_RESOURCE")  # a resource report that names no kill: app lives on


def _termination_reason(text: str) -> str | None:
    return next((reason for reason, pattern in _REASONS if pattern.search(text)), None)


_CRASH_LINE = re.compile(r"^[ \t]*([A-Za-z/ ]+?):[ \t]*(\S[^\n]*)$", re.MULTILINE)
_CRASH_PROCESS = re.compile(r"(?P<name>.+?) \[(?P<pid>\d+)\]")


def _crash_attrs(_: re.Match[str], message: str) -> dict[str, Any] | None:
    """A crash report's fields → reason, bundle, pid; None for a non-fatal resource report."""
    fields: dict[str, str] = {}
    for name, value in _CRASH_LINE.findall(message):
        fields.setdefault(name, value.strip())
    summary = "\n".join(
        fields.get(name, "")
        for name in ("Exception Type", "Exception Subtype", "Exception Codes",
                     "Termination Reason", "Termination Signal", "Termination Description")
    )  # fmt: skip
    reason = _termination_reason(summary)
    if reason is None and _NOT_FATAL.search(summary):
        return None
    attrs: dict[str, Any] = {} if reason is None else {"reason": reason}
    for key, name in (("exception", "Exception Type"), ("termination", "Termination Reason")):
        if name in fields:
            attrs[key] = fields[name]
    process = _CRASH_PROCESS.match(fields.get("Process", ""))
    if process:
        attrs["name"], attrs["pid"] = process["name"], int(process["pid"])
    if "Identifier" in fields:
        attrs["bundle"] = fields["Identifier"]
    return attrs


_APP_PROCESS = re.compile(r"\bapp(?:lication)?<(?P<bundle>[^>(]+)(?:\([^)]*\))?>:(?P<pid>\d+)")
_EXIT_STATUS = re.compile(r"status:<RBSProcessExitStatus\| (?P<status>[^>]*)>")


def _exit_attrs(m: re.Match[str], message: str) -> dict[str, Any] | None:
    """An RBS exit context → reason (or `exit: voluntary`), bundle, pid; None if not an app's."""
    app = _APP_PROCESS.search(message)
    if app is None:
        return None
    context = m["context"]
    attrs: dict[str, Any] = {"bundle": app["bundle"], "pid": int(app["pid"])}
    reason = _termination_reason(context)
    if reason:
        attrs["reason"] = reason
    elif "voluntary" in context:
        attrs["exit"] = "voluntary"
    status = _EXIT_STATUS.search(context)
    if status:
        attrs["status"] = status["status"]
    return attrs


# -- Messages -------------------------------------------------------------------------------

# What stands for a task in a message: a placeholder, a description `<BG…Task: id>`, an id.
_PLACEHOLDER = r"<decode: missing data>|<private>|\(null\)"
_REF = rf"(?P<ref>{_PLACEHOLDER}|<BG\w+: [^>]*>|[^\s<>(),'\"]+)"
_TASK = rf"(?P<ref>{_PLACEHOLDER}|<BG\w+: [^>]*>|…)"  # where the framework prints a description
_ACT = r"(?P<ref>bg(?:Refresh|Processing|ContinuedProcessing)-[^\s,\"<>()]+)"
_ACTS = ("bgRefresh-", "bgProcessing-", "bgContinuedProcessing-")  # what dasd's forms need
_RB_APP = r"\[app(?:lication)?<(?P<bundle>[^>(]+)(?:\([^)]*\))?>:(?P<pid>\d+)\]"
_DASD = frozenset({"", "dasd"})
_KERNEL = frozenset({"", "kernel"})
_BARE = frozenset({""})  # bare text only: only a header names a process

# Attrs taken from a pattern's named groups other than `ref`; str unless converted here.
_CONVERT: dict[str, Callable[[str], Any]] = {
    "code": int,
    "pid": int,
    "id": int,
    "priority": int,
    "reasons": int,
    "cards": int,
    "percent": int,
    "success": lambda flag: flag != "0",
    "dynamic": lambda _: True,
}

_More = Callable[[re.Match[str], str], "dict[str, Any] | None"]


@dataclass(frozen=True, slots=True)
class _Rule:
    """One message form: the literal `triggers` that admit it, and what it means."""

    triggers: tuple[str, ...]
    pattern: re.Pattern[str]
    kind: str
    source: str  # who says it when the record does not name its sender
    processes: frozenset[str] | None  # only from these processes ("" = bare text), or any
    attrs: Mapping[str, Any] = field(default_factory=dict)
    per_activity: bool = False  # one event per dasd activity in `ref` (an NSSet of them)
    more: _More | None = None  # more attrs from the whole message; None from it: not this form
    groups: tuple[tuple[str, Callable[[str], Any] | None], ...] = ()  # attrs from groups
    has_ref: bool = False  # the pattern names the task in group `ref`


def _rule(
    triggers: str | tuple[str, ...],
    pattern: str,
    kind: str,
    source: str = "framework",
    processes: frozenset[str] | None = None,
    per_activity: bool = False,
    more: _More | None = None,
    **attrs: Any,
) -> _Rule:
    triggers = (triggers,) if isinstance(triggers, str) else triggers
    for trigger in triggers:
        assert trigger, "a rule needs a trigger literal"
    compiled = re.compile(pattern, re.DOTALL)
    names = [name for name in compiled.groupindex if name not in ("ref", "context")]
    groups = tuple((name, _CONVERT.get(name)) for name in names)
    has_ref = "ref" in compiled.groupindex
    return _Rule(
        triggers, compiled, kind, source, processes, attrs, per_activity, more, groups, has_ref
    )


_RULES = (
    # BackgroundTasks.framework in the app (the BGTaskScheduler.mm format strings).
    _rule(("ForTaskWithIdentifier: ", "ForTaskWithDynamicIdentifier: "),
          rf"registerForTaskWith(?P<dynamic>Dynamic)?Identifier: {_REF}", "task.registered"),
    _rule("egistration rejected; ", rf"\bRegistration rejected; {_REF} is not advertised",
          "task.registration_error", reason="not_permitted"),
    _rule("egistration rejected; ",
          rf"Dynamic registration rejected; {_REF} is not a well-formed identifier",
          "task.registration_error", reason="not_permitted", dynamic=True),
    _rule("application's Info.plist",
          rf"{_REF} is not advertised in the application's Info\.plist", "task.submit_failed",
          code=3),
    _rule("for task with identifier ",
          rf"Launch handler for task with identifier {_REF} has already been registered",
          "task.registration_error", reason="duplicate"),
    _rule("for task with identifier ",
          rf"No launch handler registered for task with identifier {_REF}",
          "task.registration_error", reason="no_handler"),
    _rule("for task with identifier ", rf"Simulating launch for task with identifier {_REF}",
          "task.simulate_launch"),
    _rule("for task with identifier ",
          rf"Simulating expiration for task with identifier {_REF}", "task.simulate_expire"),
    _rule("registered before",
          r"All launch handlers must be registered before application finishes launching",
          "task.registration_error", reason="too_late"),
    _rule("TaskRequest:", rf"submitTaskRequest:(?:completionHandler:)? {_REF}",
          "task.submitted"),
    _rule("Error submitting task request: ",
          rf"Error submitting task request: {_REF}, error: "
          r"(?:.*?BGTaskSchedulerErrorDomain Code=(?P<code>\d+))?",
          "task.submit_failed"),
    _rule("BGTaskSchedulerErrorDomain",
          r"BGTaskSchedulerErrorDomain(?: Code=| error )(?P<code>\d+)", "task.submit_failed",
          source="app"),
    _rule("requested an unsupported set of resources",
          rf"{_REF} requested an unsupported set of resources: (?P<resources>[^\n]*)",
          "task.submit_failed", code=1),
    _rule("TaskRequestWithIdentifier: ", rf"cancelTaskRequestWithIdentifier: {_REF}",
          "task.canceled"),
    _rule("AllTaskRequests", r"\AcancelAllTaskRequests\s*\Z", "task.canceled", all=True),
    _rule("No task request with identifier ",
          rf"No task request with identifier {_REF} has been scheduled",
          "task.simulate_rejected", reason="no_pending_request"),
    _rule("Task with identifier ", rf"Task with identifier {_REF} is already running",
          "task.simulate_rejected", reason="already_running"),
    _rule("Task with identifier ",
          rf"Task with identifier {_REF} is not currently being simulated",
          "task.simulate_rejected", reason="not_simulated"),
    _rule("No expiration handler for task: ", rf"No expiration handler for task: {_TASK}",
          "task.simulate_rejected", reason="no_expiration_handler"),
    _rule("Running task: ", rf"Running task: {_TASK}", "task.launched"),
    _rule("Starting simulated task: ", rf"Starting simulated task: {_TASK}", "task.launched",
          simulated=True),
    _rule("Starting task: ", rf"Starting task: {_TASK}", "task.launched", simulated=False),
    _rule("Handling launch from daemon for activities: ",
          r"Handling launch from daemon for activities: (?P<ref>.*)", "task.launched",
          per_activity=True, simulated=False),
    _rule("Expiring simulated task: ", rf"Expiring simulated task: {_TASK}", "task.expired",
          simulated=True),
    _rule("Expiring task: ", rf"Expiring task: {_TASK}", "task.expired"),
    _rule("Marking simulated task complete: ", rf"Marking simulated task complete: {_TASK}",
          "task.completed", simulated=True),
    _rule("Marking task ", rf"Marking task {_TASK} complete with success: (?P<success>\d)",
          "task.completed"),
    _rule("Client didn't provide an expiration handler for task ",
          rf"Client didn't provide an expiration handler for task {_REF}, completing with NO",
          "task.completed", success=False, no_expiration_handler=True),
    # dasd. Submissions and cancellations of system activities are not ours: bg… only.
    _rule(_ACTS,
          rf"\b(?:Submitted|SUBMITTED)(?: [Aa]ctivity)?:? (?:<_DASActivity: \"?)?{_ACT}"
          r"(?: at priority (?P<priority>\d+))?",
          "task.submitted", source="dasd", processes=_DASD),
    _rule(_ACTS, rf"\bCANCELED:? (?:<_DASActivity: \"?)?{_ACT}", "task.canceled",
          source="dasd", processes=_DASD),
    # facts B3 [M]: a user Stop shows as `ActivityExpirationEvent(… reasons: 1048576)`.
    _rule("ActivityExpirationEvent(",
          rf"ActivityExpirationEvent\([^\n]*?{_ACT}[^\n]*?reasons: (?P<reasons>\d+)",
          "task.expiration_reason", source="dasd", processes=_DASD),
    # The virtual iPhone's Live Activity cards (iOS's own lines for them are not known).
    _rule(" cards=", r"\Acard (?P<ref>\S+): (?P<state>\w+) cards=(?P<cards>\d+)"
          r"(?: percent=(?P<percent>\d+))?", "task.card", source="virtual",
          processes=frozenset({"bgharness-virtual"})),
    _rule("NO LONGER RUNNING ", rf"NO LONGER RUNNING (?:{_ACT}|\S)", "task.no_longer_running",
          source="dasd", processes=_DASD),
    # SpringBoard, RunningBoard (assertiond before iOS 14), the kernel, crash reports.
    _rule("SBWorkspaceTerminateApplication: ",
          r"SBWorkspaceTerminateApplication: (?P<bundle>[^\s:]+): \"killed from app switcher\"",
          "app.terminated", source="springboard", reason="user_force_quit"),
    _rule("Removing assertions for terminated process: ",
          rf"Removing assertions for terminated process: {_RB_APP}", "app.terminated",
          source="runningboard"),
    _rule("Executing launch request for app",
          r"Executing launch request for app(?:lication)?<(?P<bundle>[^>(]+)", "app.launched",
          source="runningboard"),
    _rule("] Suspending task.", rf"{_RB_APP} Suspending task\.", "app.suspended",
          source="runningboard"),
    _rule("] Resuming task.", rf"{_RB_APP} Resuming task\.", "app.resumed",
          source="runningboard"),
    _rule("<RBSProcessExitContext|",
          r"(?:Process exited|exited with context):? [^\n]*?<RBSProcessExitContext\|"
          r"(?P<context>[^\n]*)", "app.terminated", source="runningboard", more=_exit_attrs),
    _rule("assertions beyond permitted time",
          r"<BKNewProcess: [^;]*; (?:(?P<bundle>[\w.-]+)|[^;]*); pid: (?P<pid>\d+)[^>]*> "
          r"has active assertions beyond permitted time",
          "app.terminated", source="runningboard", reason="watchdog"),
    _rule("(finishTask:", r"\A<BKProcessAssertion: [^>]*\(finishTask:\d+s\)",
          "app.terminated", source="runningboard", reason="watchdog"),
    _rule("memorystatus: kill",
          r"memorystatus: killing_\w+ (?:pid (?P<pid>\d+) )?\[(?P<name>[^\]\n]+)\]"
          r"(?: \((?P<cause>[\w-]+))?", "app.terminated", source="kernel",
          processes=_KERNEL, reason="memory"),
    _rule("memorystatus: kill",
          r"memorystatus: killing largest compressed process (?P<name>\S+) \[(?P<pid>\d+)\]",
          "app.terminated", source="kernel", processes=_KERNEL, reason="memory"),
    _rule(("Exception Type:", "Termination Reason:"),
          r"(?m)^[ \t]*(?:Exception Type|Termination Reason):", "app.terminated", source="app",
          processes=_BARE, more=_crash_attrs),
    # UIKit background time (beginBackgroundTask) in the app.
    _rule("Background Task ",
          r"Background Task (?P<id>\d+) \(\"(?P<name>.*?)\"\), was created over 30 seconds ago",
          "bgtime.overdue", source="app"),
    _rule("Background task still not",
          r"Background task still not\s+ended after expiration handlers were called"
          r"(?:.*?taskID = (?P<id>\d+),\s*taskName = (?P<name>.*?),\s*creationTime)?",
          "bgtime.expired_not_ended", source="app"),
    _rule("Can't end BackgroundTask: ",
          r"Can't end BackgroundTask: no background task exists with identifier (?P<id>\d+)",
          "bgtime.end_error", source="app"),
    # Background URLSession, keychain, GPU.
    _rule("BackgroundSession <",
          r"BackgroundSession <(?P<session>[^>]+)> connection to background transfer daemon "
          r"interrupted",
          "urlsession.disconnected", source="app"),
    _rule("A background URLSession with identifier ",
          r"A background URLSession with identifier (?P<session>\S+) already exists",
          "urlsession.misuse", source="app", problem="duplicate_session"),
    _rule("Completion handler blocks are not supported in background sessions",
          r"Completion handler blocks are not supported in background sessions",
          "urlsession.misuse", source="app", problem="completion_handler"),
    _rule(("User interaction is not allowed", "InteractionNotAllowed", "-25308"),
          r"User interaction is not allowed|errSecInteractionNotAllowed|(?<!\d)-25308(?!\d)",
          "keychain.locked", source="app"),
    _rule(("BackgroundExecutionNotPermitted", "ork from background)"),
          r"BackgroundExecutionNotPermitted|"
          r"Insufficient Permission \(to submit GPU [Ww]ork from background\)",
          "gpu.denied", source="app"),
    # lldb's own output: a transcript, not a device record.
    _rule("error: ", r"\A[ \t]*(?P<message>error: [^\n]*)", "debugger.error", source="lldb",
          processes=_BARE),
    _rule("Couldn't resolve the class", r"(?P<message>[^\n]*Couldn't resolve the class[^\n]*)",
          "debugger.error", source="lldb", processes=_BARE),
)  # fmt: skip

_BY_TRIGGER: dict[str, list[_Rule]] = {}
for _r in _RULES:
    for _t in _r.triggers:
        _BY_TRIGGER.setdefault(_t, []).append(_r)

# -- Triggers -------------------------------------------------------------------------------

TRIGGERS: tuple[str, ...] = tuple(sorted({*_BY_TRIGGER, PROBE_PREFIX}))
"""Every literal a message must contain to hold an event: the parser's pre-filter."""

# Each trigger is found by a key character it holds. A message is scanned with one regex whose
# alternatives all start with a key, so re skips every other character in C (a trie of all the
# triggers made it try some 40 words at each position). A byte block gets one scan per common
# key (re's C loop beats a Python loop over its hits), a memchr loop per rare key with a check
# at each hit, and a whole-text scan for a trigger holding neither; in a message, such a
# trigger is keyed by its rarest character. Forms that count only at the start of a bare line
# (lldb's errors, crash-report fields) are looked for only there.
_COMMON_KEYS = "kg"
_RARE_KEYS = "'|"  # bytes rare in any log; a trigger with neither is scanned for whole
_RARER_FIRST = "'|KqxzjQXZJVWYHLUGNy-"  # a keyless trigger's key in a message: the first held
_AT_LINE_START = ("error: ", "Exception Type:", "Termination Reason:")


class _Plan(NamedTuple):
    """Which key finds each trigger."""

    common: dict[str, list[str]]
    rare: dict[str, list[str]]
    whole: list[str]


def _plan(triggers: Iterable[str]) -> _Plan:
    plan = _Plan({}, {}, [])
    for trigger in triggers:
        assert trigger.isascii(), "triggers are matched in bytes as well as in text"
        if trigger in _AT_LINE_START:
            continue
        key = next((k for k in _COMMON_KEYS if k in trigger), None)
        if key is not None:
            plan.common.setdefault(key, []).append(trigger)
            continue
        key = next((k for k in _RARE_KEYS if k in trigger), None)
        if key is not None:
            plan.rare.setdefault(key, []).append(trigger)
        else:
            plan.whole.append(trigger)
    return plan


def _trie(pairs: Iterable[tuple[str, str]]) -> str:
    """A regex for any word of `pairs`, each followed by its own tail regex; a prefix trie."""
    tails: list[str] = []
    by_first: dict[str, list[tuple[str, str]]] = {}
    for word, tail in pairs:
        if word:
            by_first.setdefault(word[0], []).append((word[1:], tail))
        else:
            tails.append(tail)
    branches = [re.escape(first) + _trie(rest) for first, rest in sorted(by_first.items())]
    branches += tails
    return branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"


def _keyed(key: str, triggers: Iterable[str], leaf: Callable[[str], str]) -> str:
    """A regex whose match starts at `key` in any of `triggers` and ends after it.

    After the key come the rest of the trigger, then a look back at the whole of it.
    """
    pairs = [
        (trigger[trigger.index(key) + 1 :], f"(?<={re.escape(trigger)})" + leaf(trigger))
        for trigger in triggers
    ]
    return re.escape(key) + _trie(pairs)


_LINE_START_TEXT = "[ \t]*"  # in a message, lines have lost their lldb prompts already
_PLAN = _plan(TRIGGERS)
_LEAVES: dict[str, str] = {}  # group name → trigger


def _leaf(trigger: str) -> str:
    name = f"t{len(_LEAVES)}"
    _LEAVES[name] = trigger
    return f"(?P<{name}>)"


def _message_pattern() -> re.Pattern[str]:
    by_key: dict[str, list[str]] = {}
    for key, triggers in (*_PLAN.common.items(), *_PLAN.rare.items()):
        by_key.setdefault(key, []).extend(triggers)
    for trigger in _PLAN.whole:
        key = next((k for k in _RARER_FIRST if k in trigger), trigger[0])
        by_key.setdefault(key, []).append(trigger)
    branches = [_keyed(key, triggers, _leaf) for key, triggers in by_key.items()]
    at_line = _trie((trigger, _leaf(trigger)) for trigger in _AT_LINE_START)
    branches.append("\n" + _LINE_START_TEXT + at_line)
    return re.compile("|".join(branches))


_MESSAGE_TRIGGERS = _message_pattern()
_AT_START = re.compile(_LINE_START_TEXT + _trie((t, _leaf(t)) for t in _AT_LINE_START))


def _triggers_in(message: str) -> Iterator[str]:
    """The triggers in `message`, in the order the rules are tried: its start, then by key."""
    start = _AT_START.match(message)
    if start:
        yield _LEAVES[start.lastgroup]  # type: ignore[index]
    for hit in _MESSAGE_TRIGGERS.finditer(message):
        yield _LEAVES[hit.lastgroup]  # type: ignore[index]


def _has_trigger(text: str, start: int = 0) -> bool:
    """Whether a record's text (from `start`) holds a trigger: a superset of `_triggers_in`."""
    found = _MESSAGE_TRIGGERS.search(text, start)
    return found is not None or _AT_START.match(text, start) is not None


_DAEMONS = {
    "dasd": "dasd",
    "SpringBoard": "springboard",
    "runningboardd": "runningboard",
    "assertiond": "runningboard",
    "kernel": "kernel",
    "lldb": "lldb",
    "bgharness-virtual": "virtual",
}
_FRAMEWORK_IMAGES = frozenset({"BackgroundTasks", "DuetActivityScheduler"})

# kind, task, attrs, source: an event before it is given its record.
_Finding = tuple[str, "str | None", dict[str, Any], str]


def _source(process: str, subsystem: str, image: str, usual: str) -> str:
    """Who said it: the record's sender, or the message's `usual` sender when it names none."""
    if subsystem == PROBE_SUBSYSTEM:
        return "probe"
    if process in _DAEMONS:
        return _DAEMONS[process]
    if subsystem == "com.apple.BackgroundTasks" or image in _FRAMEWORK_IMAGES:
        return "framework"
    return usual if not subsystem and not image else "app"


def _apply(
    rule: _Rule, m: re.Match[str], message: str, detail: bool = True
) -> list[tuple[str | None, dict]] | None:
    """(task, attrs) for each event `rule` found in match `m`; None when `rule.more` declines.

    Without `detail` only the number of events is right (tasks None, attrs empty): counting
    needs no more, and building attrs was most of the cost of a relevant line.
    """
    more = None
    if rule.more is not None:
        more = rule.more(m, message)
        if more is None:
            return None
    ref = m["ref"] if rule.has_ref else None
    refs = [a.group() for a in _ACTIVITY.finditer(ref)] if ref and rule.per_activity else [ref]
    if not detail:
        return [(None, _NO_ATTRS)] * len(refs)
    attrs = dict(rule.attrs)
    for name, convert in rule.groups:
        value = m[name]
        if value is not None:
            attrs[name] = value if convert is None else convert(value)
    if more:
        attrs.update(more)
    if ref is None:
        return [(None, attrs)]
    found = []
    for one in refs:
        task, ref_attrs = _ref(one)
        found.append((task, {**ref_attrs, **attrs}))
    return found


_NO_ATTRS: dict[str, Any] = {}


def _probe(message: str) -> list[_Finding]:
    """The event a probe app reported as `bgprobe {json}`; none when it is malformed."""
    try:
        report = json.loads(message[len(PROBE_PREFIX) :])
    except (ValueError, RecursionError):
        return []
    if not isinstance(report, dict):
        return []
    kind, task = report.get("event"), report.get("task")
    if not isinstance(kind, str) or kind not in KINDS:
        return []
    if task is not None and not isinstance(task, str):
        return []
    attrs = {k: v for k, v in report.items() if k not in ("event", "task")}
    return [(kind, task, attrs, "probe")]


def _findings(
    process: str, subsystem: str, image: str, message: str, detail: bool = True
) -> list[_Finding]:
    """The events in one record's message, before they are given the record (see `_apply`)."""
    if message.startswith(PROBE_PREFIX):
        return _probe(message)
    for trigger in _triggers_in(message):
        for rule in _BY_TRIGGER.get(trigger, ()):
            if rule.processes is not None and process not in rule.processes:
                continue
            m = rule.pattern.search(message)
            if m is None:
                continue
            found = _apply(rule, m, message, detail)
            if found is None:
                continue
            source = _source(process, subsystem, image, rule.source) if detail else ""
            return [(rule.kind, task, attrs, source) for task, attrs in found]
    return []


def _events(fields: _Fields, raw: str, found: list[_Finding]) -> list[Event]:
    time = None if fields[0] == NO_TIME else fields[0]
    pid = None if fields[2] == NO_PID else fields[2]
    return [
        Event(kind, task, time, source, fields[1], pid, attrs, raw)
        for kind, task, attrs, source in found
    ]


def parse_entry(entry: LogEntry) -> list[Event]:
    """The events in one log record (usually none or one); `raw` is its syslog line."""
    found = _findings(entry.process, entry.subsystem, entry.image, entry.message)
    if not found:
        return []
    fields = (entry.time, entry.process, entry.pid, entry.message, entry.subsystem,
              entry.category, entry.level, entry.image)  # fmt: skip
    return _events(fields, entry.syslog_line(), found)


# What counting found in a (process, message): logs say the same thing many times over, and
# without `detail` the findings hold nothing that depends on more (nor anything mutable).
_COUNTED: dict[tuple[str, str], list[_Finding]] = {}
_COUNTED_MAX = 1 << 16


def _text_findings(
    lines: Iterable[str], prefilter: bool = True, detail: bool = True, light: bool = False
) -> Iterator[tuple[_Fields, str, list[_Finding]]]:
    """Each record of `lines` that holds events: its fields, its text and what it holds.

    With `prefilter`, a record with no trigger after its header is dropped before its fields
    are even built (a JSON record is always read: its message may spell a trigger with
    escapes). The fast path turns it off: nearly every record it reads holds an event. With
    `light`, the fields are process and message only; `detail` is `_apply`'s.
    """
    for header, text in _records(lines):
        if header is None:
            if prefilter and not _has_trigger(text):
                continue
            fields: _Fields = (NO_TIME, "", NO_PID, text, "", "", "NOTICE", "")
        else:
            (_, build, build_light), found = header
            if prefilter and isinstance(found, re.Match) and not _has_trigger(text, found.end()):
                continue
            if light:
                process, message = build_light(found, text)
                fields = (NO_TIME, process, NO_PID, message, "", "", "NOTICE", "")
            else:
                fields = build(found, text)
        if detail:
            events = _findings(fields[1], fields[4], fields[7], fields[3])
        else:
            key = fields[1], fields[3]
            events = _COUNTED.get(key)  # type: ignore[assignment]
            if events is None:
                if len(_COUNTED) >= _COUNTED_MAX:
                    _COUNTED.clear()
                events = _COUNTED[key] = _findings(*key[:1], "", "", key[1], detail=False)
        if events:
            yield fields, text, events


def parse_lines(lines: Iterable[str]) -> Iterator[Event]:
    """The events in log text: `parse_entry` over `read_entries`, with `raw` the record's text."""
    for fields, text, found in _text_findings(lines):
        yield from _events(fields, text, found)


# -- Choosing events ------------------------------------------------------------------------


class UnknownKind(ValueError):
    """A kind that is none of DESIGN.md's (harness.events.KINDS) nor a prefix of some."""

    def __init__(self, name: str):
        self.name = name
        super().__init__(f"unknown event kind {name!r}")


def kinds_named(names: Iterable[str]) -> frozenset[str]:
    """The kinds `names` mean: a kind, or a family given as its prefix (`task.` or `task`)."""
    kinds: set[str] = set()
    for name in names:
        if name in KINDS:
            kinds.add(name)
            continue
        prefix = name if name.endswith(".") else name + "."
        family = {kind for kind in KINDS if kind.startswith(prefix)}
        if not family:
            raise UnknownKind(name)
        kinds |= family
    return frozenset(kinds)


_CLOCK = re.compile(r"(?P<clock>\d\d?:\d\d(?::\d\d(?:\.\d+)?)?)(?P<zone>Z|[+-]\d\d:?\d\d)?\Z")


class Since(NamedTuple):
    """A start time: a moment, or a time of day (with its zone) on the date of a log."""

    at: float | None = None
    clock: time | None = None


def parse_since(text: str) -> Since:
    """`--since`: ISO 8601 (`2026-01-05T09:00`, `2026-01-05 09:00:00+02:00`) or a time of day.

    A time of day (`09:30`, `09:30:15.5`, `09:30+02:00`) is on the date, in its zone, of the
    first event that has a time: a log file's date is its own, not today's. Without a zone a
    time is UTC, as the table shows times and as the parser reads zoneless stamps. Raises
    ValueError for anything else.
    """
    text = text.strip()
    clock = _CLOCK.match(text)
    if clock:
        hours = clock["clock"] if clock["clock"][2:3] == ":" else "0" + clock["clock"]
        zone = clock["zone"] if clock["zone"] not in (None, "Z") else "+00:00"
        return Since(clock=time.fromisoformat(hours + zone))
    moment = datetime.fromisoformat(text)
    return Since(at=(moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())


class _Timed(Protocol):
    @property
    def kind(self) -> str: ...
    @property
    def task(self) -> str | None: ...
    @property
    def time(self) -> float | None: ...


_T = TypeVar("_T", bound=_Timed)
_ANY_TIME = Since()


@dataclass(frozen=True)
class Selection:
    """Which events a reader asked for: kinds (None: all), one task, and a start time."""

    kinds: frozenset[str] | None = None
    task: str | None = None
    since: Since = _ANY_TIME

    def select(self, events: Iterable[_T]) -> Iterator[_T]:
        """The events asked for, in order. With a start time, an event without one is dropped."""
        kinds, task, clock = self.kinds, self.task, self.since.clock
        timed = self.since != _ANY_TIME
        at = self.since.at
        for event in events:
            if kinds is not None and event.kind not in kinds:
                continue
            if task is not None and event.task != task:
                continue
            if timed:
                if event.time is None:
                    continue
                if at is None and clock is not None:
                    day = datetime.fromtimestamp(event.time, clock.tzinfo).date()
                    at = datetime.combine(day, clock).timestamp()
                if at is not None and event.time < at:
                    continue
            yield event


# -- The fast path --------------------------------------------------------------------------

_ALWAYS = (b"\x1b", b"\\")  # a line holding these may show the rules other text than its bytes
_LINE_START = rb"(?=[(\t eET])(?:\(lldb\) )*[ \t]*(?:error: |Exception Type:|Termination Reason:)"
_DENSE = 512  # a block with a hit every this many bytes is read line by line, whole
_PROBE = 1 << 16  # how much of a block shows whether it is that dense


@dataclass(frozen=True)
class _Scan:
    """How to find every trigger in a block of bytes (see Triggers)."""

    common: tuple[re.Pattern[bytes], ...]  # a match starts at a trigger's key byte
    rare: tuple[tuple[bytes, tuple[tuple[bytes, int], ...]], ...]  # key, (trigger, key offset)
    whole: tuple[re.Pattern[bytes], ...]  # short triggers with no key byte
    long: tuple[bytes, ...]  # long ones: bytes.find skips ahead by their length
    line_start: re.Pattern[bytes]  # a form that counts only at a line start, after a newline


_LONG = 12  # from this length, bytes.find outruns re on a trigger with no key


def _byte_scan(plan: _Plan) -> _Scan:
    def bytes_re(pattern: str) -> re.Pattern[bytes]:
        return re.compile(pattern.encode())

    return _Scan(
        common=tuple(bytes_re(_keyed(k, ts, lambda _: "")) for k, ts in plan.common.items()),
        rare=tuple(
            (key.encode(), tuple((t.encode(), t.index(key)) for t in triggers))
            for key, triggers in plan.rare.items()
        ),
        whole=tuple(bytes_re(re.escape(t)) for t in plan.whole if len(t) < _LONG),
        long=tuple(t.encode() for t in plan.whole if len(t) >= _LONG),
        line_start=re.compile(b"\n" + _LINE_START),
    )


_SCAN = _byte_scan(_PLAN)
_AT_BLOCK_START = re.compile(_LINE_START)


def _hits(block: bytes, size: int) -> tuple[list[int], bool]:
    """Where triggers (or bytes that hide them) start in `block[:size]`, sorted; a superset.

    Also whether the block is dense with them: then the scan stops early, as the whole block
    will be read.
    """
    dense = size // _DENSE
    probe = min(size, _PROBE)
    if size > _PROBE and len(_SCAN.common[0].findall(block, 0, probe)) > probe // _DENSE:
        return [], True  # a log this dense is read whole: scanning the rest would be waste
    hits: list[int] = []
    for pattern in _SCAN.common:
        hits += [m.start() for m in pattern.finditer(block, 0, size)]
        if len(hits) > dense:
            return hits, True
    for pattern in _SCAN.whole:
        hits += [m.start() for m in pattern.finditer(block, 0, size)]
    hits += [m.start() + 1 for m in _SCAN.line_start.finditer(block, 0, size)]
    if _AT_BLOCK_START.match(block, 0, size):
        hits.append(0)
    for key, checks in _SCAN.rare:
        hits += _rare_hits(block, size, key, checks)
    find = block.find
    for trigger in (*_SCAN.long, *_ALWAYS):
        at = find(trigger, 0, size)
        while at != -1:
            hits.append(at)
            at = find(trigger, at + 1, size)
    hits.sort()
    return hits, len(hits) > dense


def _rare_hits(
    block: bytes, size: int, key: bytes, checks: tuple[tuple[bytes, int], ...]
) -> list[int]:
    """Where the triggers of a rare key start: memchr to each key byte, then a look."""
    find, startswith, hits = block.find, block.startswith, []
    if len(checks) == 1:
        ((trigger, offset),) = checks
        at = find(key, offset, size)
        while at != -1:
            if startswith(trigger, at - offset):
                hits.append(at - offset)
            at = find(key, at + 1, size)
        return hits
    at = find(key, 0, size)
    while at != -1:
        for trigger, offset in checks:
            if at >= offset and startswith(trigger, at - offset):
                hits.append(at - offset)
                break
        at = find(key, at + 1, size)
    return hits


# The first container's header in bytes: a `syslog live` line it matches is a header without
# being decoded and cleaned (cleaning only drops what this checks is not there).
_SYSLOG_LIVE_BYTES = re.compile(_SYSLOG_LIVE.pattern.encode(), re.ASCII)


def _is_header(block: bytes, start: int) -> bool:
    """Whether the line at `start` begins a record with a header (see `_line`)."""
    end = block.find(b"\n", start)
    if end == -1:
        end = len(block)
    if _SYSLOG_LIVE_BYTES.match(block, start, end) and block.find(b"\x1b", start, end) == -1:
        return True
    return _line(block[start:end].decode("utf-8", "replace"))[1] is not None


def _regions(block: bytes, size: int) -> Iterator[bytes]:
    """The parts of `block[:size]` (which starts a record) that hold every record with a trigger.

    A hit's region runs from the header line at or before it to the next header line: a header
    always starts a record, so a region is whole records, and no trigger outside one can be in
    a record with a header inside it. Where hits are dense, the block is one region.
    """
    hits, dense = _hits(block, size)
    if dense:
        yield block[:size]
        return
    done = 0
    for hit in hits:
        if hit < done:
            continue
        start = block.rfind(b"\n", 0, hit) + 1
        while start > 0 and not _is_header(block, start):
            start = block.rfind(b"\n", 0, start - 1) + 1
        end = block.find(b"\n", hit, size) + 1 or size
        while end < size and not _is_header(block, end):
            end = block.find(b"\n", end, size) + 1 or size
        yield block[start:end]
        done = end


class Readable(Protocol):
    """What the fast path reads: a binary file, a pipe, or `_Blocks` (anything with readinto)."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...


_ReadInto = Callable[[memoryview], "int | None"]


class _Blocks:
    """Byte blocks, cut anywhere, read as a file: `parse_blocks` and a file share one reader."""

    def __init__(self, blocks: Iterable[bytes]):
        self._blocks = iter(blocks)
        self._pending = memoryview(b"")

    def readinto(self, buffer: memoryview, /) -> int:
        while not self._pending:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._pending = memoryview(block)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


BLOCK = 1 << 22  # bytes read at a time: enough that scanning, not Python, is what costs


def _last_record_start(buffer: bytearray, size: int) -> int:
    """Where the last whole line of `buffer[:size]` that starts a record begins; 0 if none."""
    last = buffer.rfind(b"\n", 0, size)  # what follows this newline may be incomplete
    start = buffer.rfind(b"\n", 0, last) + 1 if last > 0 else 0
    while start > 0 and not _is_header(buffer, start):
        start = buffer.rfind(b"\n", 0, start - 1) + 1
    return start


def _record_blocks(read_into: _ReadInto) -> Iterator[tuple[bytearray, int]]:
    """What `read_into` gives, in pieces that each start a record (at a header, or the start).

    A piece is `(buffer, size)`, the piece being `buffer[:size]`: one buffer is filled again
    and again (a fresh block each read cost a tenth of the time), so a piece must be done
    with before the next is asked for. It ends before the last whole header line read; the
    rest waits for more. What holds no header line at all waits whole (the buffer grows), so
    bare text is never cut apart.
    """
    buffer, have = bytearray(BLOCK), 0
    while True:
        if have == len(buffer):
            buffer.extend(bytes(len(buffer)))
        with memoryview(buffer) as view, view[have:] as free:
            read = read_into(free)
        if not read:
            break
        have += read
        cut = _last_record_start(buffer, have)
        if cut > 0:
            yield buffer, cut
            buffer[: have - cut] = buffer[cut:have]
            have -= cut
    if have:
        yield buffer, have


def _block_findings(
    read_into: _ReadInto, detail: bool = True, light: bool = False
) -> Iterator[tuple[_Fields, str, list[_Finding]]]:
    for block, size in _record_blocks(read_into):
        for region in _regions(block, size):
            lines = _split(region.decode("utf-8", "replace"))
            yield from _text_findings(lines, prefilter=False, detail=detail, light=light)


def parse_file(file: Readable, follow: bool = False) -> Iterator[Event]:
    """The events in a log file (opened binary) or pipe: `parse_lines`' events, read fast.

    Lines are split at `\\n` only (a `\\r` before it is dropped); bytes that are not UTF-8 are
    replaced, as a text file opened with `errors="replace"` would give them. With `follow`, what
    has arrived is read at once (`readinto1`): a pipe from a live log is never waited on for a
    whole block.
    """
    for fields, text, found in _block_findings(_reader(file, follow)):
        yield from _events(fields, text, found)


def parse_blocks(blocks: Iterable[bytes]) -> Iterator[Event]:
    """The events in a log given as UTF-8 byte blocks cut anywhere (see `parse_file`)."""
    return parse_file(_Blocks(blocks))


def _reader(file: Readable, follow: bool) -> _ReadInto:
    return getattr(file, "readinto1", file.readinto) if follow else file.readinto


class _Light(NamedTuple):
    kind: str
    task: str | None
    time: float | None


def _count(lines: Iterable[str], kinds: frozenset[str] | None) -> int:
    """How many events (of `kinds`) the records of `lines` hold: `--count`'s own loop.

    It is `_text_findings(lines, prefilter=False, detail=False, light=True)` counted, without
    the records' fields, which were a fifth of the time spent on a relevant line.
    """
    counted = 0
    for header, text in _records(lines):
        if header is None:
            key = "", text
        else:
            (_, _, light), found = header
            key = light(found, text)
        events = _COUNTED.get(key)
        if events is None:
            if len(_COUNTED) >= _COUNTED_MAX:
                _COUNTED.clear()
            events = _COUNTED[key] = _findings(key[0], "", "", key[1], detail=False)
        if events:
            counted += len(events) if kinds is None else sum(e[0] in kinds for e in events)
    return counted


def count_file(file: Readable, selection: Selection = Selection(), follow: bool = False) -> int:
    """How many of `parse_file`'s events `selection` picks, without building the events."""
    read_into = _reader(file, follow)
    if selection.task is None and selection.since == _ANY_TIME:
        return sum(
            _count(_split(region.decode("utf-8", "replace")), selection.kinds)
            for block, size in _record_blocks(read_into)
            for region in _regions(block, size)
        )
    timed = selection.since != _ANY_TIME
    findings = _block_findings(read_into, detail=selection.task is not None, light=not timed)
    lights = (
        _Light(kind, task, None if fields[0] == NO_TIME else fields[0])
        for fields, _, found in findings
        for kind, task, _, _ in found
    )
    return sum(1 for _ in selection.select(lights))


def count_blocks(blocks: Iterable[bytes], selection: Selection = Selection()) -> int:
    """How many of `parse_blocks`' events `selection` picks (see `count_file`)."""
    return count_file(_Blocks(blocks), selection)
