"""Soak: 1,000 scenarios in a loop on one virtual iPhone, in one process, as a long lab run.

Each scenario is what a suite test does: a session, launch with a plan, background, trigger,
expect the completion; every third goes offline for a while, every fifth locks the phone; then
the session closes and the app is killed. The run holds the device's lease the whole time (the
heartbeat thread renews it). Memory (RSS), threads and open files are recorded after a warm-up
and at the end: they should be flat, since nothing a scenario makes outlives it.
"""

from __future__ import annotations

import gc
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from harness.data.inventory import AppEntry, DeviceRecord, Inventory  # noqa: E402
from harness.lab.lab import Lab  # noqa: E402
from harness.lab.lease import Holder, LeaseDir, Leases  # noqa: E402
from harness.session.session import App, Session  # noqa: E402

SCENARIOS = 1000
WARM_UP = 50
PLAN = {
    "register": ["refresh"],
    "submit": [{"type": "refresh", "id": "refresh"}],
    "handler": {"work_s": 5},
}


def _figures() -> dict[str, float]:
    gc.collect()
    me = psutil.Process()
    return {
        "rss_mb": round(me.memory_info().rss / 2**20, 1),
        "threads": me.num_threads(),
        "open_files": len(me.open_files()),
        "fds": me.num_fds(),
    }


def _scenario(lab: Lab, device, n: int) -> None:
    session = Session(device, lab.journal)
    try:
        app = App(session, lab.install("phone", "BGProbe"))
        app.launch(plan=PLAN)
        app.background()
        task = app.task("refresh")
        if n % 3 == 0:
            with session.offline():
                session.wait(60)
        if n % 5 == 0:
            with session.locked():
                session.wait(1)
        session.trigger(task)
        session.expect("task.completed", task=task, success=True, within=35)
        app.kill()
    finally:
        session.close()


def run(scenarios: int = SCENARIOS) -> dict:
    with tempfile.TemporaryDirectory(prefix="bgharness-soak-") as tmp:
        state = Path(tmp) / "state"
        app = AppEntry("BGProbe", ROOT / "suites/apps/BGProbe/Info.plist", 1)
        inventory = Inventory((DeviceRecord("phone", "virtual"),), {"BGProbe": app}, Path(tmp))
        leases = Leases(LeaseDir(Path(tmp) / "leases"), Holder.this_process(), ttl=4)
        lab = Lab(inventory, state, print, leases)
        device = lab.open("phone")
        for n in range(WARM_UP):
            _scenario(lab, device, n)
        start = _figures()
        started = time.perf_counter()
        samples = []
        for n in range(scenarios):
            _scenario(lab, device, n)
            if (n + 1) % 250 == 0:
                samples.append(_figures()["rss_mb"])
        took = time.perf_counter() - started
        end = _figures()
        lab.check_lease("phone", "soak")  # still ours after the whole loop
        lab.close()
    return {
        "scenarios": scenarios,
        "scenarios_per_s": round(scenarios / took, 1),
        **{f"start_{k}": v for k, v in start.items()},
        **{f"end_{k}": v for k, v in end.items()},
        "rss_mb_every_250": samples,
        "rss_growth_mb": round(end["rss_mb"] - start["rss_mb"], 1),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else SCENARIOS), indent=2))
