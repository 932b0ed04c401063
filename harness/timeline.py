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

from harness.errors import UsageError
from harness.events import KINDS, Event, LogEntry

# How many events a failure message lists at most.
SHOWN_EVENTS = 40


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


def _event_line(event: Event, origin: float) -> str:
    at = f"+{event.time - origin:9.3f}" if event.time is not None else " " * 10
    attrs = " ".join(f"{k}={v!r}" for k, v in sorted(event.attrs.items()))
    return f"{at}  {event.source:<12} {event.kind:<24} {event.task or '-'}  {attrs}".rstrip()
