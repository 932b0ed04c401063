"""Backends: the code that makes one kind of device honour the Device contract."""

from __future__ import annotations

from pathlib import Path

from harness.device import Device
from harness.errors import Unsupported
from harness.inventory import DeviceRecord


def open_device(record: DeviceRecord, state_dir: Path) -> Device:
    """Connect to the device `record` describes; `state_dir` keeps what must outlive the run."""
    if record.backend == "virtual":
        from harness.backends.virtual import VirtualIPhone

        return VirtualIPhone.open(record, state_dir)
    raise Unsupported(
        record.name,
        f"the {record.backend!r} backend",
        "this version of bgharness drives only the virtual iPhone; the pymobiledevice3 backend "
        "for real iPhones is the next step (see the README, 'What is verified where')",
    )
