import json
import os
import subprocess
import sys

import pytest

from harness.core.errors import HarnessError
from harness.data.journal import Journal


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_record_is_on_disk_before_the_change_and_gone_after(tmp_path):
    journal = Journal(tmp_path)
    p = journal.record("phone", "network", "offline")
    files = list((tmp_path / "journal" / "phone").glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text())["detail"] == "offline"
    assert journal.entries("phone") == [p]
    journal.remove(p)
    journal.remove(p)  # harmless twice
    assert journal.entries("phone") == []


def test_only_records_of_dead_runs_are_abandoned(tmp_path):
    journal = Journal(tmp_path)
    mine = journal.record("phone", "lock", "locked")
    path = tmp_path / "journal" / "phone" / f"{mine.id}.json"
    assert journal.abandoned("phone") == []
    data = json.loads(path.read_text())
    data["pid"] = dead_pid()
    path.write_text(json.dumps(data))
    [left] = journal.abandoned("phone")
    assert left.pid == data["pid"] and "device locked by pid" in left.describe()


def test_an_unreadable_record_says_what_to_do(tmp_path):
    folder = tmp_path / "journal" / "phone"
    folder.mkdir(parents=True)
    (folder / "x.json").write_text("{not json")
    with pytest.raises(HarnessError, match="check the device by hand"):
        Journal(tmp_path).entries("phone")


def test_the_current_process_is_never_abandoned(tmp_path):
    journal = Journal(tmp_path)
    journal.record("phone", "network", "offline")
    assert os.getpid() == journal.entries("phone")[0].pid
    assert journal.abandoned("phone") == []


def test_one_table_of_perturbation_kinds_names_device_verbs_that_exist():
    """journal.KINDS is the only place a kind is described and its undo named; the session
    undoes through it, so a kind whose undo verb is not on the Device contract cannot ship."""
    from harness.data.journal import KINDS, Kind
    from harness.device.contract import Device

    assert set(KINDS) == set(Kind)
    for kind, info in KINDS.items():
        assert callable(getattr(Device, info.undo, None)), f"{kind}: no Device.{info.undo}"


def test_an_unknown_kind_is_neither_written_nor_read(tmp_path):
    journal = Journal(tmp_path)
    with pytest.raises(ValueError, match="unknown perturbation kind 'volume'"):
        journal.record("phone", "volume", "0")
    p = journal.record("phone", "lock", "locked")
    path = tmp_path / "journal" / "phone" / f"{p.id}.json"
    path.write_text(path.read_text().replace('"lock"', '"volume"'))
    with pytest.raises(HarnessError, match="unreadable"):
        journal.entries("phone")
