"""Choosing events: kinds and families by name, a task, and a start time (`--since`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import NamedTuple, Protocol, TypeVar

from harness.core.events import KINDS

# -- Choosing events ------------------------------------------------------------------------


class UnknownKind(ValueError):
    """A kind that is none of harness.core.events.KINDS nor a prefix of some."""

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
    try:
        return Since(at=(moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp())
    except OverflowError:  # year 1 east of UTC, year 9999 west of it: before year 1 in UTC
        raise ValueError(f"{text!r} lies outside the years 1 to 9999 in UTC") from None


def _on_the_day_of(moment: float, clock: time) -> float | None:
    """`clock` on the date `moment` has in the clock's zone; None past the years 1 to 9999."""
    try:
        day = datetime.fromtimestamp(moment, clock.tzinfo).date()
        return datetime.combine(day, clock).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


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
                    at = _on_the_day_of(event.time, clock)
                    if at is None:
                        continue  # a time no calendar date holds: it anchors nothing
                if at is not None and event.time < at:
                    continue
            yield event
