"""The perturbation journal: a change to a device (network, lock, power, settings, restart,
memory pressure; KINDS) is written down before it is made.

A run that dies inside `bg.offline()` (SIGKILL, power cut) cannot undo what it did, so the next
run reads the journal and undoes it before its first test. One file per perturbation under
reports/.state/journal/<device>/, written atomically and fsynced, removed after the undo.

The steps are: record (the file exists), apply, mark it `undoing`, undo, remove. A run stopped
between any two of them leaves the device restorable, and the next run can tell a change that
was left applied from one whose undo was cut short, so it never claims a restore it did not make.
A write the disk refuses is one InfraError naming the folder, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from pathlib import Path

from harness.core.errors import InfraError
from harness.data.processes import pid_alive

# What a perturbation changes; harness.session.session knows how to apply each.


class Kind(StrEnum):
    """What a perturbation changes; `KINDS` says how each is described and undone."""

    NETWORK = "network"
    LOCK = "lock"
    POWER = "power"
    LOW_POWER = "low_power"
    REFRESH = "refresh"
    MEMORY = "memory"
    REBOOT = "reboot"


@dataclass(frozen=True)
class KindInfo:
    """How one kind of perturbation reads in messages and which Device verb undoes it."""

    undo: str  # the Device verb that undoes it
    done: str  # what it did, formatted with the perturbation's `detail`
    undone: str  # what undoing it says, after a crashed run
    undo_args: tuple[object, ...] = ()  # what the verb is called with


# The one table of perturbation kinds: the journal, the session and `recover` all read it.
KINDS: dict[str, KindInfo] = {
    Kind.NETWORK: KindInfo("clear_network", "network set to {detail}", "restored the network"),
    Kind.LOCK: KindInfo("unlock", "device locked", "unlocked the device"),
    Kind.POWER: KindInfo(
        "set_power",
        "power source set to {detail}",
        "put the device back on its charger",
        ("charger",),
    ),
    Kind.LOW_POWER: KindInfo(
        "set_low_power_mode", "Low Power Mode turned on", "turned Low Power Mode off", (False,)
    ),
    Kind.REFRESH: KindInfo(
        "set_background_refresh",
        "Background App Refresh turned off",
        "turned Background App Refresh on",
        (True,),
    ),
    Kind.MEMORY: KindInfo(
        "set_memory_pressure", "memory pressure applied", "ended the memory pressure", (False,)
    ),
    Kind.REBOOT: KindInfo(
        "unlock",
        "device restarted and left before its first unlock",
        "unlocked the restarted device",
    ),
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
    undoing: bool = False  # its run had started the undo when it stopped

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
        self._write(p)
        return p

    def mark_undoing(self, p: Perturbation) -> Perturbation:
        """Say (durably) that the undo starts: a run stopped now left it perhaps half undone."""
        marked = replace(p, undoing=True)
        self._write(marked)
        return marked

    def remove(self, p: Perturbation) -> None:
        """Forget a perturbation once it has been undone; harmless to call twice."""
        try:
            self._path(p).unlink(missing_ok=True)
        except OSError as exc:
            raise self._unwritable(self._path(p).parent, exc) from None

    def _write(self, p: Perturbation) -> None:
        path = self._path(p)
        tmp = path.with_name(f"{p.id}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(tmp, "w") as f:
                json.dump(asdict(p), f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
            _fsync_dir(path.parent)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise self._unwritable(path.parent, exc) from None

    def _unwritable(self, folder: Path, exc: OSError) -> InfraError:
        return InfraError(
            f"cannot write the perturbation journal in {folder} ({exc.strerror or exc}); make "
            f"{self._dir.parent} writable and free space there: the harness changes a device's "
            "network or lock only once it is written down"
        )

    def clean_tmp(self, device: str) -> None:
        """Remove half-written records of runs that are gone (they never applied anything)."""
        folder = self._dir / device
        for tmp in folder.glob("*.tmp") if folder.is_dir() else []:
            with contextlib.suppress(OSError, ValueError):
                if not pid_alive(int(tmp.name.split(".")[-2])):
                    tmp.unlink()

    def entries(self, device: str) -> list[Perturbation]:
        folder = self._dir / device
        found = []
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            try:
                found.append(_perturbation(json.loads(path.read_text(encoding="utf-8"))))
            except (OSError, ValueError, TypeError, RecursionError) as exc:
                why = " ".join(str(exc).split())[:120] or type(exc).__name__
                raise InfraError(
                    f"the perturbation journal {path} is unreadable ({why}); check the device "
                    "by hand (network conditions, lock), then delete the file"
                ) from None
        return sorted(found, key=lambda p: p.started)

    def abandoned(self, device: str) -> list[Perturbation]:
        """Perturbations whose run is gone: another pid on this host that no longer exists."""
        host = socket.gethostname()
        return [p for p in self.entries(device) if p.host == host and not pid_alive(p.pid)]

    def _path(self, p: Perturbation) -> Path:
        return self._dir / p.device / f"{p.id}.json"


def _perturbation(data: object) -> Perturbation:
    """A record as `record` wrote it, or ValueError naming what is wrong."""
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    p = Perturbation(**data)
    fields = (p.id, p.device, p.detail, p.host)
    if not all(isinstance(f, str) for f in fields) or p.kind not in KINDS:
        raise ValueError(f"unexpected fields: kind {p.kind!r:.40}")
    if isinstance(p.pid, bool) or not isinstance(p.pid, int) or not isinstance(p.undoing, bool):
        raise ValueError("pid must be a number and undoing true or false")
    if not isinstance(p.started, int | float) or not 0 <= p.started < 1e11:
        raise ValueError(f"started is not a time: {p.started!r:.40}")
    return p


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
