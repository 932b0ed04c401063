"""Containers and records: lines of pasted or streamed log text → `LogEntry`s.

The header forms each container writes (syslog live, JSON, Xcode, `log show`, idevicesyslog,
Console.app), how records run over several lines, and how their times are read. See the
package docstring for the forms and the rules for continuations.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from harness.core.events import LogEntry

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


_MAX_DIGITS = 20  # more than any pid, code or id a device logs: Python won't print 4,301


def number(text: str) -> int | str:
    """The integer a log writes as `text`, or `text` itself when too long to be one."""
    return int(text) if len(text) <= _MAX_DIGITS else text


def _pid(text: str) -> int:
    value = number(text)
    return value if isinstance(value, int) else NO_PID


_SECONDS: dict[tuple[str, str | None], int | None] = {}


def _second(stamp: str, zone: str | None) -> int | None:
    """Seconds since the epoch of a whole-second ISO stamp; UTC unless it names a zone.

    None where there is no such moment, or it lies outside the years 1 to 9999 in UTC.
    """
    try:
        moment = datetime.fromisoformat(stamp + (zone or ""))
        return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())
    except (ValueError, OverflowError):
        return None


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
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError):
        return NO_TIME


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
    return _epoch(stamp, zone), process, _pid(pid), message, subsystem, category, level, image


def _light_syslog_live(m: re.Match[str], text: str) -> tuple[str, str]:
    label = _LABEL.search(text, m.end())
    return m["process"], text[m.end() : None if label is None else label.start()]


def _light(m: re.Match[str], text: str) -> tuple[str, str]:
    """Process and message of a container whose message is the rest of the text."""
    return m["process"], text[m.end() :]


def _from_xcode(m: re.Match[str], text: str) -> _Fields:
    time = _epoch(m["stamp"], m["zone"])
    return time, m["process"], _pid(m["pid"]), text[m.end() :], "", "", "NOTICE", ""


def _from_log_show(m: re.Match[str], text: str) -> _Fields:
    return (
        _epoch(m["stamp"], m["zone"]), m["process"], _pid(m["pid"]), text[m.end() :],
        m["subsystem"] or "", m["category"] or "", _level(m["level"]), m["image"] or "",
    )  # fmt: skip


def _from_log_compact(m: re.Match[str], text: str) -> _Fields:
    level = _COMPACT_LEVELS.get(m["level"], m["level"].upper())
    return (
        _epoch(m["stamp"], None), m["process"], _pid(m["pid"]), text[m.end() :],
        m["subsystem"] or "", m["category"] or "", level, m["image"] or "",
    )  # fmt: skip


def _from_log_syslog(m: re.Match[str], text: str) -> _Fields:
    return (
        _epoch(m["stamp"], m["zone"]), m["process"], _pid(m["pid"]), text[m.end() :],
        m["subsystem"] or "", m["category"] or "", "NOTICE", m["image"] or "",
    )  # fmt: skip


def _from_idevicesyslog(m: re.Match[str], text: str) -> _Fields:
    day = f"{_NO_YEAR}-{_MONTHS[m['month']]:02d}-{int(m['day']):02d}"
    return (
        _epoch(f"{day} {m['clock']}", None), m["process"], _pid(m["pid"]), text[m.end() :],
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
    r"[ \t]*(?:> ?)?(?:Incident Identifier|CrashReporter Key|Hardware Model|Process|Path|"
    r"Identifier|Version|Code Type|Role|Parent Process|Coalition|Responsible Process|Date/Time|"
    r"Launch Time|"
    r"OS Version|Release Type|Baseband Version|Report Version|Exception Type|Exception Codes|"
    r"Exception Subtype|Exception Message|Exception Note|Exception Reason|Termination Reason|"
    r"Termination Description|Termination Signal|Kernel Triage|Triggered by Thread|"
    r"Crashed Thread|Application Specific Information|Beta Identifier|Sleep/Wake UUID|"
    r"Time Awake Since Boot|Time Since Boot|"
    # a resource report's (microstackshots: `Event: cpu usage`, `Action taken: Process killed`)
    r"Event|Action taken|CPU|CPU limit|Limit duration|CPU used|CPU duration|Duration|"
    r"Duration Sampled|Steps|Data Source|Command|PID|End time|Architecture|Shared Cache|"
    r"Hardware model|Active cpus|Share With Devs|Parent|Wakeups|Wakeups limit):"
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
