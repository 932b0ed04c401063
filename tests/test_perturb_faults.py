"""A run killed at every step of a perturbation leaves a device the next run restores, and the
next run says only what it did (issue 14: `.tmp` files and stale journal entries made it claim a
restore it never made). Each case is a real process, SIGKILLed at one step."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.core.errors import HarnessError
from harness.data.inventory import DeviceRecord, Inventory
from harness.data.journal import Journal
from harness.device.backends.virtual import VirtualIPhone
from harness.lab.lab import Lab
from harness.session.session import Session
from tests.fixtures.tmpfs import tmpfs

REPO = Path(__file__).resolve().parents[1]
FIXTURE = [HealthCheck.function_scoped_fixture]

# The child runs one perturbation and kills itself right after STEP (`os.replace:journal` and
# `os.replace:state` stop inside the atomic writes, before the rename).
CHILD = """
import os, signal, sys
from pathlib import Path
from harness.device.backends.virtual import VirtualIPhone
from harness.data.inventory import DeviceRecord
from harness.data.journal import Journal
from harness.session.session import Session

state, kind, step = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
die = lambda: os.kill(os.getpid(), signal.SIGKILL)

def after(owner, name):
    real = getattr(owner, name)
    def wrapped(*args, **kwargs):
        result = real(*args, **kwargs)
        if step == name:
            die()
        return result
    setattr(owner, name, wrapped)

real_replace = os.replace
def replace(src, dst, *args, **kwargs):
    if step == "os.replace:" + ("journal" if "/journal/" in str(dst) else "state"):
        die()
    return real_replace(src, dst, *args, **kwargs)
os.replace = replace

device = VirtualIPhone.open(DeviceRecord("phone", "virtual"), state)
journal = Journal(state)
for name in ("record", "mark_undoing", "remove"):
    after(Journal, name)
for name in ("set_network", "clear_network", "lock", "unlock"):
    after(VirtualIPhone, name)
session = Session(device, journal)
with session.offline() if kind == "network" else session.locked():
    pass
session.close()
print("finished", flush=True)
"""

STEPS = {
    "network": [
        "os.replace:journal",
        "record",
        "os.replace:state",
        "set_network",
        "mark_undoing",
        "clear_network",
        "remove",
        "none",
    ],
    "lock": ["record", "lock", "mark_undoing", "unlock", "remove", "none"],
}
CASES = [(kind, step) for kind, steps in STEPS.items() for step in steps]


@pytest.mark.parametrize(("kind", "step"), CASES, ids=[f"{k}-{s}" for k, s in CASES])
def test_a_run_killed_at_any_step_leaves_a_restorable_device(tmp_path, kind, step):
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path), kind, step],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    if step == "none":
        assert child.returncode == 0 and "finished" in child.stdout, child.stderr
    else:
        assert child.returncode == -9, child.stderr
    said: list[str] = []
    inventory = Inventory((DeviceRecord("phone", "virtual"),), {}, Path("devices.yaml"))
    lab = Lab(inventory, tmp_path, said.append)
    device = lab.open("phone")
    assert device.locked() is False
    assert device._network is None  # online, as the state file says
    left = [p.name for p in tmp_path.rglob("*") if p.is_file() and p.suffix == ".tmp"]
    assert left == [], "no half-written file survives the next run"
    assert list(Journal(tmp_path).entries("phone")) == []
    assert all("\n" not in line for line in said)
    claims = [line for line in said if "a crashed run left it" in line]
    if step in ("mark_undoing", "clear_network", "unlock", "remove", "none", "os.replace:journal"):
        assert claims == [], f"never claims a restore the crashed run did not need: {said}"
    lab.close()


def test_a_journal_folder_that_cannot_be_written_stops_the_change_with_one_line(
    tmp_path, monkeypatch
):
    device = VirtualIPhone.open(DeviceRecord("phone", "virtual"), tmp_path)
    session = Session(device, Journal(tmp_path))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(HarnessError) as caught, session.offline():
        pytest.fail("the block must not run: the change is not written down")
    message = str(caught.value)
    assert "cannot write the perturbation journal in" in message and "\n" not in message
    assert "No space left on device" in message and "writable" in message
    monkeypatch.undo()
    assert Journal(tmp_path).entries("phone") == []
    session.close()
    assert VirtualIPhone.open(DeviceRecord("phone", "virtual"), tmp_path).locked() is False


def test_a_read_only_state_folder_stops_the_change_with_one_line(tmp_path):
    """A real read-only file system (a tmpfs remounted ro; needs root)."""
    with tmpfs(tmp_path / "state", "1m") as mount:
        device = VirtualIPhone.open(DeviceRecord("phone", "virtual"), mount)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        session = Session(device, Journal(mount))
        read_only = pytest.raises(HarnessError, match=r"Read-only file system\); make .* writable")
        with read_only, session.locked():
            pass
        assert device.locked() is False, "nothing applied without its journal entry"
        session.close()


# -- Hostile journal entries: a record or one line, never a traceback ---------------------------

GOOD_ENTRY = {
    "id": "0123456789ab",
    "device": "phone",
    "kind": "network",
    "detail": "offline",
    "host": "lab-mac-9",
    "pid": 4242,
    "started": 1.7e9,
}
_values = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10)


@st.composite
def _entries(draw) -> bytes:
    data = dict(GOOD_ENTRY)
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from([*GOOD_ENTRY, "undoing", "extra"]))
        if draw(st.booleans()):
            data[name] = draw(_values | st.lists(_values, max_size=2))
        else:
            data.pop(name, None)
    text = json.dumps(data)
    return (text if draw(st.booleans()) else text[: draw(st.integers(0, len(text)))]).encode()


def _read_journal(tmp: Path, content: bytes) -> None:
    folder = tmp / "journal" / "phone"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "x.json").write_bytes(content)
    try:
        [entry] = Journal(tmp).entries("phone")
    except HarnessError as exc:
        assert "\n" not in str(exc) and "check the device by hand" in str(exc)
        return
    entry.describe()


@settings(deadline=None, max_examples=150, suppress_health_check=FIXTURE)
@given(content=_entries())
@example(content=json.dumps({**GOOD_ENTRY, "kind": "reboot"}).encode())
@example(content=json.dumps({**GOOD_ENTRY, "started": 1e300}).encode())
def test_fuzz_journal_entries_end_in_a_record_or_one_line(tmp_path, content):
    _read_journal(tmp_path, content)


@pytest.mark.fuzz_long
@settings(deadline=None, max_examples=5000, suppress_health_check=FIXTURE)
@given(content=_entries() | st.binary(max_size=200))
def test_fuzz_journal_entries_long(tmp_path, content):
    _read_journal(tmp_path, content)


def test_a_garbled_journal_fails_the_device_tests_with_one_line(pytester):
    from tests.test_plugin import DEVICES

    pytester.makefile(".yaml", devices=DEVICES)
    pytester.makeini("[pytest]\nfilterwarnings = ignore::pytest.PytestAssertRewriteWarning\n")
    pytester.makepyfile("import pytest\n\n@pytest.mark.device\ndef test_a(bg):\n    pass\n")
    folder = pytester.path / "reports/.state/journal/phone-a"
    folder.mkdir(parents=True)
    (folder / "x.json").write_text('{"id": "x", "kind": "reboot"')
    result = pytester.runpytest("-m", "device")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*the perturbation journal *x.json is unreadable*by hand*"])
    assert "Traceback" not in result.stdout.str()
