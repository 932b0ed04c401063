"""Device log text and records → `Event`s: what the log says happened to background tasks.

Pure: standard library only, no I/O beyond iterating what it is given.

`read_entries` turns text into `LogEntry`s. It knows these containers, line by line:

- `pymobiledevice3 syslog live` (`LogEntry.syslog_line`), with or without `--label`/offsets:
  `2026-11-25 14:39:32.123456 dasd{DuetActivityScheduler+0x1234}[412] <NOTICE>: msg [sub][cat]`
- `pymobiledevice3 syslog live --format json`: one JSON object a line
- Xcode console: `2019-06-18 23:36:54.523814+0800 NetNewsWire[5127:695645] msg`
- `log show`: `2026-03-15 14:14:19.737128-0500 0x18538 Default 0x0 120 8 dasd: [sub:cat] msg`
- idevicesyslog: `Nov 12 12:24:37 iPad runningboardd(RunningBoard)[31] <Notice>: msg`
- Console.app copies, tab-separated: `[type<TAB>]time<TAB>process<TAB>[column<TAB>...]msg`
- anything else: a bare message.

A line without a header continues the record before it (NSSet and NSError bodies span lines);
after a bare message only an indented line or one starting with `)`, `}` or `]` does.

Times: a stamp without a zone is UTC (syslog live writes UTC); a missing year is 2000 (a leap
year, so Feb 29 parses), a missing date 2000-01-01; no time at all is `NO_TIME`, which events
carry as `None`. A record that names no pid has `NO_PID`, carried as `None`.

`parse_entry` decides by message text which event a record holds (dasd's and lldb's forms
count only from dasd, lldb or an unnamed sender). The sender (process, subsystem, image) sets
`source`; where the container names none, the message's usual sender is assumed (a bare
"Running task: …" line is the framework's).
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from harness.events import KINDS, Event, LogEntry

__all__ = ["NO_PID", "NO_TIME", "parse_entry", "parse_lines", "read_entries"]

NO_TIME = 0.0  # LogEntry.time of a record whose container carries no time
NO_PID = -1  # LogEntry.pid of a record whose container names no pid

PROBE_SUBSYSTEM = "dev.bgharness.probe"
PROBE_PREFIX = "bgprobe "

# -- Containers -----------------------------------------------------------------------------

_LEVELS = {
    "default": "NOTICE",
    "notice": "NOTICE",
    "info": "INFO",
    "debug": "DEBUG",
    "error": "ERROR",
    "fault": "FAULT",
}
_TRACE_LEVELS = {0: "NOTICE", 1: "INFO", 2: "DEBUG", 3: "USER_ACTION", 0x10: "ERROR", 0x11: "FAULT"}
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_MONTHS = {name: number for number, name in enumerate(_MONTH_NAMES, 1)}
_NO_YEAR = 2000

_STAMP = r"(?P<stamp>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)(?P<zone>[+-]\d\d:?\d\d)?"

_SYSLOG_LIVE = re.compile(
    _STAMP + r" (?P<process>[^{]*)\{(?P<image>[^{}]*)\}\[(?P<pid>-?\d+)\] <(?P<level>\w+)>: ",
    re.ASCII,
)
_XCODE = re.compile(_STAMP + r" (?P<process>[^\[\]]+)\[(?P<pid>\d+):\w+\] ", re.ASCII)
_LOG_SHOW = re.compile(
    _STAMP + r" +0x[0-9a-f]+ +(?P<level>\w+) +0x[0-9a-f]+ +(?P<pid>\d+) +\d+ +"
    r"(?P<process>[^:]+?): (?:\((?P<image>[^()]*)\) )?"
    r"(?:\[(?P<subsystem>[^:\]]+):(?P<category>[^\]]*)\] )?",
    re.ASCII,
)
_IDEVICESYSLOG = re.compile(
    rf"(?P<month>{'|'.join(_MONTHS)}) +(?P<day>\d\d?) (?P<clock>\d\d:\d\d:\d\d(?:\.\d+)?) \S+ "
    r"(?P<process>[^\[\]()]+?)(?:\((?P<image>[^()]*)\))?\[(?P<pid>\d+)\] <(?P<level>\w+)>: ",
    re.ASCII,
)
_CONSOLE = re.compile(
    r"(?:(?P<level>[A-Za-z]+)\t)?(?:(?P<date>\d{4}-\d\d-\d\d) )?"
    r"(?P<clock>\d\d:\d\d:\d\d(?:\.\d+)?)(?P<zone>[+-]\d\d:?\d\d)?\t(?P<process>[^\t]*)\t",
    re.ASCII,
)
_OFFSET = re.compile(r"\+0x[0-9a-fA-F]+\Z")  # `--image-offset`: `{BackgroundTasks+0x1234}`
_LABEL = re.compile(r" \[(?P<subsystem>[^\[\]\n]*)\]\[(?P<category>[^\[\]\n]*)\]\Z")


def _epoch(stamp: str, zone: str | None) -> float:
    """Seconds since the epoch of an ISO stamp; UTC unless it names a zone."""
    try:
        moment = datetime.fromisoformat(stamp + (zone or ""))
    except ValueError:
        return NO_TIME
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _level(name: str) -> str:
    """os_trace's name for a level as any container spells it (Default, <Notice>, info)."""
    return _LEVELS.get(name.lower(), name.upper())


