"""Leases: one holder at a time, a message naming it, and no stranded device after a death."""

import json
import multiprocessing
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from harness.data.inventory import DeviceRecord
from harness.lab.lease import (
    DeviceBusy,
    Holder,
    Lease,
    LeaseDir,
    LeaseError,
    LeaseLost,
    LeaseRecord,
    Leases,
    LeaseState,
    default_lease_dir,
    lease_key,
)

KEY = "virtual-phone-a-0123456789"


def me(**changes) -> Holder:
    return replace(Holder.this_process(env={}), **changes)


def elsewhere() -> Holder:
    """A holder on another Mac: its pid means nothing here, only its expiry counts."""
    return me(host="lab-mac-9", pid=4242)


def test_a_second_run_fails_fast_naming_the_holder(tmp_path):
    folder = LeaseDir(tmp_path)
    first = Leases(folder, me(job="GitHub Actions run 17"), ttl=30)
    first.acquire(KEY, "phone-a")
    second = Leases(folder, me(pid=1), ttl=30, wait=0)
    with pytest.raises(DeviceBusy) as caught:
        second.acquire(KEY, "phone-a")
    message = str(caught.value)
    assert message.startswith(f"phone-a is held by pid {first.holder.pid} of ")
    assert "GitHub Actions run 17" in message
    assert "not waiting (--device-wait 0)" in message
    assert "bgharness release --force phone-a" in message
    assert caught.value.current.holder == first.holder
    first.release_all()


def test_a_waiting_run_says_so_and_gets_the_device_when_it_is_released(tmp_path):
    folder = LeaseDir(tmp_path)
    first = Leases(folder, me(), ttl=30)
    first.acquire(KEY, "phone-a")
    said: list[str] = []

    def say(line: str) -> None:  # the first holder lets go once the second says it waits
        said.append(line)
        if "waiting for it" in line:
            first.release_all()

    second = Leases(folder, me(pid=1), ttl=30, wait=600, say=say, poll=0.05)
    lease = second.acquire(KEY, "phone-a")
    assert lease.state is LeaseState.HELD
    assert "waiting for it (up to 10 min, --device-wait" in said[0]
    assert said[-1].startswith("phone-a: free after")
    second.release_all()


def test_a_wait_that_runs_out_names_the_holder_and_how_long(tmp_path):
    folder = LeaseDir(tmp_path)
    Leases(folder, me(), ttl=30).acquire(KEY, "phone-a")
    with pytest.raises(DeviceBusy, match=r"gave up after 0\.\d s \(--device-wait 0\.3\)"):
        Leases(folder, me(pid=1), ttl=30, wait=0.3, poll=0.05).acquire(KEY, "phone-a")


def test_a_lease_from_another_host_expires_after_its_ttl_when_its_heartbeat_stops(tmp_path):
    folder = LeaseDir(tmp_path)
    assert folder.try_acquire(KEY, "phone-a", elsewhere(), ttl=0.5).ours
    with pytest.raises(DeviceBusy):
        Leases(folder, me(), ttl=30).acquire(KEY, "phone-a")
    said: list[str] = []
    waiting = Leases(folder, me(), ttl=30, wait=60, say=said.append, poll=0.05)
    lease = waiting.acquire(KEY, "phone-a")
    assert lease.record.holder.host != "lab-mac-9"
    assert any("took over a stale lease: its holder (pid 4242" in line for line in said)
    assert any("on lab-mac-9) last renewed it" in line for line in said)


def test_a_dead_holder_on_this_host_frees_the_device_at_once(tmp_path):
    exited = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = me(pid=int(exited.stdout))
    LeaseDir(tmp_path).try_acquire(KEY, "phone-a", dead, ttl=3600)
    lease = Leases(LeaseDir(tmp_path), me(), ttl=30, wait=0).acquire(KEY, "phone-a")
    assert lease.record.holder.pid != dead.pid


def test_the_heartbeat_keeps_a_lease_past_its_ttl(tmp_path):
    folder = LeaseDir(tmp_path)
    holder = Leases(folder, me(host="this-mac-pretend", pidns=None), ttl=0.4)
    first = holder.acquire(KEY, "phone-a").record
    for _ in range(600):  # until three beats have renewed it (however busy the machine is)
        current = folder.read(KEY)
        if current is not None and current.expires > first.expires + 0.2:
            break
        time.sleep(0.05)
    current = folder.read(KEY)
    assert current is not None and current.expires > first.expires + 0.2
    assert current.stale(time.time()) is None
    with pytest.raises(DeviceBusy):
        Leases(folder, me(pid=1), ttl=30).acquire(KEY, "phone-a")
    holder.release_all()
    assert folder.read(KEY) is None


