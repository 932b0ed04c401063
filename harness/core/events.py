"""The records the rest of bgharness passes around: device log entries and the events in them.

Pure data, no I/O. `LogEntry` is one record of the device log as the OS wrote it; `Event` is
what `logparse` recognised in it, named by one of `KINDS` (docs/architecture.md, "Events").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class ProbeEvent:
    """One kind the probe app writes as `bgprobe {json}`: its attrs (name -> JSON type) and why."""

    attrs: dict[str, str]
    meaning: str
    task: bool = True  # the line carries a `task`


# Every event the probe app (ProbeKit and the virtual iPhone's probe) writes, with its attrs:
# the same names and JSON types on both sides (the conformance table checks them). The README's
# probe-event table is generated from this (`probe_events_markdown`) and checked by a test.
PROBE_EVENTS: dict[str, ProbeEvent] = {
    "app.launched": ProbeEvent(
        {"reason": "str", "supported_resources": "list[str]"},
        "didFinishLaunching ran; reason user|background; BGTaskScheduler.supportedResources "
        "(`gpu` or nothing; facts B3)",
        task=False,
    ),
    "plan.rejected": ProbeEvent(
        {"reason": "str", "path": "str"},
        "the plan was not followed: reason invalid|version|not_json; path of the first problem",
        task=False,
    ),
    "app.tapped": ProbeEvent({"name": "str"}, "a person tapped `bgprobe.tap.<name>`", task=False),
    "task.registered": ProbeEvent({}, "register(forTaskWithIdentifier:) returned true"),
    "task.registration_error": ProbeEvent(
        {"reason": "str"}, "register returned false (reason not_permitted)"
    ),
    "task.submitted": ProbeEvent({"type": "str"}, "submit did not throw"),
    "task.submit_failed": ProbeEvent(
        {"type": "str", "code": "int", "domain": "str"}, "submit threw this NSError"
    ),
    "task.cancel_requested": ProbeEvent(
        {"all": "bool"}, "the app called cancel(taskRequestWithIdentifier:) or cancelAll"
    ),
    "task.launched": ProbeEvent({"type": "str"}, "the launch handler was called"),
    "task.progress": ProbeEvent(
        {"completed": "int", "total": "int"}, "the handler reported a unit of progress"
    ),
    "task.expired": ProbeEvent({}, "the expiration handler was called"),
    "task.completed": ProbeEvent({"success": "bool"}, "the app called setTaskCompleted"),
    "keychain.read": ProbeEvent(
        {"accessibility": "str", "status": "int"}, "SecItemCopyMatching's OSStatus (0 = read)"
    ),
    "keychain.locked": ProbeEvent(
        {"accessibility": "str", "status": "int"},
        "the read failed with errSecInteractionNotAllowed (-25308; facts B8), after keychain.read",
    ),
    "file.access": ProbeEvent(
        {"op": "str", "protection": "str", "ok": "bool"},
        "a file write/read with a protection class",
    ),
    "bgtime.began": ProbeEvent({"name": "str"}, "UIApplication.beginBackgroundTask"),
    "bgtime.ended": ProbeEvent({"name": "str"}, "endBackgroundTask"),
    "bgtime.expired": ProbeEvent({"name": "str"}, "its expiration handler was called"),
    "upload.started": ProbeEvent({"bytes": "int"}, "a background URLSession upload was resumed"),
    "upload.finished": ProbeEvent({"error": "int"}, "the upload ended (NSURLError code, 0 = ok)"),
    "memory.allocated": ProbeEvent({"mb": "int", "ok": "bool"}, "memory allocated and touched"),
    "gpu.work": ProbeEvent({"ok": "bool"}, "a Metal compute pass ran (ok) or was refused"),
    "cpu.started": ProbeEvent(
        {"seconds": "int", "percent": "int"},
        "a busy loop began on a background queue: `percent` % of one core for `seconds`",
    ),
    "cpu.finished": ProbeEvent(
        {"seconds": "int", "percent": "int"},
        "the busy loop ran its time (none when the app was killed first: facts G6)",
    ),
}

PROBE_KINDS_NEW = frozenset(PROBE_EVENTS)

_JSON_TYPES: dict[str, type | tuple[type, ...]] = {
    "str": str,
    "int": int,
    "bool": bool,
    "list[str]": list,
}


def probe_attr_problems(kind: str, attrs: dict[str, Any]) -> list[str]:
    """How a probe event's attrs differ from PROBE_EVENTS (names and JSON types); [] if not."""
    spec = PROBE_EVENTS.get(kind)
    if spec is None:
        return [f"{kind} is not a probe event"]
    problems = []
    if set(attrs) != set(spec.attrs):
        problems.append(f"{kind}: attrs {sorted(attrs)}, documented {sorted(spec.attrs)}")
    for name, type_ in spec.attrs.items():
        value = attrs.get(name)
        ok = isinstance(value, _JSON_TYPES[type_]) and (
            type_ != "int" or not isinstance(value, bool)
        )
        if name in attrs and not ok:
            problems.append(f"{kind}.{name}: {value!r} is not {type_}")
    return problems


