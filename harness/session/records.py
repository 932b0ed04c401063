"""A test's records, written as they happen: one JSON line for each event the log pump parses,
each observation, each perturbation applied or undone and each mark, appended to one file
(reports/artifacts/<test>/events.jsonl under the plugin) and flushed line by line, so a run
killed mid-test (SIGKILL, a lab Mac that loses power) still leaves what it saw. Mobly's
TestSummaryWriter does the same for its records.

Every line has `record` (event, observation, perturbation, mark) first; an event's line is
otherwise its `Event.as_json()`, as `bgharness parse --format jsonl` prints it. The log pump is
hot: a line is one buffered write and a flush, never an fsync. A file that cannot be written
never fails the test: the first error is kept in `error` for whoever reports it, and the rest
of the records are dropped.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from harness.core.events import Event
from harness.data.observations import Observation


class Records:
    """The append-only record file of one test; safe to call from the pump and the test thread."""

    def __init__(self, path: Path):
        self.path = path
        self.error: OSError | None = None
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        try:  # opened now: a file left by an earlier run of the same test starts over
            path.parent.mkdir(parents=True, exist_ok=True)
            self._file = path.open("w", encoding="utf-8")
        except OSError as exc:
            self.error = exc

    def events(self, events: Iterable[Event]) -> None:
        self._write([{"record": "event", **e.as_json()} for e in events])

    def observation(self, observation: Observation) -> None:
        self._write([{"record": "observation", **observation.as_json()}])

    def perturbation(self, change: str, kind: str, detail: str, time: float) -> None:
        """A perturbation `change`d (applied or undone) at device `time`."""
        line = {"record": "perturbation", "change": change, "perturbation": kind}
        self._write([{**line, "detail": detail, "time": time}])

    def mark(self, time: float) -> None:
        self._write([{"record": "mark", "time": time}])

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._drop()

    def _write(self, lines: list[dict[str, Any]]) -> None:
        if not lines:
            return
        text = "".join(json.dumps(line) + "\n" for line in lines)
        with self._lock:
            if self._file is None:
                return
            try:
                self._file.write(text)
                self._file.flush()
            except OSError as exc:  # full or read-only disk: keep the first error, stop writing
                self.error = self.error or exc
                self._drop()

    def _drop(self) -> None:
        file, self._file = self._file, None
        try:
            if file is not None:
                file.close()
        except OSError as exc:  # the last buffered bytes could not be written
            self.error = self.error or exc
