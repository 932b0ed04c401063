"""Leases under faults and hostile files: never two holders, never a traceback.

A heartbeat that cannot write (disk full), a release that meets a heartbeat, a lease file that
is not what we wrote (wrong types, a folder, a symlink loop), two users sharing one folder.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.lab.lease import (
    Holder,
    LeaseDir,
    LeaseError,
    LeaseLost,
    LeaseRecord,
    Leases,
    LeaseState,
)
from harness.surfaces.cli import main
from tests.fixtures.tmpfs import tmpfs

KEY = "virtual-phone-a-0123456789"
REPO = Path(__file__).resolve().parents[1]


def me(**changes) -> Holder:
    return replace(Holder.this_process(env={}), **changes)


def pretend() -> Holder:
    """A holder whose pid says nothing here: only its heartbeat keeps it."""
    return me(host="this-mac-pretend", pidns=None)


def until(condition, what: str, tries: int = 1200) -> None:
    """Wait for `condition` (polling, bounded) however busy the machine is: no timing assert."""
    for _ in range(tries):
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def test_a_heartbeat_that_cannot_write_loses_the_lease_before_another_run_takes_it(
    tmp_path, monkeypatch
):
    """issue 14: disk full killed the heartbeat thread; after the TTL a second run took the
    device while the first kept testing, and both exited 0."""
    folder = LeaseDir(tmp_path)
    said: list[str] = []
    ours = Leases(folder, pretend(), ttl=0.4, say=said.append)
    ours.acquire(KEY, "phone-a")
    real_replace = os.replace

    def disk_full(src, dst, *args, **kwargs):
        if str(dst).endswith(".lease"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", disk_full)
    [lease] = ours.held()
    until(lambda: lease.state is LeaseState.LOST, "the lease marked lost", tries=600)
    monkeypatch.setattr(os, "replace", real_replace)  # the disk has room again

    theirs = Leases(folder, me(pid=1), ttl=30, wait=600, poll=0.05)
    theirs.acquire(KEY, "phone-a")  # after the time-to-live: the device is theirs now
    with pytest.raises(LeaseLost, match=r"bg: the lease on phone-a was lost .*No space left"):
        ours.check(KEY, "bg")
    assert any("could not renew its lease" in line and str(tmp_path) in line for line in said)
    assert all("\n" not in line for line in said)
    ours.release_all()
    assert folder.read(KEY).holder.pid == 1, "the loser never frees the new holder's lease"
    theirs.release_all()


def test_a_full_tmpfs_lease_folder_ends_in_a_lost_lease_not_a_dead_thread(tmp_path):
    """The same, on a real full file system (a 64 KiB tmpfs; needs root)."""
    with tmpfs(tmp_path / "small", "64k") as mount:
        said: list[str] = []
        ours = Leases(LeaseDir(mount), pretend(), ttl=0.4, say=said.append)
        ours.acquire(KEY, "phone-a")
        with open(mount / "filler", "wb", buffering=0) as filler, pytest.raises(OSError):
            while True:  # fill the disk to the last block
                filler.write(b"\0" * 512)
        [lease] = ours.held()
        until(lambda: lease.state is LeaseState.LOST, "the lease marked lost", tries=600)
        with pytest.raises(LeaseLost, match="No space left on device"):
            ours.check(KEY, "bg")
        ours.release_all()


def test_a_release_during_a_heartbeat_is_not_reported_as_lost(tmp_path):
    """issue 15: release between the heartbeat's snapshot and its renewal marked the lease lost
    and printed a false `lost its lease`."""
    said: list[str] = []

    class Interleaved(LeaseDir):
        def renew(self, lease):
            release = threading.Thread(target=leases.release, args=(KEY,))
            release.start()
            release.join(timeout=1)  # the old code finished the release here; the fix waits
            return super().renew(lease)

    leases = Leases(Interleaved(tmp_path), me(), ttl=30, say=said.append)
    lease = leases.acquire(KEY, "phone-a")
    leases.renew_all()
    until(lambda: lease.state is not LeaseState.HELD, "the release to finish")
    assert lease.state is LeaseState.RELEASED
    assert said == []
    assert LeaseDir(tmp_path).read(KEY) is None
    leases.release_all()


GOOD = LeaseRecord(KEY, "phone-a", "t0", Holder("lab-mac-9", 4242, "ci"), 1.7e9, 1.7e9 + 60, 60.0)


def _write_lease(folder: Path, text: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{KEY}.lease").write_text(text)


def _one_line_or_fine(folder: Path, capsys) -> None:
    """`who`, `who --json` and `release --force` on the folder: exit 0 or one line, exit 2."""
    for argv in (["who"], ["who", "--json"], ["release", "phone-a", "--force"]):
        code = main([*argv, "--lease-dir", str(folder)])
        err = capsys.readouterr().err
        assert code in (0, 2), argv
        if code == 2:
            assert err.startswith("bgharness: ") and err.count("\n") == 1, err


HOSTILE = {
    "pid as text": lambda d: d["holder"].update(pid="4242"),
    "pid true": lambda d: d["holder"].update(pid=True),
    "holder a list": lambda d: d.update(holder=[1]),
    "expires NaN": lambda d: d.update(expires=float("nan")),
    "acquired year 9999999": lambda d: d.update(acquired=1e300),
    "ttl zero": lambda d: d.update(ttl=0),
    "ttl negative": lambda d: d.update(ttl=-5),
    "token a number": lambda d: d.update(token=7),
    "no key": lambda d: d.pop("key"),
    "holder without host": lambda d: d["holder"].pop("host"),
    "a list": lambda d: d.clear(),
}


@pytest.mark.parametrize("mutate", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_lease_file_with_wrong_fields_is_one_line_everywhere(tmp_path, capsys, mutate):
    data = json.loads(GOOD.to_json())
    mutate(data)
    _write_lease(tmp_path, json.dumps(data if data else []))
    with pytest.raises(LeaseError, match=rf"the lease file .*{KEY}\.lease is unreadable"):
        LeaseDir(tmp_path).read(KEY)
    with pytest.raises(LeaseError):
        Leases(LeaseDir(tmp_path), me(), wait=0).acquire(KEY, "phone-a")
    _one_line_or_fine(tmp_path, capsys)


def test_a_folder_or_a_symlink_loop_in_place_of_a_lease_is_one_line(tmp_path, capsys):
    (tmp_path / f"{KEY}.lease").mkdir()
    with pytest.raises(LeaseError, match=r"cannot read the lease file .*Is a directory"):
        LeaseDir(tmp_path).read(KEY)
    _one_line_or_fine(tmp_path, capsys)
    (tmp_path / f"{KEY}.lease").rmdir()
    (tmp_path / f"{KEY}.lease").symlink_to(f"{KEY}.lease")  # unreadable even for root
    with pytest.raises(LeaseError, match="cannot read the lease file"):
        LeaseDir(tmp_path).read(KEY)
    _one_line_or_fine(tmp_path, capsys)


def test_an_unreadable_lease_file_is_one_line(tmp_path, monkeypatch, capsys):
    _write_lease(tmp_path, GOOD.to_json())
    real = Path.read_text

    def denied(self, *args, **kwargs):
        if self.suffix == ".lease":
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", denied)
    with pytest.raises(LeaseError, match=r"cannot read the lease file .*Permission denied"):
        LeaseDir(tmp_path).read(KEY)
    _one_line_or_fine(tmp_path, capsys)


def test_the_lock_file_is_shareable_whatever_the_umask(tmp_path):
    old = os.umask(0o077)
    try:
        Leases(LeaseDir(tmp_path), me()).acquire(KEY, "phone-a")
    finally:
        os.umask(old)
    assert (tmp_path / f"{KEY}.lock").stat().st_mode & 0o777 == 0o666
    assert (tmp_path / f"{KEY}.lease").stat().st_mode & 0o777 == 0o644


def test_two_users_share_one_lease_folder(tmp_path):
    """README: set BGHARNESS_LEASE_DIR so runners of different users on one Mac share a folder.
    Root (umask 022) leaves a stale lease and its lock file; `nobody` takes the device over and
    gives it back."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run a process as another user")
    shared = tempfile.TemporaryDirectory(prefix="bgharness-shared-leases-")  # outside root's 0700
    folder = Path(shared.name)
    os.chmod(
        folder, 0o777
    )  # every lab user writes it (group-writable in a real lab); no sticky bit
    old = os.umask(0o022)
    try:
        assert LeaseDir(folder).try_acquire(KEY, "phone-a", pretend(), ttl=0.001).ours
    finally:
        os.umask(old)
    time.sleep(0.01)  # past its time-to-live
    script = (
        "import sys; from harness.lab.lease import *; "
        "l = Leases(LeaseDir(sys.argv[1]), Holder.this_process(), ttl=30, say=print); "
        f"l.acquire({KEY!r}, 'phone-a'); "
        f"print('holder', LeaseDir(sys.argv[1]).read({KEY!r}).holder.user); l.release_all()"
    )
    site = next(Path(sys.prefix, "lib").glob("python3*/site-packages"))
    env = {**os.environ, "HOME": str(folder), "PYTHONPATH": f"{REPO}{os.pathsep}{site}"}
    run = {"capture_output": True, "text": True, "user": 65534, "group": 65534, "env": env}
    python = "/usr/bin/python3"  # this venv's interpreter may sit in root's home
    try:
        probe = subprocess.run([python, "-c", "import harness.lab.lease"], **run, timeout=120)
    except OSError:
        probe = None
    if probe is None or probe.returncode:
        shared.cleanup()
        pytest.skip("user nobody cannot run this checkout's Python here")
    done = subprocess.run([python, "-c", script, str(folder)], **run, timeout=120)
    left = LeaseDir(folder).read(KEY)
    shared.cleanup()
    assert done.returncode == 0, done.stderr
    assert "took over a stale lease" in done.stdout
    holder = done.stdout.split("holder ")[1].split()[0]
    assert holder != "root" and left is None, "nobody held it, then gave it back"


