"""The nightly job matrix: which CI job runs which devices, from devices.yaml.

A phone is tested by a job on the lab Mac it is plugged into (the debugger bridge and the log
stream stay on that Mac's USB), so jobs are grouped by lab host, or one per device with
`per_device`. The CI system is the engine (docs/architecture.md, "Scale"): this module only
says what to run where; `bgharness matrix` prints it for GitHub Actions (`strategy.matrix`),
Jenkins (`readJSON`) or as plain JSON.

Which host a device is on, in order:

1. its `host: NAME` in devices.yaml: the CI runner label of the Mac it is plugged into
   (`--device-filter 'host == lab-mac-1'` selects that Mac's phones);
2. the host of `usbmux: HOST:PORT` or `tunnel: tunneld@HOST:PORT` (the Mac that serves it);
3. a virtual iPhone needs no lab Mac: host `virtual`, a job on any runner.

A real iPhone with none of these is an error that says to add `host:`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from harness.core.errors import UsageError
from harness.data.inventory import DeviceRecord

VIRTUAL_HOST = "virtual"
Format = Literal["github", "jenkins", "json"]
FORMATS: tuple[Format, ...] = ("github", "jenkins", "json")
_LOCAL = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class Job:
    """One CI job: where it runs and which devices it tests there."""

    name: str
    host: str
    devices: tuple[str, ...]

    @property
    def pytest_args(self) -> str:
        """What `make device PYTEST_DEVICE_ARGS=...` needs to run exactly these devices."""
        return " ".join(f"--device {name}" for name in self.devices)

    @property
    def results(self) -> str:
        """The artifact name for this job's allure-results (unique within the matrix)."""
        return f"allure-results-{self.name}"


def host_of(record: DeviceRecord) -> str:
    """The lab host a device's job runs on (rules in the module docstring)."""
    if record.host:
        return record.host
    if record.usbmux is not None:
        return record.usbmux.host
    if record.tunnel is not None and record.tunnel.host not in _LOCAL:
        return record.tunnel.host
    if record.backend == "virtual":
        return VIRTUAL_HOST
    raise UsageError(
        f"{record.name} (line {record.line} of the inventory): which lab Mac is it plugged "
        "into? Add `host: NAME` with the CI runner label of that Mac, e.g. host: lab-mac-1"
    )


def jobs(records: Sequence[DeviceRecord], per_device: bool = False) -> list[Job]:
    """One job per host (devices in inventory order), or one per device."""
    if per_device:
        return [Job(r.name, host_of(r), (r.name,)) for r in records]
    by_host: dict[str, list[str]] = {}
    for record in records:
        by_host.setdefault(host_of(record), []).append(record.name)
    return [Job(host, host, tuple(names)) for host, names in by_host.items()]


def render(found: Sequence[Job], form: Format, anywhere: str = "ubuntu-latest") -> str:
    """The matrix as text for `form`; `anywhere` is the GitHub runner for virtual-only jobs."""
    if not found:
        raise UsageError("no devices selected, so no jobs; check --device and --device-filter")
    if form == "github":
        include = [
            {
                "name": job.name,
                "host": job.host,
                "runs_on": anywhere if job.host == VIRTUAL_HOST else ["self-hosted", job.host],
                "devices": " ".join(job.devices),
                "pytest_args": job.pytest_args,
                "results": job.results,
            }
            for job in found
        ]
        return json.dumps({"include": include}, separators=(",", ":"))
    if form == "jenkins":
        stages = [
            {
                "name": job.name,
                "label": None if job.host == VIRTUAL_HOST else job.host,
                "devices": list(job.devices),
                "pytest_args": job.pytest_args,
                "results": job.results,
            }
            for job in found
        ]
        return json.dumps(stages, indent=2)
    return json.dumps(
        {
            "jobs": [
                {
                    "name": job.name,
                    "host": job.host,
                    "devices": list(job.devices),
                    "pytest_args": job.pytest_args,
                    "results": job.results,
                }
                for job in found
            ]
        },
        indent=2,
    )