def _from_syslog_live(m: re.Match[str], text: str) -> LogEntry:
    message, subsystem, category = text[m.end() :], "", ""
    label = _LABEL.search(message)
    if label:
        message, subsystem, category = message[: label.start()], *label.group(1, 2)
    return LogEntry(
        _epoch(m["stamp"], m["zone"]), m["process"], int(m["pid"]), message,
        subsystem, category, m["level"], _OFFSET.sub("", m["image"]),
    )  # fmt: skip


def _from_xcode(m: re.Match[str], text: str) -> LogEntry:
    return LogEntry(_epoch(m["stamp"], m["zone"]), m["process"], int(m["pid"]), text[m.end() :])


def _from_log_show(m: re.Match[str], text: str) -> LogEntry:
    return LogEntry(
        _epoch(m["stamp"], m["zone"]), m["process"], int(m["pid"]), text[m.end() :],
        m["subsystem"] or "", m["category"] or "", _level(m["level"]), m["image"] or "",
    )  # fmt: skip


def _from_idevicesyslog(m: re.Match[str], text: str) -> LogEntry:
    day = f"{_NO_YEAR}-{_MONTHS[m['month']]:02d}-{int(m['day']):02d}"
    return LogEntry(
        _epoch(f"{day} {m['clock']}", None), m["process"], int(m["pid"]), text[m.end() :],
        level=_level(m["level"]), image=m["image"] or "",
    )  # fmt: skip


def _from_console(m: re.Match[str], text: str) -> LogEntry:
    # Optional columns (subsystem, library, ...) sit between process and message, in the order
    # the user chose; the message is the last column.
    first, newline, rest = text[m.end() :].partition("\n")
    message = first.rpartition("\t")[2] + newline + rest
    time = _epoch(f"{m['date'] or f'{_NO_YEAR}-01-01'} {m['clock']}", m["zone"])
    level = _level(m["level"]) if m["level"] else "NOTICE"
    return LogEntry(time, m["process"], NO_PID, message, level=level)


def _json_record(line: str) -> dict[str, Any] | None:
    """The object on a `syslog live --format json` line, or None when the line is not one."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if isinstance(record, dict) and isinstance(record.get("message"), str):
        return record
    return None


def _from_json(record: dict[str, Any], text: str) -> LogEntry:
    label = record.get("label")
    label = label if isinstance(label, dict) else {}
    level = record.get("level")
    level = _level(level) if isinstance(level, str) else _TRACE_LEVELS.get(_int(level, 0), "NOTICE")
    stamp = record.get("timestamp")
    return LogEntry(
        time=_epoch(stamp, None) if isinstance(stamp, str) else NO_TIME,
        process=posixpath.basename(_text(record.get("filename"))),
        pid=_int(record.get("pid"), NO_PID),
        message=record["message"] + text[len(text.partition("\n")[0]) :],
        subsystem=_text(label.get("subsystem")),
        category=_text(label.get("category")),
        level=level,
        image=posixpath.basename(_text(record.get("image_name"))),
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object, default: int) -> int:
    """A JSON integer, or `default` for anything else (true and false included)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else default


