"""The fast path: a whole log as byte blocks, only the records around a trigger ever read.

`parse_blocks` and `count_blocks` give the same events (and count) as `parse_lines` over the
log's lines; see the package docstring.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from harness.core.events import Event
from harness.core.logparse.containers import _SYSLOG_LIVE, NO_TIME, _Fields, _line, _records, _split
from harness.core.logparse.query import _ANY_TIME, Selection
from harness.core.logparse.recognise import (
    _COUNTED,
    _COUNTED_MAX,
    _events,
    _Finding,
    _findings,
    _text_findings,
)
from harness.core.logparse.triggers import _PLAN, _keyed, _Plan

# -- The fast path --------------------------------------------------------------------------

_ALWAYS = (b"\x1b", b"\\")  # a line holding these may show the rules other text than its bytes
_LINE_START = (
    rb"(?=[(\t eET>])(?:\(lldb\) )*[ \t]*(?:> ?)?(?:error: |Exception Type:|Termination Reason:)"
)
_DENSE = 512  # a block with a hit every this many bytes is read line by line, whole
_PROBE = 1 << 16  # how much of a block shows whether it is that dense


@dataclass(frozen=True)
class _Scan:
    """How to find every trigger in a block of bytes (see Triggers)."""

    common: tuple[re.Pattern[bytes], ...]  # a match starts at a trigger's key byte
    rare: tuple[tuple[bytes, tuple[tuple[bytes, int], ...]], ...]  # key, (trigger, key offset)
    whole: tuple[re.Pattern[bytes], ...]  # short triggers with no key byte
    long: tuple[bytes, ...]  # long ones: bytes.find skips ahead by their length
    line_start: re.Pattern[bytes]  # a form that counts only at a line start, after a newline


_LONG = 12  # from this length, bytes.find outruns re on a trigger with no key


def _byte_scan(plan: _Plan) -> _Scan:
    def bytes_re(pattern: str) -> re.Pattern[bytes]:
        return re.compile(pattern.encode())

    return _Scan(
        common=tuple(bytes_re(_keyed(k, ts, lambda _: "")) for k, ts in plan.common.items()),
        rare=tuple(
            (key.encode(), tuple((t.encode(), t.index(key)) for t in triggers))
            for key, triggers in plan.rare.items()
        ),
        whole=tuple(bytes_re(re.escape(t)) for t in plan.whole if len(t) < _LONG),
        long=tuple(t.encode() for t in plan.whole if len(t) >= _LONG),
        line_start=re.compile(b"\n" + _LINE_START),
    )


_SCAN = _byte_scan(_PLAN)
_AT_BLOCK_START = re.compile(_LINE_START)


def _hits(block: bytes | bytearray, size: int) -> tuple[list[int], bool]:
    """Where triggers (or bytes that hide them) start in `block[:size]`, sorted; a superset.

    Also whether the block is dense with them: then the scan stops early, as the whole block
    will be read.
    """
    dense = size // _DENSE
    probe = min(size, _PROBE)
    if size > _PROBE and len(_SCAN.common[0].findall(block, 0, probe)) > probe // _DENSE:
        return [], True  # a log this dense is read whole: scanning the rest would be waste
    hits: list[int] = []
    for pattern in _SCAN.common:
        hits += [m.start() for m in pattern.finditer(block, 0, size)]
        if len(hits) > dense:
            return hits, True
    for pattern in _SCAN.whole:
        hits += [m.start() for m in pattern.finditer(block, 0, size)]
    hits += [m.start() + 1 for m in _SCAN.line_start.finditer(block, 0, size)]
    if _AT_BLOCK_START.match(block, 0, size):
        hits.append(0)
    for key, checks in _SCAN.rare:
        hits += _rare_hits(block, size, key, checks)
    find = block.find
    for trigger in (*_SCAN.long, *_ALWAYS):
        at = find(trigger, 0, size)
        while at != -1:
            hits.append(at)
            at = find(trigger, at + 1, size)
    hits.sort()
    return hits, len(hits) > dense


def _rare_hits(
    block: bytes | bytearray, size: int, key: bytes, checks: tuple[tuple[bytes, int], ...]
) -> list[int]:
    """Where the triggers of a rare key start: memchr to each key byte, then a look."""
    find, startswith, hits = block.find, block.startswith, []
    if len(checks) == 1:
        ((trigger, offset),) = checks
        at = find(key, offset, size)
        while at != -1:
            if startswith(trigger, at - offset):
                hits.append(at - offset)
            at = find(key, at + 1, size)
        return hits
    at = find(key, 0, size)
    while at != -1:
        for trigger, offset in checks:
            if at >= offset and startswith(trigger, at - offset):
                hits.append(at - offset)
                break
        at = find(key, at + 1, size)
    return hits


# The first container's header in bytes: a `syslog live` line it matches is a header without
# being decoded and cleaned (cleaning only drops what this checks is not there).
_SYSLOG_LIVE_BYTES = re.compile(_SYSLOG_LIVE.pattern.encode(), re.ASCII)


def _is_header(block: bytes | bytearray, start: int) -> bool:
    """Whether the line at `start` begins a record with a header (see `_line`)."""
    end = block.find(b"\n", start)
    if end == -1:
        end = len(block)
    if _SYSLOG_LIVE_BYTES.match(block, start, end) and block.find(b"\x1b", start, end) == -1:
        return True
    return _line(block[start:end].decode("utf-8", "replace"))[1] is not None


def _regions(block: bytes | bytearray, size: int) -> Iterator[bytes | bytearray]:
    """The parts of `block[:size]` (which starts a record) that hold every record with a trigger.

    A hit's region runs from the header line at or before it to the next header line: a header
    always starts a record, so a region is whole records, and no trigger outside one can be in
    a record with a header inside it. Where hits are dense, the block is one region.
    """
    hits, dense = _hits(block, size)
    if dense:
        yield block[:size]
        return
    done = 0
    for hit in hits:
        if hit < done:
            continue
        start = block.rfind(b"\n", 0, hit) + 1
        while start > 0 and not _is_header(block, start):
            start = block.rfind(b"\n", 0, start - 1) + 1
        end = block.find(b"\n", hit, size) + 1 or size
        while end < size and not _is_header(block, end):
            end = block.find(b"\n", end, size) + 1 or size
        yield block[start:end]
        done = end


_EVERY = Selection()  # every event, at any time


class Readable(Protocol):
    """What the fast path reads: a binary file, a pipe, or `_Blocks` (anything with readinto)."""

    def readinto(self, buffer: memoryview, /) -> int | None: ...


_ReadInto = Callable[[memoryview], "int | None"]


class _Blocks:
    """Byte blocks, cut anywhere, read as a file: `parse_blocks` and a file share one reader."""

    def __init__(self, blocks: Iterable[bytes]):
        self._blocks = iter(blocks)
        self._pending = memoryview(b"")

    def readinto(self, buffer: memoryview, /) -> int:
        while not self._pending:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._pending = memoryview(block)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


BLOCK = 1 << 22  # bytes read at a time: enough that scanning, not Python, is what costs


def _last_record_start(buffer: bytearray, size: int) -> int:
    """Where the last whole line of `buffer[:size]` that starts a record begins; 0 if none."""
    last = buffer.rfind(b"\n", 0, size)  # what follows this newline may be incomplete
    start = buffer.rfind(b"\n", 0, last) + 1 if last > 0 else 0
    while start > 0 and not _is_header(buffer, start):
        start = buffer.rfind(b"\n", 0, start - 1) + 1
    return start


def _record_blocks(read_into: _ReadInto) -> Iterator[tuple[bytearray, int]]:
    """What `read_into` gives, in pieces that each start a record (at a header, or the start).

    A piece is `(buffer, size)`, the piece being `buffer[:size]`: one buffer is filled again
    and again (a fresh block each read cost a tenth of the time), so a piece must be done
    with before the next is asked for. It ends before the last whole header line read; the
    rest waits for more. What holds no header line at all waits whole (the buffer grows), so
    bare text is never cut apart.
    """
    buffer, have = bytearray(BLOCK), 0
    while True:
        if have == len(buffer):
            buffer.extend(bytes(len(buffer)))
        with memoryview(buffer) as view, view[have:] as free:
            read = read_into(free)
        if not read:
            break
        have += read
        cut = _last_record_start(buffer, have)
        if cut > 0:
            yield buffer, cut
            buffer[: have - cut] = buffer[cut:have]
            have -= cut
    if have:
        yield buffer, have


def _block_findings(
    read_into: _ReadInto, detail: bool = True, light: bool = False
) -> Iterator[tuple[_Fields, str, list[_Finding]]]:
    for block, size in _record_blocks(read_into):
        for region in _regions(block, size):
            lines = _split(region.decode("utf-8", "replace"))
            yield from _text_findings(lines, prefilter=False, detail=detail, light=light)


def parse_file(file: Readable, follow: bool = False) -> Iterator[Event]:
    """The events in a log file (opened binary) or pipe: `parse_lines`' events, read fast.

    Lines are split at `\\n` only (a `\\r` before it is dropped); bytes that are not UTF-8 are
    replaced, as a text file opened with `errors="replace"` would give them. With `follow`, what
    has arrived is read at once (`readinto1`): a pipe from a live log is never waited on for a
    whole block.
    """
    for fields, text, found in _block_findings(_reader(file, follow)):
        yield from _events(fields, text, found)


def parse_blocks(blocks: Iterable[bytes]) -> Iterator[Event]:
    """The events in a log given as UTF-8 byte blocks cut anywhere (see `parse_file`)."""
    return parse_file(_Blocks(blocks))


def _reader(file: Readable, follow: bool) -> _ReadInto:
    return getattr(file, "readinto1", file.readinto) if follow else file.readinto


class _Light(NamedTuple):
    kind: str
    task: str | None
    time: float | None


def _count(lines: Iterable[str], kinds: frozenset[str] | None) -> int:
    """How many events (of `kinds`) the records of `lines` hold: `--count`'s own loop.

    It is `_text_findings(lines, prefilter=False, detail=False, light=True)` counted, without
    the records' fields, which were a fifth of the time spent on a relevant line.
    """
    counted = 0
    for header, text in _records(lines):
        if header is None:
            key = "", text
        else:
            (_, _, light), found = header
            key = light(found, text)
        events = _COUNTED.get(key)
        if events is None:
            if len(_COUNTED) >= _COUNTED_MAX:
                _COUNTED.clear()
            events = _COUNTED[key] = _findings(key[0], "", "", key[1], detail=False)
        if events:
            counted += len(events) if kinds is None else sum(e[0] in kinds for e in events)
    return counted


def count_file(file: Readable, selection: Selection = _EVERY, follow: bool = False) -> int:
    """How many of `parse_file`'s events `selection` picks, without building the events."""
    read_into = _reader(file, follow)
    if selection.task is None and selection.since == _ANY_TIME:
        return sum(
            _count(_split(region.decode("utf-8", "replace")), selection.kinds)
            for block, size in _record_blocks(read_into)
            for region in _regions(block, size)
        )
    timed = selection.since != _ANY_TIME
    findings = _block_findings(read_into, detail=selection.task is not None, light=not timed)
    lights = (
        _Light(kind, task, None if fields[0] == NO_TIME else fields[0])
        for fields, _, found in findings
        for kind, task, _, _ in found
    )
    return sum(1 for _ in selection.select(lights))


def count_blocks(blocks: Iterable[bytes], selection: Selection = _EVERY) -> int:
    """How many of `parse_blocks`' events `selection` picks (see `count_file`)."""
    return count_file(_Blocks(blocks), selection)