def test_a_lease_taken_while_we_slept_is_lost_and_says_so(tmp_path):
    folder = LeaseDir(tmp_path)
    said: list[str] = []
    ours = Leases(folder, me(), ttl=30, say=said.append)
    ours.acquire(KEY, "phone-a")
    folder.break_lease(KEY, only_stale=False)
    folder.try_acquire(KEY, "phone-a", elsewhere(), ttl=30)
    ours.renew_all()
    with pytest.raises(
        LeaseLost, match=r"bg: the lease on phone-a was lost .* now phone-a is held"
    ):
        ours.check(KEY, "bg")
    assert said == ["phone-a: lost its lease; see `bgharness who`"]
    ours.release_all()
    assert folder.read(KEY).holder.host == "lab-mac-9", "never frees the new holder's lease"


def test_lease_states_guard_their_methods():
    record = LeaseRecord(KEY, "phone-a", "t0", me(), 0.0, 1.0, 1.0)
    lease = Lease(record, state=LeaseState.RELEASED)
    with pytest.raises(LeaseError, match="open: the lease on phone-a was already released"):
        lease.check_held("open")


def test_release_without_force_frees_only_a_stale_lease(tmp_path):
    folder = LeaseDir(tmp_path)
    live = Leases(folder, me(), ttl=30)
    live.acquire(KEY, "phone-a")
    with pytest.raises(DeviceBusy, match="add --force to take the device from it"):
        folder.break_lease(KEY, only_stale=True)
    removed = folder.break_lease(KEY, only_stale=False)
    assert removed is not None and removed.holder == live.holder
    assert folder.break_lease(KEY, only_stale=False) is None


def test_lease_files_are_whole_json_and_name_the_holder(tmp_path):
    folder = LeaseDir(tmp_path)
    Leases(folder, me(run="r1", worker="gw1"), ttl=30).acquire(KEY, "phone-a", "/lab/checkout")
    data = json.loads((tmp_path / f"{KEY}.lease").read_text())
    assert data["device"] == "phone-a" and data["checkout"] == "/lab/checkout"
    assert data["holder"]["worker"] == "gw1" and data["holder"]["run"] == "r1"
    assert data["expires"] - data["acquired"] == pytest.approx(30)
    assert [r.device for r in folder.all()] == ["phone-a"]


def _race(path: str, start: float, wins, done) -> None:
    time.sleep(max(0.0, start - time.time()))
    attempt = LeaseDir(Path(path)).try_acquire(KEY, "phone-a", Holder.this_process(), 30)
    wins.put(attempt.ours)
    done.wait(120)  # stay alive until every racer has tried: a dead winner frees the device


def test_many_processes_racing_for_one_device_one_wins(tmp_path):
    context = multiprocessing.get_context("spawn")
    wins, done = context.Queue(), context.Event()
    start = time.time() + 1.0
    runs = [
        context.Process(target=_race, args=(str(tmp_path), start, wins, done)) for _ in range(8)
    ]
    for run in runs:
        run.start()
    results = [wins.get(timeout=120) for _ in runs]
    done.set()
    for run in runs:
        run.join(timeout=30)
    assert results.count(True) == 1


@pytest.mark.parametrize(
    ("env", "job", "url"),
    [
        (
            {"GITHUB_RUN_ID": "17", "GITHUB_JOB": "device", "GITHUB_REPOSITORY": "org/app"},
            "GitHub Actions run 17 job device (org/app)",
            "https://github.com/org/app/actions/runs/17",
        ),
        (
            {"BUILD_TAG": "jenkins-nightly-42", "BUILD_URL": "https://ci/job/nightly/42/"},
            "Jenkins jenkins-nightly-42",
            "https://ci/job/nightly/42/",
        ),
        ({"CI_JOB_ID": "9", "CI_PROJECT_PATH": "org/app"}, "GitLab job 9 (org/app)", None),
        ({}, None, None),
    ],
)
def test_the_holder_names_its_ci_job(env, job, url):
    holder = Holder.this_process(env=env)
    assert (holder.job, holder.url) == (job, url)


def test_a_phone_is_leased_by_udid_and_a_virtual_iphone_by_its_checkout(tmp_path):
    phone = DeviceRecord("a", "ios", udid="00008110-000A1B2C3D4E5F60")
    same_phone = DeviceRecord("b", "ios", udid="00008110000a1b2c3d4e5f60")
    assert lease_key(phone, tmp_path) == lease_key(same_phone, tmp_path / "other")
    virtual = DeviceRecord("v", "virtual")
    assert lease_key(virtual, tmp_path / "one") != lease_key(virtual, tmp_path / "two")


def test_the_lease_folder_is_per_user_unless_the_environment_says(tmp_path):
    assert default_lease_dir({}) == Path.home() / ".bgharness" / "leases"
    shared = str(tmp_path / "shared")
    assert default_lease_dir({"BGHARNESS_LEASE_DIR": shared}) == Path(shared)


def test_an_unwritable_lease_folder_says_how_to_fix_it(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(LeaseError, match="set BGHARNESS_LEASE_DIR"):
        Leases(LeaseDir(blocker / "leases"), me()).acquire(KEY, "phone-a")
