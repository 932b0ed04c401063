"""Lab scale under pytest-xdist: `-n auto` starts one worker per selected device, and the
`DeviceScheduling` scheduler hands all of a device's tests to one worker, so a device is never
used by two workers (docs/architecture.md, Scale).

The controller-side hooks live on the plugin object (harness.surfaces.pytest_plugin.plugin),
which delegates here; `pytest_xdist_auto_num_workers` is a module hook because xdist asks it
before pytest_configure registers that object.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from harness.core.errors import HarnessError
from harness.surfaces.pytest_plugin.options import devices_path, load_selection, wants_devices


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` on a device run: one worker per selected device (xdist asks before configure;
    tryfirst, or xdist's own answer, the CPU count, would win).

    A run that selects no devices (`pytest tests -n auto`) keeps xdist's own count (CPUs).
    """
    if not wants_devices(config):
        return None
    try:
        records = load_selection(config)
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    return max(1, len(records))


def make_scheduler(config: pytest.Config, log: Any, names: Callable[[], list[str]]) -> Any:
    """The scheduler for pytest_xdist_make_scheduler: None keeps xdist's own. `names` gives the
    selected devices (called only when there is an inventory)."""
    if config.getvalue("dist") == "each":
        return None  # the user asked for every test on every worker
    if not devices_path(config).is_file():
        return None  # no inventory, so no device tests: xdist's own scheduling
    selected = names()
    return device_scheduling(config, log, lambda nodeid: device_in_nodeid(nodeid, selected))


def device_scheduling(config: pytest.Config, log: Any, device_of: Callable[[str], Any]) -> Any:
    """xdist's load-scope scheduler with one scope per device: all of a device's tests are one
    unit of work, so exactly one worker runs them (and holds the device's lease). Tests without
    a device stay one unit each, spread like `--dist load`."""
    from xdist.scheduler import LoadScopeScheduling

    class DeviceScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            name = device_of(nodeid)
            return f"bgharness device {name}" if name else nodeid

    return DeviceScheduling(config, log)


def device_in_nodeid(nodeid: str, names: list[str]) -> str | None:
    """The device a test id ends with (`...[virtual-iphone]`, `...[1-virtual-iphone]`)."""
    if not nodeid.endswith("]"):
        return None
    for name in sorted(names, key=len, reverse=True):
        if nodeid.endswith(f"[{name}]") or nodeid.endswith(f"-{name}]"):
            return name
    return None
