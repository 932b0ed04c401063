"""What the command line selects: the inventory's path, this xdist worker's input, and whether
the run wants devices at all. Shared by the plugin object and the xdist hooks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from harness.data.inventory import DeviceRecord, load_inventory


def devices_path(config: pytest.Config) -> Path:
    return Path(config.getoption("devices") or Path(config.rootpath) / "devices.yaml")


def workerinput(config: pytest.Config) -> dict[str, Any]:
    """xdist's input to this worker; empty on the controller or without xdist."""
    return getattr(config, "workerinput", {})


def load_selection(config: pytest.Config) -> list[DeviceRecord]:
    inventory = load_inventory(devices_path(config))
    return inventory.select(config.getoption("device"), config.getoption("device_filter"))


def wants_devices(config: pytest.Config) -> bool:
    """Whether this run selects devices: `-m` names `device` (not only `not device`), or a
    device option was given."""
    markexpr = config.getoption("markexpr") or ""
    marked = bool(re.search(r"(?<!not )\bdevice\b", markexpr))
    chosen = config.getoption("device") or config.getoption("device_filter")
    return marked or bool(chosen) or config.getoption("devices") is not None


def device_param(item: pytest.Item) -> str | None:
    """The device a collected test runs on (its `device` parametrisation), if any."""
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("device") if callspec else None
