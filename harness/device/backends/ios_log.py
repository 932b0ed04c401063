"""The device log of a real iPhone: os_trace syslog → LogEntry, across reconnects.

`to_entry` is the pure conversion (process = the executable's name, subsystem and category from
the os_log label, the level's name). `Continuity` joins the entries of successive connections
into one log: after a reconnect, entries already delivered are dropped (matched by time, pid
and message), and when the new connection does not overlap the old one, the gap is reported as
an entry of its own (process "bgharness", which the parser ignores) instead of passing unseen.
`LogReader` is the background task that reads, reconnects (bounded) and feeds a bounded queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import posixpath
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from harness.core.events import LogEntry
from harness.device.backends.ios_errors import is_transient
from harness.device.logstream import QueueLogStream

GAP_PROCESS = "bgharness"
GAP_LABEL = ("dev.bgharness", "log-gap")

# How many delivered entries are remembered to recognise them when a new connection repeats them.
WINDOW = 20_000
# Reconnect attempts in a row (without an entry in between) before the reader gives up.
RECONNECTS = 5
RECONNECT_WAIT_S = (0.5, 1.0, 2.0, 4.0, 8.0)

_Key = tuple[float, int, str]


def to_entry(raw: Any) -> LogEntry:
    """One pymobiledevice3 `SyslogEntry` as a LogEntry.

    Its timestamp is a naive datetime in the host's zone made from device epoch seconds, so
    `.timestamp()` gives those seconds back.
    """
    label = raw.label
    level = raw.level
    return LogEntry(
        time=raw.timestamp.timestamp(),
        process=posixpath.basename(raw.filename),
        pid=raw.pid,
        message=raw.message,
        subsystem=label.subsystem if label else "",
        category=label.category if label else "",
        level=getattr(level, "name", None) or str(level),
        image=posixpath.basename(raw.image_name or ""),
    )


def gap_entry(at: float, message: str) -> LogEntry:
    """The entry that says part of the log could not be read."""
    subsystem, category = GAP_LABEL
    return LogEntry(
        time=at,
        process=GAP_PROCESS,
        pid=0,
        message=f"log gap: {message}",
        subsystem=subsystem,
        category=category,
        level="ERROR",
    )


def _when(at: float | None) -> str:
    if at is None:
        return "the start of the stream"
    return datetime.fromtimestamp(at, UTC).strftime("%H:%M:%S.%f UTC")


@dataclass
class _Resume:
    since: float | None  # the newest entry delivered before the drop
    reason: str
    overlap: bool = False  # the new connection repeated something already delivered


class Continuity:
    """Joins successive connections into one log: `accept` each entry, `dropped` at each drop."""

    def __init__(self, window: int = WINDOW):
        self._order: deque[_Key] = deque()
        self._seen: dict[_Key, int] = {}
        self._window = window
        self.last_time: float | None = None
        self._resume: _Resume | None = None

    def dropped(self, reason: str) -> None:
        """The connection ended; the next entries come from a new one."""
        if self._resume is None:
            self._resume = _Resume(self.last_time, reason)

    def accept(self, entry: LogEntry) -> list[LogEntry]:
        """What to deliver for `entry`: nothing (a repeat), the entry, or a gap entry and it."""
        key = (entry.time, entry.pid, entry.message)
        resume = self._resume
        if resume is not None:
            if key in self._seen:
                resume.overlap = True
                return []
            if resume.since is not None and entry.time <= resume.since:
                self._remember(key, entry.time)  # older than the drop, never delivered: deliver
                return [entry]
            self._resume = None
            self._remember(key, entry.time)
            if resume.overlap:
                return [entry]
            gap = gap_entry(
                entry.time,
                f"the device log stream dropped ({resume.reason}) and was reconnected; what "
                f"the device logged between {_when(resume.since)} and {_when(entry.time)} "
                "could not be read",
            )
            return [gap, entry]
        self._remember(key, entry.time)
        return [entry]

    def _remember(self, key: _Key, at: float) -> None:
        self.last_time = at if self.last_time is None else max(self.last_time, at)
        self._order.append(key)
        self._seen[key] = self._seen.get(key, 0) + 1
        if len(self._order) > self._window:
            old = self._order.popleft()
            left = self._seen[old] - 1
            if left:
                self._seen[old] = left
            else:
                del self._seen[old]


class LogReader:
    """Reads the device log into `stream` until cancelled; reconnects after a drop.

    `connect` opens a fresh lockdown client (the reader owns its connection, so a reconnect
    never disturbs the device's other calls); `service` is pymobiledevice3's OsTraceService.
    Runs on a loop of its own: when the bounded queue is full, `stream.put` blocks this reader,
    not the device.
    """

    def __init__(
        self,
        connect: Callable[[], Awaitable[Any]],
        service: Callable[[Any], Any],
        stream: QueueLogStream,
        *,
        attempts: int | None = None,
        waits: tuple[float, ...] | None = None,
        notify: Callable[[str, str], None] | None = None,
    ):
        self._connect, self._service, self.stream = connect, service, stream
        # Told ("dropped" | "back" | "stopped", what happened) as it happens: `parse --device`
        # prints it; a test's log carries the gap entries instead.
        self._notify = notify or (lambda _kind, _line: None)
        self._down = False
        self.continuity = Continuity()
        self._attempts = RECONNECTS if attempts is None else attempts
        self._waits = RECONNECT_WAIT_S if waits is None else waits
        self.error: BaseException | None = None  # why the reader gave up, if it did
        # Set once the first connection's log service is open (or the reader gave up): a live
        # log shows only what is logged after that, so the device waits for it (IosDevice).
        self.streaming = threading.Event()

    def _deliver(self, entries: list[LogEntry]) -> None:
        for entry in entries:
            self.stream.put(entry)

    async def run(self) -> None:
        failures = 0
        while not self.stream.closed:
            try:
                async with contextlib.aclosing(self._read_once()) as entries:
                    async for entry in entries:
                        failures = 0
                        if self._down:
                            self._down = False
                            self._notify("back", "the device log stream is back")
                        delivered = self.continuity.accept(entry)
                        for gap in delivered[:-1]:  # a gap entry comes before the entry it precedes
                            self._notify("gap", gap.message.removeprefix("log gap: "))
                        self._deliver(delivered)
                        if self.stream.closed:
                            return
                reason = "the device ended the stream"
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not is_transient(exc):
                    self._give_up(exc, f"{type(exc).__name__}: {exc}")
                    return
                reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
            failures += 1
            self.continuity.dropped(reason)
            if not self._down:
                self._down = True
                self._notify("dropped", f"the device log stream dropped ({reason}); reconnecting")
            if failures > self._attempts:
                self._give_up(None, f"{reason}; {self._attempts} reconnects failed")
                return
            await asyncio.sleep(self._waits[min(failures, len(self._waits)) - 1])

    async def _read_once(self) -> AsyncGenerator[LogEntry, None]:
        """The entries of one connection, until it ends."""
        provider = await self._connect()
        try:
            async with self._service(provider) as service:
                messages = service.syslog()
                self.streaming.set()
                try:
                    async for raw in messages:
                        yield to_entry(raw)
                finally:
                    await messages.aclose()
        finally:
            await provider.close()

    def _give_up(self, exc: BaseException | None, reason: str) -> None:
        self.error = exc
        since = self.continuity.last_time
        said = (
            f"the device log stream stopped ({reason}); nothing the device logged after "
            f"{_when(since)} was read"
        )
        self._deliver([gap_entry(time.time() if since is None else since, said)])
        self.streaming.set()
        self._notify("stopped", said)
