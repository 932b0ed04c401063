"""pytest fixtures for the fake phone: a started phone, its devices.yaml record, an open device.

Every fixture checks on the way out that the phone and the backend left no thread and no
socket behind.
"""

from __future__ import annotations

import gc
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.data.inventory import Address, DeviceRecord
from harness.device.backends.ios import IosDevice
from tests.fakephone.phone import FakePhone


def ours() -> list[str]:
    """Threads the fake phone or the backend started."""
    return sorted(
        t.name
        for t in threading.enumerate()
        if t.name.startswith(("fakephone-", "bgharness-")) and t.is_alive()
    )


def fresh_udid() -> str:
    """A UDID of the modern form; fresh per test so no pair record on disk can match it."""
    return f"00008110-{uuid.uuid4().hex[:16].upper()}"


@pytest.fixture
def fake() -> Iterator[FakePhone]:
    before = ours()
    fake = FakePhone(udid=fresh_udid()).start()
    try:
        yield fake
    finally:
        fake.stop()
    gc.collect()
    assert fake.threads_alive() == [], "the fake phone left threads running"
    assert fake.open_sockets() == 0, "the fake phone left sockets open"
    assert ours() == before, "threads left behind"


def record_for(phone: FakePhone, **fields) -> DeviceRecord:
    host, port = phone.address.rsplit(":", 1)
    base = dict(
        name="lab-iphone",
        backend="ios",
        udid=phone.udid,
        usbmux=Address(host, int(port)),
        ios=phone.ios,
        model=phone.model,
        unlock=True,
    )
    base.update(fields)
    return DeviceRecord(**base)


@pytest.fixture
def fake_record(fake: FakePhone) -> DeviceRecord:
    return record_for(fake)


@pytest.fixture
def ios_device(fake: FakePhone, fake_record: DeviceRecord, tmp_path: Path) -> Iterator[IosDevice]:
    opened = IosDevice.open(fake_record, tmp_path / "state")
    try:
        yield opened
    finally:
        opened.close()
