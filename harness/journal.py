"""The perturbation journal: a change to a device (network, lock, power, settings, restart,
memory pressure; KINDS) is written down before it is made.

A run that dies inside `bg.offline()` (SIGKILL, power cut) cannot undo what it did, so the next
run reads the journal and undoes it before its first test. One file per perturbation under
reports/.state/journal/<device>/, written atomically and fsynced, removed after the undo.
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.processes import pid_alive

# The one table of perturbation kinds: what each one is, said to a person (harness.session
# says how each is undone, and has the context manager that applies it).
KINDS = {
    "network": "network set to {detail}",
    "lock": "device locked",
    "power": "power source set to {detail}",
    "low_power": "Low Power Mode turned on",
    "refresh": "Background App Refresh turned off",
    "memory": "memory pressure applied",
    "reboot": "device restarted and left before its first unlock",
}


@dataclass(frozen=True)
class Perturbation:
    """One change to a device that must be undone: `kind` one of KINDS, and its detail."""

    id: str
    device: str
    kind: str
    detail: str
    host: str
    pid: int
    started: float  # wall clock

    def describe(self) -> str:
        what = KINDS.get(self.kind, self.kind + " {detail}").format(detail=self.detail)
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"{what} by pid {self.pid} on {self.host} at {when}"


class Journal:
    def __init__(self, state_dir: Path):
        self._dir = state_dir / "journal"

    def record(self, device: str, kind: str, detail: str) -> Perturbation:
        """Write the perturbation down (durably) before the caller applies it."""
        p = Perturbation(
            uuid.uuid4().hex[:12],
            device,
            kind,
            detail,
            socket.gethostname(),
            os.getpid(),
            time.time(),
        )
        path = self._path(p)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with open(tmp, "w") as f:
            json.dump(asdict(p), f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        return p

    def remove(self, p: Perturbation) -> None:
        """Forget a perturbation once it has been undone; harmless to call twice."""
        self._path(p).unlink(missing_ok=True)

    def entries(self, device: str) -> list[Perturbation]:
        folder = self._dir / device
        found = []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                found.append(Perturbation(**json.loads(path.read_text())))
            except (ValueError, TypeError) as exc:
                raise HarnessError(
                    f"the perturbation journal {path} is unreadable ({exc}); check the device "
                    "by hand (network conditions, lock), then delete the file"
                ) from None
        return sorted(found, key=lambda p: p.started)

    def abandoned(self, device: str) -> list[Perturbation]:
        """Perturbations whose run is gone: another pid on this host that no longer exists."""
        host = socket.gethostname()
        return [p for p in self.entries(device) if p.host == host and not pid_alive(p.pid)]

    def _path(self, p: Perturbation) -> Path:
        return self._dir / p.device / f"{p.id}.json"


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
