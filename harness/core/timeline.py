"""The timeline: every log entry and event a session has seen, and questions asked of them.

Pure and thread-safe: the log pump adds from its thread while the test asks from its own. It
never waits or sleeps; `Session` does the waiting and asks again. When an expectation fails,
`describe_miss` says what was expected and lists the events seen around it, with near misses.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.core.errors import UsageError
from harness.core.events import KINDS, Event, LogEntry

# How many events a failure message lists at most.
SHOWN_EVENTS = 40
# Kinds only a run of the task logs; once that run is over and no request for the task is
# pending, none of them can come (see `Timeline.decided`).
RUN_KINDS = frozenset({"task.launched", "task.progress", "task.expired", "task.completed"})


class ExpectationFailed(AssertionError):
    """The app did not do what the test expected: a product failure, never retried."""


@dataclass(frozen=True)
class Mark:
    """A point in the timeline: what came after it is 'since' the mark."""

    entries: int
    events: int
    time: float


@dataclass(frozen=True)
class Expectation:
    """One expected event: its kind, its task if any, and attrs that must be equal."""

    kind: str
    task: str | None = None
    attrs: tuple[tuple[str, Any], ...] = ()

    @classmethod
    def of(cls, kind: str, task: str | None = None, **attrs: Any) -> Expectation:
        if kind not in KINDS:
            near = difflib.get_close_matches(kind, KINDS, n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise UsageError(
                f"unknown event kind {kind!r}; {hint}known kinds: {', '.join(sorted(KINDS))}"
            )
        return cls(kind, task, tuple(sorted(attrs.items())))

    def matches(self, event: Event) -> bool:
        return event.matches(self.kind, self.task, **dict(self.attrs))

    def __str__(self) -> str:
        parts = [self.kind] + ([f"task={self.task}"] if self.task else [])
        return " ".join(parts + [f"{k}={v!r}" for k, v in self.attrs])


@dataclass(frozen=True)
class Decision:
    """Why an awaited event can no longer come: the event that ended the task's run."""

    time: float  # device time of `event`
    event: Event
    reason: str  # "task X completed (success=True) at +61.000 and no request for it is pending"


@dataclass(frozen=True)
class Miss:
    """A failed expectation, for the timeline picture: what was awaited, from when, until when
    (device seconds since the epoch), and why it failed."""

    awaited: str
    task: str | None
    start: float
    end: float
    why: str = "not seen"


class Timeline:
    def __init__(self) -> None:
        self._entries: list[LogEntry] = []
        self._events: list[Event] = []
        self._lock = threading.Lock()

    def add(self, entry: LogEntry, events: Iterable[Event]) -> None:
        """Record one log entry and the events parsed from it."""
        with self._lock:
            self._entries.append(entry)
            self._events.extend(events)

    def mark(self, now: float) -> Mark:
        with self._lock:
            return Mark(len(self._entries), len(self._events), now)

    def events(self, since: Mark | None = None) -> list[Event]:
        with self._lock:
            return self._events[since.events if since else 0 :]

    def entries(self, since: Mark | None = None) -> list[LogEntry]:
        with self._lock:
            return self._entries[since.entries if since else 0 :]

    def find(self, expectation: Expectation, since: Mark | None = None) -> Event | None:
        """The first event since the mark that meets the expectation."""
        return next((e for e in self.events(since) if expectation.matches(e)), None)

    def find_sequence(
        self, expectations: Sequence[Expectation], since: Mark | None = None
    ) -> list[Event]:
        """The longest prefix of `expectations` met in order since the mark."""
        found: list[Event] = []
        for event in self.events(since):
            if len(found) < len(expectations) and expectations[len(found)].matches(event):
                found.append(event)
        return found

    def decided(self, expectation: Expectation, origin: float = 0.0) -> Decision | None:
        """Whether the expected event can no longer come, and why; None while it still can.

        Decided only for the kinds a run logs (RUN_KINDS), for a named task, when this timeline
        saw the task's last launch, then the end of that run (`task.completed`; for the other
        kinds also dasd's `task.no_longer_running` or the end of the process it ran in), and no
        `task.submitted` for it since that launch (a resubmit is pending: a new run may log it).
        A task launched before the session began, or one whose run has not ended, is never
        decided. Times in the reason are relative to `origin`.
        """
        task = expectation.task
        if task is None or expectation.kind not in RUN_KINDS:
            return None
        ends = {"task.completed"} | (
            set() if expectation.kind == "task.completed" else {"task.no_longer_running"}
        )
        launch: Event | None = None
        end: Event | None = None
        pending = False
        for event in self.events():
            if event.task == task and event.kind == "task.launched":
                if end is not None or launch is None:  # a new run (one run logs several)
                    launch, end, pending = event, None, False
            elif launch is None:
                continue
            elif event.task == task and event.kind == "task.submitted":
                pending = True
            elif end is None and (
                (event.task == task and event.kind in ends) or _ends_process(event, launch)
            ):
                end = event
        if launch is None or end is None or pending or end.time is None:
            return None
        return Decision(end.time, end, f"{_ended(end, task)} at +{end.time - origin:.3f}")

    def describe_miss(
        self, headline: str, expectation: Expectation | None, since: Mark, now: float
    ) -> str:
        """A failure message: the headline, the events since the mark, the near misses."""
        events = self.events(since)
        lines = [headline, f"events since the mark (device time +seconds; {len(events)} in all):"]
        if not events:
            lines.append("    (none: is the app running, and is the device log streaming?)")
        shown = events[-SHOWN_EVENTS:]
        if len(events) > len(shown):
            lines.append(f"    ... {len(events) - len(shown)} earlier events not shown")
        lines += ["    " + _event_line(e, since.time) for e in shown]
        lines.append(f"    (now +{now - since.time:.3f})")
        if expectation is not None:
            near = [e for e in events if e.kind == expectation.kind and not expectation.matches(e)]
            if near:
                lines.append(f"near misses ({expectation.kind}, other task or attrs):")
                lines += ["    " + _event_line(e, since.time) for e in near[-5:]]
        return "\n".join(lines)


def _ends_process(event: Event, launch: Event) -> bool:
    """`event` says the process the run was launched in is gone."""
    return (
        event.kind == "app.terminated"
        and launch.pid is not None
        and event.attrs.get("pid", event.pid if event.source == "app" else None) == launch.pid
    )


def _ended(end: Event, task: str) -> str:
    if end.kind == "task.completed":
        success = end.attrs.get("success")
        return f"task {task} completed" + ("" if success is None else f" (success={success})")
    if end.kind == "task.no_longer_running":
        return f"task {task}'s run ended (dasd: NO LONGER RUNNING)"
    reason = end.attrs.get("reason")
    return f"task {task}'s app (pid {end.attrs.get('pid', end.pid)}) was terminated" + (
        f" ({reason})" if reason else ""
    )


def _event_line(event: Event, origin: float) -> str:
    at = f"+{event.time - origin:9.3f}" if event.time is not None else " " * 10
    attrs = " ".join(f"{k}={v!r}" for k, v in sorted(event.attrs.items()))
    return f"{at}  {event.source:<12} {event.kind:<24} {event.task or '-'}  {attrs}".rstrip()
