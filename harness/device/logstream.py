"""A device log stream backed by a bounded queue, for backends to feed and sessions to read.

The backend `put`s entries (from its reader thread, or inline on the virtual iPhone); the
session iterates. `join()` returns once the reader has finished with everything put so far,
which is how the virtual iPhone lets a test see its log before the clock moves on.
"""

from __future__ import annotations

import queue
from collections.abc import Iterator

from harness.core.events import LogEntry

_CLOSED = object()


class QueueLogStream:
    def __init__(self, maxsize: int = 100_000):
        self._queue: queue.Queue[object] = queue.Queue(maxsize)
        self.closed = False

    def put(self, entry: LogEntry) -> None:
        if not self.closed:
            self._queue.put(entry)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._queue.put(_CLOSED)

    def join(self, timeout: float = 5.0) -> bool:
        """Wait until the reader has asked for the entry after the last one put."""
        q = self._queue
        with q.all_tasks_done:
            return q.all_tasks_done.wait_for(lambda: q.unfinished_tasks == 0, timeout)

    def __iter__(self) -> Iterator[LogEntry]:
        while True:
            item = self._queue.get()
            if item is _CLOSED:
                self._queue.task_done()
                return
            yield item  # type: ignore[misc]
            self._queue.task_done()
