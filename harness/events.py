"""The records the rest of bgharness passes around: device log entries and the events in them.

Pure data, no I/O. `LogEntry` is one record of the device log as the OS wrote it; `Event` is
what `logparse` recognised in it, named by one of `KINDS` (docs/architecture.md, "Events").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

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
    }
)

# Who said it.
SOURCES = frozenset(
    {"framework", "dasd", "springboard", "runningboard", "kernel", "launchd", "probe", "lldb"}
    | {"app"}
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
