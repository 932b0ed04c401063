"""The ios backend against the fake phone: the real pymobiledevice3 client over real sockets."""

from __future__ import annotations

import gc
import threading
import time

import pytest

from harness.backends.ios import IosDevice
from harness.errors import DeviceUnavailable
from tests.fakephone import FakePhone, LogLine
from tests.fakephone.fixtures import fake, fake_record, ios_device, record_for  # noqa: F401


def test_open_reads_the_phones_facts(ios_device: IosDevice, fake: FakePhone):
    info = ios_device.info()
    assert (info.ios_version, info.model, info.device_name) == (fake.ios, fake.model, fake.name)
    assert info.battery_percent == 87 and info.charging is True
    assert ("lockdown", "StartSession") in fake.requests  # a TLS session, not a shortcut


def test_an_unpaired_phone_is_not_ready_and_says_trust(fake: FakePhone, tmp_path):
    fake.scenario.paired = False
    with pytest.raises(DeviceUnavailable, match="trust"):
        IosDevice.open(record_for(fake), tmp_path)


def _read(stream, count: int, timeout: float = 15.0) -> list:
    got: list = []

    def run() -> None:
        for entry in stream:
            got.append(entry)
            if len(got) >= count:
                return

    reader = threading.Thread(target=run, daemon=True)
    reader.start()
    reader.join(timeout)
    return got


def _streaming(fake: FakePhone) -> None:
    """Wait until the phone's os_trace relay has a reader (StartActivity arrived)."""
    for _ in range(500):
        if ("os_trace", "StartActivity") in fake.requests:
            return
        time.sleep(0.01)
    raise AssertionError("the log stream never started")


def test_the_live_log_survives_garbage_collection(ios_device: IosDevice, fake: FakePhone):
    """asyncio holds tasks weakly: a reader task only a dropped future referred to is collected
    mid-stream (issue 13). Collect hard while 15 lines stream; all 15 arrive."""
    stream = ios_device.log_stream()
    try:
        _streaming(fake)
        for i in range(15):
            gc.collect()
            fake.log(LogLine(f"line {i}"))
            gc.collect()
            time.sleep(0.02)
        got = [e.message for e in _read(stream, 15)]
    finally:
        stream.close()
    assert got == [f"line {i}" for i in range(15)]
