"""The virtual iPhone's state file (network, lock) survives crashes and hostile content: a file
that is not what it wrote sets the phone back to online and unlocked with one warning line
(issue 14: an empty file made every test of every run fail with a JSONDecodeError)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.core.errors import HarnessError
from harness.data.inventory import DeviceRecord, Inventory
from harness.device.backends.virtual import VirtualIPhone
from harness.lab.lab import Lab

RECORD = DeviceRecord("phone", "virtual")
FIXTURE = [HealthCheck.function_scoped_fixture]


def _file(state: Path) -> Path:
    return state / "virtual-phone.json"


def _open_with(state: Path, content: str | bytes) -> VirtualIPhone:
    state.mkdir(parents=True, exist_ok=True)
    data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    _file(state).write_bytes(data)
    return VirtualIPhone.open(RECORD, state)


def _assert_safe_or_kept(phone: VirtualIPhone) -> None:
    assert len(phone.warnings) <= 1
    for warning in phone.warnings:
        assert "\n" not in warning and len(warning) < 400
        assert "back online and unlocked" in warning
        assert phone._network is None and phone.locked() is False


def test_the_state_survives_a_reopen(tmp_path):
    phone = VirtualIPhone.open(RECORD, tmp_path)
    phone.set_network("offline")
    phone.lock()
    again = VirtualIPhone.open(RECORD, tmp_path)
    assert again._network == "offline" and again.locked() and again.warnings == []
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))


HOSTILE = {
    "empty": "",
    "cut short": '{"network": "offli',
    "garbage": "\x00\x01garbage",
    "a list": "[1, 2]",
    "unknown profile": '{"network": "moon", "locked": false}',
    "locked a string": '{"network": null, "locked": "yes"}',
    "4300 digits": '{"locked": ' + "1" * 4400 + "}",
    "deep": "[" * 100_000 + "]" * 100_000,
    "not utf-8": b"\xff\xfe{",
}


@pytest.mark.parametrize("content", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_broken_state_file_means_the_safe_state_and_one_warning(tmp_path, content):
    phone = _open_with(tmp_path, content)
    [warning] = phone.warnings
    assert warning.startswith(f"phone: its state file {_file(tmp_path)} was unreadable (")
    _assert_safe_or_kept(phone)
    assert VirtualIPhone.open(RECORD, tmp_path).warnings == [], "repaired on disk: said once"


def test_a_folder_in_place_of_the_state_file_is_repaired(tmp_path):
    _file(tmp_path).mkdir(parents=True)
    phone = VirtualIPhone.open(RECORD, tmp_path)
    assert len(phone.warnings) == 1 and "Is a directory" in phone.warnings[0]
    phone.set_network("offline")
    assert VirtualIPhone.open(RECORD, tmp_path)._network == "offline"


def test_the_lab_says_the_warning_once_and_the_tests_run(tmp_path):
    _file(tmp_path).write_text("")
    said: list[str] = []
    lab = Lab(Inventory((RECORD,), {}, Path("devices.yaml")), tmp_path, said.append)
    device = lab.open("phone")
    device.lock()
    assert [line for line in said if "was unreadable" in line] and device.locked()
    lab.close()


def test_a_state_write_the_disk_refuses_is_one_line(tmp_path, monkeypatch):
    phone = VirtualIPhone.open(RECORD, tmp_path)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(HarnessError, match=r"cannot save the virtual iPhone's state .*writable"):
        phone.lock()
    monkeypatch.undo()
    assert not list(tmp_path.glob(".*.tmp")), "the half-written file is removed"


def test_a_killed_writers_tmp_file_is_removed_at_open(tmp_path):
    phone = VirtualIPhone.open(RECORD, tmp_path)
    phone.lock()
    dead = tmp_path / ".virtual-phone.json.999999999.tmp"
    dead.write_text('{"network": "offline"')
    mine = tmp_path / f".virtual-phone.json.{os.getpid()}.tmp"
    mine.write_text("{}")  # a live writer's (this process): left alone
    assert VirtualIPhone.open(RECORD, tmp_path).locked()
    assert not dead.exists() and mine.exists()


_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)


@st.composite
def _state_files(draw) -> bytes:
    good = json.dumps({"network": draw(st.sampled_from([None, "offline", "3G"])), "locked": True})
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return good[: draw(st.integers(0, len(good)))].encode()
    if choice == 1:
        return json.dumps({"network": draw(_values), "locked": draw(_values)}).encode()
    if choice == 2:
        return json.dumps(draw(_values)).encode()
    return draw(st.binary(max_size=64))


@settings(deadline=None, max_examples=150, suppress_health_check=FIXTURE)
@given(content=_state_files())
@example(content=b'{"network": "offline", "locked": true}')
def test_fuzz_state_files_open_safe_or_as_written(tmp_path, content):
    _assert_safe_or_kept(_open_with(tmp_path / "s", content))


@pytest.mark.fuzz_long
@settings(deadline=None, max_examples=5000, suppress_health_check=FIXTURE)
@given(content=_state_files())
def test_fuzz_state_files_long(tmp_path, content):
    _assert_safe_or_kept(_open_with(tmp_path / "s", content))