# -- Fuzzing: any bytes in a lease file end in a record or one LeaseError -----------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
FIXTURE = [HealthCheck.function_scoped_fixture]


@st.composite
def _mutated_leases(draw) -> str:
    data = json.loads(GOOD.to_json())
    for _ in range(draw(st.integers(1, 3))):
        where = data if draw(st.booleans()) else data.get("holder")
        if not isinstance(where, dict):
            break
        name = draw(st.sampled_from(sorted(where) or ["x"]))
        if draw(st.booleans()):
            where[name] = draw(_json_values)
        else:
            where.pop(name, None)
    text = json.dumps(data)
    cut = draw(st.integers(0, len(text)))
    return text if draw(st.booleans()) else text[:cut]


def _check_any(tmp: Path, text: str | bytes) -> None:
    file = tmp / f"{KEY}.lease"
    file.write_bytes(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    try:
        record = LeaseDir(tmp).read(KEY)
    except LeaseError as exc:
        assert "\n" not in str(exc)
        return
    assert record is not None
    record.describe(now=2e9)  # who's table and messages format it
    record.stale(2e9)


@settings(
    deadline=None, max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_mutated_leases())
@example(text='{"holder": {}}')
@example(text="1" * 5000)
@example(text="[" * 100_000)
def test_fuzz_lease_files_end_in_a_record_or_one_line(tmp_path, text):
    _check_any(tmp_path, text)


@pytest.mark.fuzz_long
@settings(
    deadline=None, max_examples=5000, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_mutated_leases() | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_fuzz_lease_files_long(tmp_path, text):
    _check_any(tmp_path, text)


PLUGIN_RUN = """\
import errno, os, time
import pytest
from harness.lab.lease import LeaseState
from harness.surfaces.pytest_plugin.plugin import _plugin_key

@pytest.mark.device
def test_1_disk_fills_during_the_test(bg, request, monkeypatch):
    real = os.replace
    def full(src, dst, *args, **kwargs):
        if str(dst).endswith(".lease"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(src, dst, *args, **kwargs)
    monkeypatch.setattr(os, "replace", full)
    [lease] = request.config.stash[_plugin_key].lab.leases.held()
    for _ in range(1200):
        if lease.state is LeaseState.LOST:
            break
        time.sleep(0.05)

@pytest.mark.device
def test_2_never_runs_on_a_lost_lease(bg):
    pass
"""


def test_a_run_whose_lease_is_lost_fails_its_teardown_and_next_test_naming_why(pytester):
    from tests.test_plugin import DEVICES

    pytester.makefile(".yaml", devices=DEVICES)
    pytester.makeini("[pytest]\nfilterwarnings = ignore::pytest.PytestAssertRewriteWarning\n")
    pytester.makepyfile(test_lost=PLUGIN_RUN)
    leases = pytester.path / "leases"
    result = pytester.runpytest("-m", "device", "--lease-ttl", "0.4", "--lease-dir", str(leases))
    result.assert_outcomes(passed=1, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*bg teardown: the lease on phone-a was lost (its heartbeat could not renew it: "
            "cannot write the lease file*No space left on device*",
            "*bg: the lease on phone-a was lost*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_a_half_written_lease_of_a_killed_run_is_removed(tmp_path):
    dead = tmp_path / f".{KEY}.lease.999999999.tmp"
    dead.write_text('{"key": "')
    live = tmp_path / f".{KEY}.lease.{os.getppid()}.tmp"
    live.write_text("{}")  # a live writer's (our parent): left alone
    Leases(LeaseDir(tmp_path), me()).acquire(KEY, "phone-a")
    assert not dead.exists() and live.exists()