# A container: finds its header at the start of a line, then builds the entry from the
# header match and the record's whole text (first line and continuations). The most specific
# headers come first: a `log show` message quoting `[pid:tid]` must not pass for Xcode's.
_Container = tuple[Callable[[str], Any], Callable[[Any, str], LogEntry]]
_CONTAINERS: tuple[_Container, ...] = (
    (_SYSLOG_LIVE.match, _from_syslog_live),
    (_LOG_SHOW.match, _from_log_show),
    (_XCODE.match, _from_xcode),
    (_CONSOLE.match, _from_console),
    (_IDEVICESYSLOG.match, _from_idevicesyslog),
    (lambda line: _json_record(line) if line.startswith("{") else None, _from_json),
)
_Header = tuple[_Container, Any]


def _header(line: str) -> _Header | None:
    """The container whose record `line` starts, with its header; None for other lines."""
    for container in _CONTAINERS:
        found = container[0](line)
        if found is not None:
            return container, found
    return None


def _records(lines: Iterable[str]) -> Iterator[tuple[_Header | None, str]]:
    """Group lines into records: each record's header (None when bare) and its whole text."""
    header: _Header | None = None
    first: str | None = None
    more: list[str] = []
    for line in lines:
        if line.endswith("\n"):
            line = line[:-1]
        found = _header(line)
        if found is None and first is not None and (header or not line or line[0] in " \t)}]"):
            more.append(line)
            continue
        if first is not None:
            yield header, "\n".join([first, *more]) if more else first
            more = []
        header, first = found, line
    if first is not None:
        yield header, "\n".join([first, *more]) if more else first


def _entry(header: _Header | None, text: str) -> LogEntry:
    """The entry of one record; a bare one has only its message."""
    if header is None:
        return LogEntry(NO_TIME, "", NO_PID, text)
    (_, build), found = header
    return build(found, text)


def read_entries(lines: Iterable[str]) -> Iterator[LogEntry]:
    """The log records in `lines` of any known container (see the module docstring)."""
    for header, text in _records(lines):
        yield _entry(header, text)


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

_DESCRIPTION = re.compile(r"<(?P<cls>BG\w+?)(?:Request)?: (?P<id>[^\s,>]+)")
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
    m = _DESCRIPTION.match(text)
    if m:
        attrs: dict[str, Any] = {}
        if m["cls"] in _CLASS_TYPES:
            attrs["type"] = _CLASS_TYPES[m["cls"]]
        for key, pattern in (("requires_power", _POWER), ("requires_network", _NETWORK)):
            flag = pattern.search(text)
            if flag:
                attrs[key] = flag[1] != "0"
        return _identifier(m["id"]), attrs
    m = _ACTIVITY.match(text)
    if m:
        attrs = {"type": _ACTIVITY_TYPES[m["type"]]}
        if m["activity"]:
            attrs["activity"] = m["activity"]
        return _identifier(m["id"]), attrs
    return _identifier(text), {}


# -- Messages -------------------------------------------------------------------------------

# What stands for a task in a message: a placeholder, a description `<BG…Task: id>`, an id.
_PLACEHOLDER = r"<decode: missing data>|<private>|\(null\)"
_REF = rf"(?P<ref>{_PLACEHOLDER}|<BG\w+: [^>]*>|[^\s<>(),'\"]+)"
_TASK = rf"(?P<ref>{_PLACEHOLDER}|<BG\w+: [^>]*>|…)"  # where the framework prints a description
_ACT = r"(?P<ref>bg(?:Refresh|Processing|ContinuedProcessing)-[^\s,\"<>()]+)"
_DASD = frozenset({"", "dasd"})
_LLDB = frozenset({"", "lldb"})

# Attrs taken from a pattern's named groups other than `ref`; str unless converted here.
_CONVERT: dict[str, Callable[[str], Any]] = {
    "code": int,
    "pid": int,
    "id": int,
    "priority": int,
    "success": lambda flag: flag != "0",
}


@dataclass(frozen=True, slots=True)
class _Rule:
    """One message form: the literal `triggers` that admit it, and what it means."""

    triggers: tuple[str, ...]
    pattern: re.Pattern[str]
    kind: str
    source: str  # who says it when the record does not name its sender
    processes: frozenset[str] | None  # only from these processes ("" = not named), or any
    attrs: Mapping[str, Any] = field(default_factory=dict)
    per_activity: bool = False  # one event per dasd activity in `ref` (an NSSet of them)


