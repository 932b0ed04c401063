"""One xdist worker per device: wall time of `pytest -m device -n 2` against `-n 0`.

Two virtual iPhones at real-time scale (tests/bench/devices-realtime.yaml), so every device wait
takes real seconds as on hardware. The suites are the short, non-soak ones (refresh, permissions:
about 15 device-seconds of waiting per device). With the waits on two devices overlapping, `-n 2`
should take a little over half the serial time; what is left is worker start-up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INVENTORY = Path(__file__).resolve().parent / "devices-realtime.yaml"
SUITES = ["suites/test_refresh.py", "suites/test_permissions.py"]


def _run(workers: int, lease_dir: str) -> tuple[float, int]:
    """Wall seconds of one run, and how many tests passed."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-p",
        "no:cacheprovider",
        "-q",
        "-m",
        "device and not soak",
        "--devices",
        str(INVENTORY),
        "-n",
        str(workers),
        *SUITES,
    ]
    env = {**os.environ, "BGHARNESS_LEASE_DIR": lease_dir, "PYTEST_ADDOPTS": ""}
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout[-3000:]}{done.stderr}")
    passed = int(done.stdout.rsplit(" passed", 1)[0].rsplit(None, 1)[-1])
    return took, passed


def run() -> dict:
    with tempfile.TemporaryDirectory(prefix="bgharness-bench-leases-") as leases:
        serial_s, tests = _run(0, leases)
        parallel_s, parallel_tests = _run(2, leases)
    assert tests == parallel_tests, (tests, parallel_tests)
    return {
        "devices": 2,
        "tests": tests,
        "serial_n0_s": round(serial_s, 2),
        "parallel_n2_s": round(parallel_s, 2),
        "speedup_n0_over_n2": round(serial_s / parallel_s, 2),
    }
