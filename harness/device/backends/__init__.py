"""Backends: the code that makes one kind of device honour the Device contract."""

from __future__ import annotations

from pathlib import Path

from harness.data.inventory import DeviceRecord
from harness.device.contract import Device


def open_device(record: DeviceRecord, state_dir: Path) -> Device:
    """Connect to the device `record` describes; `state_dir` keeps what must outlive the run.

    Raises `DeviceUnavailable` (the plugin skips the device's tests with the reason) when a
    declared phone cannot be reached, and `Unsupported` when it cannot be tested as declared.
    """
    if record.backend == "virtual":
        from harness.device.backends.virtual import VirtualIPhone

        return VirtualIPhone.open(record, state_dir)
    from harness.device.backends.ios import (
        IosDevice,  # imports pymobiledevice3: only for real phones
    )

    return IosDevice.open(record, state_dir)
