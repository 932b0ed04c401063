"""Whether a process on this host still exists: how leases and the journal tell a dead holder.

`kill(pid, 0)` is not enough: it succeeds on a zombie, a process that has exited but that its
parent has not reaped yet (a SIGKILLed xdist worker, until xdist's controller waits for it). A
zombie runs no code and renews no lease, so it counts as dead here: psutil reads its state
(/proc/PID/stat on Linux, the kernel's proc table on macOS).
"""

from __future__ import annotations

import os

import psutil


def pid_alive(pid: int) -> bool:
    """True while `pid` runs here (also when it belongs to another user); False for a zombie."""
    if pid == os.getpid():
        return True
    if pid <= 0:
        return False  # 0 and negative pids name process groups, never one holder
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:  # ZombieProcess (macOS) is one of these
        return False
    except psutil.AccessDenied:
        return True
    except (OSError, ValueError, OverflowError):
        return False  # a pid no process can have (beyond pid_max)
