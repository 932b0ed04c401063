"""A real pytest-xdist run whose worker is SIGKILLed inside `bg.offline()`: the replacement
worker gets the device at once (the dead worker is a zombie until xdist reaps it) and starts
from a restored device (issue 14: it waited out the lease, and a test ran on a phone still
offline)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.test_plugin import DEVICES

KILLED = """\
import os, signal
import pytest

@pytest.mark.device
def test_1_worker_dies_offline(bg, device):
    with bg.offline():
        if not os.path.exists("killed-once"):  # xdist sends this test to the replacement too
            open("killed-once", "w").close()
            os.kill(os.getpid(), signal.SIGKILL)

@pytest.mark.device
def test_2_next_test_finds_the_device_online(bg, device):
    assert device._network is None, "the replacement worker restored the network first"
"""


def test_a_killed_worker_frees_its_device_for_the_replacement(pytester: pytest.Pytester):
    pytester.makefile(".yaml", devices=DEVICES)
    pytester.makepyfile(test_killed=KILLED)
    env = {**os.environ, "BGHARNESS_LEASE_DIR": str(pytester.path / "leases"), "PY_COLORS": "0"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-m",
            "device",
            "-n",
            "1",
            "--device-wait",
            "0",
            "-rA",
            "--lease-ttl",
            "3600",
            "-p",
            "no:randomly",
        ],
        cwd=pytester.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout + done.stderr
    assert "PASSED test_killed.py::test_2_next_test_finds_the_device_online" in out, out[-3000:]
    assert "worker 'gw0' crashed" in out, out[-3000:]
    assert "[gw1] phone-a: took over a stale lease: its holder (pid" in out, out[-3000:]
    assert "[gw1] phone-a: restored the network: a crashed run left it" in out, out[-3000:]
    assert "DeviceBusy" not in out
