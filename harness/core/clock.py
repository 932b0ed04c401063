"""Device time, and how a test waits for it.

A real iPhone runs on the wall clock: waiting means sleeping until something may have changed.
The virtual iPhone runs on a `VirtualClock`: waiting runs the next scheduled device event and
jumps the clock to it, so a scenario that waits 30 device-seconds takes milliseconds.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol


class Clock(Protocol):
    """What the session needs of device time. Called by `Session` while a test waits."""

    virtual: bool

    def now(self) -> float:
        """Device time, seconds since the epoch."""

    def wait(self, deadline: float, woken: threading.Event) -> None:
        """Return by `deadline` (device time), or earlier when something may have changed."""


class WallClock:
    """Real devices: device time is the host's wall clock."""

    virtual = False

    def now(self) -> float:
        return time.time()

    def wait(self, deadline: float, woken: threading.Event) -> None:
        woken.wait(timeout=max(0.0, deadline - time.time()))
        woken.clear()


@dataclass(order=True)
class _Timer:
    at: float
    seq: int
    action: Callable[[], None] = field(compare=False)
    cancelled: bool = field(default=False, compare=False)

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """A discrete-event clock: `wait` runs the next due timer instead of sleeping.

    `scale` 0 jumps straight to the next event; `scale` 1 runs in real time (as on hardware, for
    measuring parallel runs), any other value in between. Timers run on the waiting thread.
    """

    virtual = True

    def __init__(self, start: float, scale: float = 0.0):
        self._now = start
        self.scale = scale
        self._timers: list[_Timer] = []
        self._seq = itertools.count()
        self._lock = threading.RLock()

    def now(self) -> float:
        return self._now

    def call_at(self, at: float, action: Callable[[], None]) -> _Timer:
        """Run `action` when device time reaches `at` (never in the past)."""
        with self._lock:
            timer = _Timer(max(at, self._now), next(self._seq), action)
            heapq.heappush(self._timers, timer)
            return timer

    def call_later(self, delay: float, action: Callable[[], None]) -> _Timer:
        return self.call_at(self._now + delay, action)

    def wait(self, deadline: float, woken: threading.Event) -> None:
        """Run the next timer due by `deadline`, or move time to `deadline` if none is."""
        with self._lock:
            while self._timers and self._timers[0].cancelled:
                heapq.heappop(self._timers)
            due = self._timers[0] if self._timers and self._timers[0].at <= deadline else None
            if due is not None:
                heapq.heappop(self._timers)
            target = due.at if due else max(deadline, self._now)
            self._sleep_scaled(target - self._now)
            self._now = target
            if due is not None:
                due.action()

    def advance(self, seconds: float) -> None:
        """Let `seconds` of device time pass, running every timer due in it."""
        deadline = self._now + seconds
        never = threading.Event()
        while self._now < deadline or self._has_due(deadline):
            self.wait(deadline, never)

    def _has_due(self, deadline: float) -> bool:
        return any(not t.cancelled and t.at <= deadline for t in self._timers)

    def _sleep_scaled(self, seconds: float) -> None:
        if self.scale > 0 and seconds > 0:
            time.sleep(seconds * self.scale)
