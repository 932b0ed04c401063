"""`bgharness parse`: a device log in, its events out, as a table or JSON lines."""

from __future__ import annotations

import io
import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harness.cli import main
from harness.events import LogEntry

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC).timestamp()
FRAMEWORK = {"subsystem": "com.apple.BackgroundTasks", "category": "Framework"}
LOG = "\n".join(
    [
        LogEntry(T0, "BGProbe", 412, "submitTaskRequest: <BGAppRefreshTaskRequest: "
                 "com.x.refresh, earliestBeginDate: (null)>", **FRAMEWORK).syslog_line(),
        LogEntry(T0 + 1, "locationd", 80, "noise that is no event").syslog_line(),
        LogEntry(T0 + 2, "BGProbe", 412, "Starting simulated task: <BGAppRefreshTask: "
                 "com.x.refresh>", **FRAMEWORK).syslog_line(),
        LogEntry(T0 + 3, "BGProbe", 412, "Marking simulated task complete: <BGAppRefreshTask: "
                 "com.x.refresh>", **FRAMEWORK).syslog_line(),
    ]
) + "\n"  # fmt: skip
KINDS = ["task.submitted", "task.launched", "task.completed"]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "device.log"
    path.write_text(LOG, encoding="utf-8")
    return path


def test_the_table_lists_the_events(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", str(log)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if "task." in line]
    assert [next(kind for kind in KINDS if kind in row) for row in rows] == KINDS
    assert all("com.x.refresh" in row and "framework" in row for row in rows)
    assert "2026-01-05 09:00:02.000" in rows[1]
    assert "3 events" in out


def test_jsonl_prints_one_event_object_a_line(
    log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["parse", str(log), "--format", "jsonl"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [event["kind"] for event in events] == KINDS
    assert all(
        set(event) == {"kind", "task", "time", "source", "process", "pid", "attrs"}
        for event in events
    )
    assert events[1] == {
        "kind": "task.launched",
        "task": "com.x.refresh",
        "time": T0 + 2,
        "source": "framework",
        "process": "BGProbe",
        "pid": 412,
        "attrs": {"type": "refresh", "simulated": True},
    }


def test_stdin_is_read_for_a_dash(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(LOG))
    assert main(["parse", "-", "--format", "jsonl"]) == 0
    assert [json.loads(line)["kind"] for line in capsys.readouterr().out.splitlines()] == KINDS


@pytest.mark.parametrize("name", ["missing.log", "."])
def test_an_unreadable_log_is_one_line_and_exit_2(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    assert main(["parse", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"bgharness: cannot read {path}: ")
    assert captured.err.count("\n") == 1
    assert "Traceback" not in captured.err


def test_a_log_without_events_is_an_empty_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "quiet.log"
    path.write_text("nothing to see\n", encoding="utf-8")
    assert main(["parse", str(path)]) == 0
    assert "0 events" in capsys.readouterr().out