def _rule(
    triggers: str | tuple[str, ...],
    pattern: str,
    kind: str,
    source: str = "framework",
    processes: frozenset[str] | None = None,
    per_activity: bool = False,
    **attrs: Any,
) -> _Rule:
    triggers = (triggers,) if isinstance(triggers, str) else triggers
    compiled = re.compile(pattern, re.DOTALL)
    return _Rule(triggers, compiled, kind, source, processes, attrs, per_activity)


_RULES = (
    # BackgroundTasks.framework in the app (the BGTaskScheduler.mm format strings).
    _rule("ForTaskWithIdentifier: ", rf"registerForTaskWithIdentifier: {_REF}",
          "task.registered"),
    _rule("Registration rejected; ", rf"Registration rejected; {_REF} is not advertised",
          "task.registration_error", reason="not_permitted"),
    _rule("Info.plist", rf"{_REF} is not advertised in the application's Info\.plist",
          "task.submit_failed", code=3),
    _rule("Launch handler for task with identifier ",
          rf"Launch handler for task with identifier {_REF} has already been registered",
          "task.registration_error", reason="duplicate"),
    _rule("No launch handler registered for task with identifier ",
          rf"No launch handler registered for task with identifier {_REF}",
          "task.registration_error", reason="no_handler"),
    _rule("All launch handlers must be registered before",
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
    _rule("TaskRequestWithIdentifier: ", rf"cancelTaskRequestWithIdentifier: {_REF}",
          "task.canceled"),
    _rule("AllTaskRequests", r"\AcancelAllTaskRequests\s*\Z", "task.canceled", all=True),
    _rule("Simulating launch for task with identifier ",
          rf"Simulating launch for task with identifier {_REF}", "task.simulate_launch"),
    _rule("Simulating expiration for task with identifier ",
          rf"Simulating expiration for task with identifier {_REF}", "task.simulate_expire"),
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
    _rule(("Submitted", "SUBMITTED"),
          rf"\b(?:Submitted|SUBMITTED)(?: [Aa]ctivity)?:? (?:<_DASActivity: \"?)?{_ACT}"
          r"(?: at priority (?P<priority>\d+))?",
          "task.submitted", source="dasd", processes=_DASD),
    _rule("CANCELED", rf"\bCANCELED:? (?:<_DASActivity: \"?)?{_ACT}", "task.canceled",
          source="dasd", processes=_DASD),
    _rule("NO LONGER RUNNING ", rf"NO LONGER RUNNING (?:{_ACT}|\S)", "task.no_longer_running",
          source="dasd", processes=_DASD),
    # SpringBoard, RunningBoard (assertiond before iOS 14), crash reports.
    _rule("SBWorkspaceTerminateApplication: ",
          r"SBWorkspaceTerminateApplication: (?P<bundle>[^\s:]+): \"killed from app switcher\"",
          "app.terminated", source="springboard", reason="user_force_quit"),
    _rule("Removing assertions for terminated process: ",
          r"Removing assertions for terminated process: "
          r"\[application<(?P<bundle>[^>]+)>:(?P<pid>\d+)\]",
          "app.terminated", source="runningboard"),
    _rule("BKNewProcess: ",
          r"<BKNewProcess: [^;]*; (?:(?P<bundle>[\w.-]+)|[^;]*); pid: (?P<pid>\d+)[^>]*> "
          r"has active assertions beyond permitted time",
          "app.terminated", source="runningboard", reason="watchdog"),
    _rule("BKProcessAssertion: ", r"\A<BKProcessAssertion: [^>]*\(finishTask:\d+s\)",
          "app.terminated", source="runningboard", reason="watchdog"),
    _rule("Termination Reason: ", r"Termination Reason: .*?\b0x8badf00d\b", "app.terminated",
          source="app", reason="watchdog"),
    _rule("Termination Reason: ", r"Termination Reason: .*?\b0xdead10cc\b", "app.terminated",
          source="app", reason="file_lock"),
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
    _rule(("BackgroundExecutionNotPermitted", "Insufficient Permission "),
          r"BackgroundExecutionNotPermitted|Insufficient Permission \(to submit GPU [Ww]ork",
          "gpu.denied", source="app"),
    # lldb's own output: a transcript, not a device record.
    _rule("error: ", r"\A(?P<message>error: .*)", "debugger.error", source="lldb",
          processes=_LLDB),
    _rule("Couldn't resolve the class", r"\A(?P<message>.*Couldn't resolve the class.*)",
          "debugger.error", source="lldb", processes=_LLDB),
)  # fmt: skip

_BY_TRIGGER: dict[str, list[_Rule]] = {}
for _r in _RULES:
    for _t in _r.triggers:
        _BY_TRIGGER.setdefault(_t, []).append(_r)


def _alternation(words: Iterable[str]) -> str:
    """A regex for any of `words`, factored by common prefixes (a trie).

    re tries the alternatives of `a|b|…` one by one at every position; factored, it rejects a
    position after one character, which makes the pre-filter several times faster.
    """
    by_first: dict[str, list[str]] = {}
    for word in words:
        by_first.setdefault(word[:1], []).append(word[1:])
    branches = [
        re.escape(first) + _alternation(rests) if first else ""
        for first, rests in sorted(by_first.items(), reverse=True)
    ]
    return branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"


# The pre-filter: one scan that rejects nearly every record before any rule is tried. Triggers
# mostly start with a capital, which lets re skip the other characters of a line quickly.
_TRIGGERS = re.compile(_alternation({*_BY_TRIGGER, PROBE_PREFIX}))

_DAEMONS = {
    "dasd": "dasd",
    "SpringBoard": "springboard",
    "runningboardd": "runningboard",
    "assertiond": "runningboard",
    "kernel": "kernel",
    "lldb": "lldb",
}
_FRAMEWORK_IMAGES = frozenset({"BackgroundTasks", "DuetActivityScheduler"})


def _source(entry: LogEntry, usual: str) -> str:
    """Who said it: the record's sender, or the message's `usual` sender when it names none."""
    if entry.subsystem == PROBE_SUBSYSTEM:
        return "probe"
    if entry.process in _DAEMONS:
        return _DAEMONS[entry.process]
    if entry.subsystem == "com.apple.BackgroundTasks" or entry.image in _FRAMEWORK_IMAGES:
        return "framework"
    return usual if not entry.subsystem and not entry.image else "app"


def _apply(rule: _Rule, m: re.Match[str]) -> list[tuple[str | None, dict[str, Any]]]:
    """(task, attrs) for each event `rule` found in match `m`."""
    attrs = dict(rule.attrs)
    for name, value in m.groupdict().items():
        if value is not None and name != "ref":
            attrs[name] = _CONVERT[name](value) if name in _CONVERT else value
    ref = m["ref"] if "ref" in rule.pattern.groupindex else None
    if ref is None:
        return [(None, attrs)]
    refs = [a.group() for a in _ACTIVITY.finditer(ref)] if rule.per_activity else [ref]
    found = []
    for one in refs:
        task, ref_attrs = _ref(one)
        found.append((task, {**ref_attrs, **attrs}))
    return found


def _probe(message: str) -> list[tuple[str, str | None, dict[str, Any]]]:
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
    return [(kind, task, attrs)]


def _parse(entry: LogEntry, raw: str | None) -> list[Event]:
    """The events in `entry`; `raw` is its original text (None: render it when needed)."""
    message = entry.message
    found: list[tuple[str, str | None, dict[str, Any]]] = []
    source = "probe"
    if message.startswith(PROBE_PREFIX):
        found = _probe(message)
    else:
        for hit in _TRIGGERS.finditer(message):
            for rule in _BY_TRIGGER.get(hit.group(), ()):
                if rule.processes is not None and entry.process not in rule.processes:
                    continue
                m = rule.pattern.search(message)
                if m:
                    found = [(rule.kind, task, attrs) for task, attrs in _apply(rule, m)]
                    source = _source(entry, rule.source)
                    break
            if found:
                break
    if not found:
        return []
    time = None if entry.time == NO_TIME else entry.time
    pid = None if entry.pid == NO_PID else entry.pid
    raw = entry.syslog_line() if raw is None else raw
    return [
        Event(kind, task, time, source, entry.process, pid, attrs, raw)
        for kind, task, attrs in found
    ]


def parse_entry(entry: LogEntry) -> list[Event]:
    """The events in one log record (usually none or one); `raw` is its syslog line."""
    return _parse(entry, None)


def parse_lines(lines: Iterable[str]) -> Iterator[Event]:
    """The events in log text: `parse_entry` over `read_entries`, with `raw` the original text.

    A record with no trigger after its header is dropped before its entry is even built.
    """
    for header, text in _records(lines):
        start = header[1].end() if header and isinstance(header[1], re.Match) else 0
        if _TRIGGERS.search(text, start):
            yield from _parse(_entry(header, text), text)
