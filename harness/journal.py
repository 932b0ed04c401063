"""The perturbation journal: a device's network or lock change is written down before it is made.

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
from enum import StrEnum
from pathlib import Path

from harness.errors import InfraError
from harness.processes import pid_alive


class Kind(StrEnum):
    """What a perturbation changes; `KINDS` says how each is described and undone."""

    NETWORK = "network"
    LOCK = "lock"


@dataclass(frozen=True)
class KindInfo:
    """How one kind of perturbation reads in messages and which Device verb undoes it."""

    undo: str  # the Device verb that undoes it, called with no arguments
    done: str  # what it did, formatted with the perturbation's `detail`
    undone: str  # what undoing it says, after a crashed run


# The one table of perturbation kinds: the journal, the session and `recover` all read it.
KINDS: dict[str, KindInfo] = {
    Kind.NETWORK: KindInfo("clear_network", "network set to {detail}", "restored the network"),
    Kind.LOCK: KindInfo("unlock", "device locked", "unlocked the device"),
}


@dataclass(frozen=True)
class Perturbation:
    """One change to a device that must be undone: `kind` network or lock, and its detail."""

    id: str
    device: str
    kind: str
    detail: str
    host: str
    pid: int
    started: float  # wall clock

    def describe(self) -> str:
        what = KINDS[self.kind].done.format(detail=self.detail)
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
        return f"{what} by pid {self.pid} on {self.host} at {when}"


class Journal:
    def __init__(self, state_dir: Path):
        self._dir = state_dir / "journal"

    def record(self, device: str, kind: str, detail: str) -> Perturbation:
        """Write the perturbation down (durably) before the caller applies it."""
        if kind not in KINDS:
            raise ValueError(f"unknown perturbation kind {kind!r}; kinds: {', '.join(KINDS)}")
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
                p = Perturbation(**json.loads(path.read_text()))
                if p.kind not in KINDS:
                    raise ValueError(f"unknown kind {p.kind!r}")
                found.append(p)
            except (ValueError, TypeError) as exc:
                raise InfraError(
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
