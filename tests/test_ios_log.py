"""The ios device log across dropped connections: nothing lost, nothing doubled, gaps said."""

from __future__ import annotations

import threading
import time

import pytest
from pymobiledevice3.exceptions import (
    ConnectionTerminatedError,
    DeviceNotFoundError,
    ProtocolError,
)

from harness.core.events import LogEntry
from harness.core.logparse import parse_entry
from harness.device.backends.ios import IosDevice, IosLogStream
from harness.device.backends.ios_log import GAP_PROCESS, Continuity, LogReader, gap_entry, to_entry
from tests.test_ios_fakes import UDID, FakePhone, bgharness_threads, make_record, syslog_entry

T0 = time.time() - 60


def entries(*messages: str, start: float = T0) -> list:
    return [syslog_entry(m, start + i) for i, m in enumerate(messages)]


def take(stream: IosLogStream, count: int, timeout: float = 10.0) -> list[LogEntry]:
    """Up to `count` entries from the stream, waiting at most `timeout` seconds."""
    got: list[LogEntry] = []

    def read() -> None:
        for entry in stream:
            got.append(entry)
            if len(got) == count:
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    return got


def reader_for(phone: FakePhone, *, attempts: int = 5) -> IosLogStream:
    async def connect():
        return await phone.pmd3.create_using_usbmux(serial=UDID)

    stream = IosLogStream("test")
    stream.start(
        LogReader(connect, phone.pmd3.OsTraceService, stream, attempts=attempts, waits=(0.0,))
    )
    return stream


def messages(got: list[LogEntry]) -> list[str]:
    return [e.message if e.process != GAP_PROCESS else "GAP" for e in got]


def test_a_reconnect_that_overlaps_loses_nothing_and_doubles_nothing():
    phone = FakePhone()
    first = entries("e1", "e2", "e3")
    phone.log_connections = [
        [*first, ConnectionTerminatedError()],
        [
            *entries("e2", "e3", start=T0 + 1),
            syslog_entry("e4", T0 + 3),
            syslog_entry("e5", T0 + 4),
        ],
    ]
    stream = reader_for(phone)
    try:
        got = take(stream, 5)
    finally:
        stream.close()
    assert messages(got) == ["e1", "e2", "e3", "e4", "e5"]
    assert phone.log_opened == 2


def test_a_reconnect_that_does_not_overlap_reports_the_gap():
    phone = FakePhone()
    phone.log_connections = [
        [*entries("e1", "e2"), ConnectionTerminatedError("cable pulled")],
        entries("e7", "e8", start=T0 + 10),
    ]
    stream = reader_for(phone)
    try:
        got = take(stream, 5)
    finally:
        stream.close()
    assert messages(got) == ["e1", "e2", "GAP", "e7", "e8"]
    gap = got[2]
    assert (gap.process, gap.level, gap.time) == (GAP_PROCESS, "ERROR", got[3].time)
    assert "cable pulled" in gap.message and "could not be read" in gap.message


def test_a_log_that_cannot_be_reconnected_ends_with_a_gap_saying_so():
    phone = FakePhone()
    phone.log_connections = [[*entries("e1"), ConnectionTerminatedError()]]
    phone.connect_errors = [None] + [DeviceNotFoundError(UDID)] * 10
    stream = reader_for(phone, attempts=2)
    try:
        got = take(stream, 2)
    finally:
        stream.close()
    assert messages(got) == ["e1", "GAP"]
    assert "2 reconnects failed" in got[1].message and "nothing the device logged" in got[1].message


def test_a_failure_that_is_not_a_drop_is_not_retried_but_said():
    phone = FakePhone()
    phone.log_connections = [[ProtocolError("The device refused to start the log stream")]]
    stream = reader_for(phone)
    try:
        got = take(stream, 1)
    finally:
        stream.close()
    assert messages(got) == ["GAP"] and "refused to start the log stream" in got[0].message
    assert phone.log_opened == 1
    assert isinstance(stream.reader.error, ProtocolError)


def test_the_device_log_reconnects_through_its_own_connection(tmp_path):
    phone = FakePhone()
    device = IosDevice.open(make_record(), tmp_path, pmd3=phone.pmd3)
    try:
        phone.log_connections = [
            [*entries("e1", "e2"), ConnectionTerminatedError()],
            entries("e2", "e3", start=T0 + 1),
        ]
        phone.connect_errors = [None, DeviceNotFoundError(UDID)]  # re-enumerating once
        stream = device.log_stream()
        got = take(stream, 3)
        assert messages(got) == ["e1", "e2", "e3"]
        stream.close()
    finally:
        device.close()
    assert bgharness_threads() == []


def test_continuity_remembers_a_bounded_window():
    continuity = Continuity(window=2)
    a, b, c = (to_entry(e) for e in entries("a", "b", "c"))
    for entry in (a, b, c):
        assert continuity.accept(entry) == [entry]
    continuity.dropped("test")
    assert continuity.accept(c) == []  # still remembered
    assert continuity.accept(a) == [a]  # forgotten, and older than the drop: delivered again


def test_an_entry_older_than_the_drop_but_never_delivered_is_kept():
    continuity = Continuity()
    a, c = (to_entry(e) for e in entries("a", "c"))
    b = to_entry(syslog_entry("b", a.time + 0.5))
    continuity.accept(a)
    continuity.accept(c)
    continuity.dropped("x")
    assert continuity.accept(c) == []
    assert continuity.accept(b) == [b]


def test_a_gap_entry_is_not_an_event():
    assert parse_entry(gap_entry(T0, "the device log stream dropped (x)")) == []


def test_to_entry_maps_the_syslog_fields():
    entry = to_entry(syslog_entry("hello", T0, pid=97, process="dasd"))
    assert (entry.process, entry.pid, entry.message, entry.image) == (
        "dasd",
        97,
        "hello",
        "BackgroundTasks",
    )
    assert entry.time == pytest.approx(T0, abs=1e-6)