def probe_events_markdown() -> str:
    """The README's table of probe events, generated from PROBE_EVENTS."""
    rows = ["| event | attrs | meaning |", "|---|---|---|"]
    for kind, spec in PROBE_EVENTS.items():
        attrs = ", ".join(f"`{n}`: {t}" for n, t in spec.attrs.items()) or "—"
        rows.append(f"| `{kind}` | {attrs} | {spec.meaning} |")
    return "\n".join(rows) + "\n"


KINDS = frozenset(
    {
        "task.registered",
        "task.registration_error",
        "task.submitted",
        "task.submit_failed",
        "task.canceled",
        "task.simulate_launch",
        "task.simulate_expire",
        "task.simulate_rejected",
        "task.launched",
        "task.progress",
        "task.expired",
        "task.completed",
        "task.no_longer_running",
        "task.card",  # a continued task's Live Activity card: state, cards (facts B3 [M])
        "app.launched",
        "app.suspended",
        "app.resumed",
        "app.terminated",
        "bgtime.overdue",
        "bgtime.expired_not_ended",
        "bgtime.end_error",
        "urlsession.disconnected",
        "urlsession.misuse",
        "keychain.locked",
        "gpu.denied",
        "debugger.error",
        *PROBE_KINDS_NEW,
    }
)

# Who said it.
SOURCES = frozenset(
    {"framework", "dasd", "springboard", "runningboard", "kernel", "launchd", "probe", "lldb"}
    | {"app", "virtual"}  # virtual: the virtual iPhone's own lines (Live Activity cards)
)

# `reason` on app.terminated and task.expired: why the system ended the app or the task, one
# word per cause whichever wording (iOS version, daemon, tool) said it. task.expired also keeps
# the system's own `reason_code`.
REASONS = frozenset(
    {"watchdog", "file_lock", "memory", "cpu", "codesigning", "signal", "crash"}
    | {"user_force_quit", "user_stop"}
)

# Task types, as the activity prefix (bgRefresh-, bgProcessing-, bgContinuedProcessing-) names them.
TASK_TYPES = ("refresh", "processing", "continued")

# The kinds that mean something went wrong (the problem flag): the timeline picture draws them
# as errors, whatever their family.
PROBLEMS = frozenset(
    {
        "task.registration_error",
        "task.submit_failed",
        "task.simulate_rejected",
        "app.terminated",
        "bgtime.overdue",
        "bgtime.expired_not_ended",
        "bgtime.end_error",
        "urlsession.disconnected",
        "urlsession.misuse",
        "keychain.locked",
        "gpu.denied",
        "debugger.error",
    }
)


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One device log record, with the fields `pymobiledevice3 syslog live --label` shows."""

    time: float  # seconds since the epoch, device clock
    process: str  # executable name, e.g. "dasd", "BGProbe"
    pid: int
    message: str
    subsystem: str = ""
    category: str = ""
    level: str = "NOTICE"  # NOTICE, INFO, DEBUG, ERROR, FAULT (os_trace's names)
    image: str = ""  # the sender image, e.g. "BackgroundTasks"

    def syslog_line(self) -> str:
        """The entry as `pymobiledevice3 syslog live --label` prints it."""
        stamp = datetime.fromtimestamp(self.time, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        label = f" [{self.subsystem}][{self.category}]" if self.subsystem else ""
        return (
            f"{stamp} {self.process}{{{self.image}}}[{self.pid}] <{self.level}>: "
            f"{self.message}{label}"
        )


@dataclass(frozen=True, slots=True)
class Event:
    """A task-lifecycle fact recognised in the log."""

    kind: str
    task: str | None
    time: float | None
    source: str
    process: str = ""
    pid: int | None = None
    attrs: dict[str, Any] = field(default_factory=dict)
    raw: str = ""

    def matches(self, kind: str, task: str | None = None, **attrs: Any) -> bool:
        """True when this event is `kind`, for `task` if given, with every attr given equal."""
        if self.kind != kind or (task is not None and self.task != task):
            return False
        for key, want in attrs.items():
            have = self.source if key == "source" else self.attrs.get(key, _MISSING)
            if have != want:
                return False
        return True

    def as_json(self) -> dict[str, Any]:
        """The event as one line of `bgharness parse --format jsonl`."""
        return {
            "kind": self.kind,
            "task": self.task,
            "time": self.time,
            "source": self.source,
            "process": self.process,
            "pid": self.pid,
            "attrs": dict(self.attrs),
        }


_MISSING = object()
