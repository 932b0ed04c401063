"""Whether a process on this host still exists: how leases and the journal tell a dead holder."""

from __future__ import annotations

import os


def pid_alive(pid: int) -> bool:
    """True while `pid` exists here (also when it belongs to another user)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
