"""A SIGKILLed worker that nobody has reaped yet is dead: its lease frees at once, and the next
run undoes what its journal says it left applied (issue 14: `kill(pid, 0)` called it alive)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from harness.data.inventory import DeviceRecord, Inventory
from harness.data.processes import pid_alive
from harness.lab.lab import Lab
from harness.lab.lease import Holder, LeaseDir, Leases

REPO = Path(__file__).resolve().parents[1]

# The worker: takes the virtual iPhone's lease, goes offline inside bg.offline(), then waits to be
# killed, as an xdist worker in the middle of a test.
WORKER = """
import sys, time
from pathlib import Path
from harness.data.inventory import DeviceRecord, Inventory
from harness.lab.lab import Lab
from harness.lab.lease import Holder, LeaseDir, Leases
from harness.session.session import Session

state, leases = Path(sys.argv[1]), Path(sys.argv[2])
inventory = Inventory((DeviceRecord("phone", "virtual"),), {}, Path("devices.yaml"))
lab = Lab(inventory, state, print, Leases(LeaseDir(leases), Holder.this_process(), ttl=3600))
session = Session(lab.open("phone"), lab.journal)
offline = session.offline()
offline.__enter__()
print("offline", flush=True)
time.sleep(3600)
"""


def _lab(state: Path, leases: Path, said: list[str]) -> Lab:
    inventory = Inventory((DeviceRecord("phone", "virtual"),), {}, Path("devices.yaml"))
    leases_ = Leases(LeaseDir(leases), Holder.this_process(), wait=0, say=said.append)
    return Lab(inventory, state, said.append, leases_)


def _zombie(state: Path, leases: Path) -> subprocess.Popen[str]:
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(state), str(leases)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert worker.stdout is not None and worker.stdout.readline().strip() == "offline"
    os.kill(worker.pid, signal.SIGKILL)
    # Not reaped: wait for the kernel to make it a zombie, as xdist's controller leaves it until
    # it notices. (psutil.wait_procs would reap it; polling the state does not.)
    process = psutil.Process(worker.pid)
    for _ in range(6000):
        if process.status() == psutil.STATUS_ZOMBIE:
            break
        time.sleep(0.01)
    assert process.status() == psutil.STATUS_ZOMBIE
    return worker


def test_a_killed_unreaped_worker_frees_its_device_at_once_and_is_undone(tmp_path):
    state, leases = tmp_path / "state", tmp_path / "leases"
    worker = _zombie(state, leases)
    try:
        os.kill(worker.pid, 0)  # what the old check asked: the zombie still answers
        said: list[str] = []
        lab = _lab(state, leases, said)
        device = lab.open("phone")  # --device-wait 0: fails at once if the zombie still holds it
        assert not pid_alive(worker.pid)
        took = [line for line in said if "took over a stale lease: its holder" in line]
        assert took and "has exited" in took[0], said
        assert any("restored the network: a crashed run left it" in line for line in said), said
        saved = json.loads((state / "virtual-phone.json").read_text())
        assert saved["network"] is None and device.locked() is False
        assert not list((state / "journal" / "phone").glob("*.json"))
        lab.close()
    finally:
        worker.wait()
