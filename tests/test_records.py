"""A test's records written as they happen (issue 15 item 3): every parsed event, observation,
perturbation and mark goes to reports/artifacts/<test>/events.jsonl line by line, so a run
killed mid-test still leaves what it saw; a failing test's evidence reuses the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core.events import Event
from harness.session.records import Records
from tests.test_plugin import DEVICES

TASK = "dev.bgharness.probe.refresh"

KILLED = """\
import os, signal
import pytest

@pytest.mark.device
def test_killed_mid_test(app, bg):
    app.launch(plan={"register": ["refresh"], "submit": [{"type": "refresh", "id": "refresh"}],
                     "handler": {"complete": "never"}})
    bg.trigger(app.task("refresh"))
    bg.expect("task.launched", task=app.task("refresh"), within=20)
    with bg.offline():
        bg.observe("attempt", 1, outcome="launched")
        bg.mark()
        os.kill(os.getpid(), signal.SIGKILL)  # no teardown, no report, no evidence
"""

PASSES_AND_FAILS = """\
import pytest

@pytest.mark.device
def test_passes(app, bg):
    app.launch(plan={"register": ["refresh"], "submit": [{"type": "refresh", "id": "refresh"}],
                     "handler": {"complete": "never"}})
    bg.trigger(app.task("refresh"))
    bg.expect("task.launched", task=app.task("refresh"), within=20)

@pytest.mark.device
def test_fails(app, bg):
    app.launch(plan={"register": ["refresh"], "submit": [{"type": "refresh", "id": "refresh"}],
                     "handler": {"complete": "never"}})
    bg.trigger(app.task("refresh"))
    with bg.offline():
        bg.expect("task.completed", task=app.task("refresh"), within=5)
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", devices=DEVICES)
    pytester.makeini("[pytest]\nfilterwarnings = ignore::pytest.PytestAssertRewriteWarning\n")
    return pytester


def records(folder: Path, test: str) -> list[dict]:
    [path] = (folder / "reports" / "artifacts").glob(f"*{test}*/events.jsonl")
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_killed_run_leaves_the_events_it_saw(project):
    project.makepyfile(KILLED)
    result = project.runpytest_subprocess("-m", "device", timeout=300)
    assert result.ret != 0 and "1 passed" not in result.stdout.str()
    lines = records(project.path, "killed_mid_test")
    kinds = [(r["record"], r.get("kind")) for r in lines]
    assert ("event", "task.launched") in kinds
    launched = next(r for r in lines if r.get("kind") == "task.launched")
    assert launched["task"] == TASK and launched["source"]
    [applied] = [r for r in lines if r["record"] == "perturbation"]
    assert applied["change"] == "applied" and applied["detail"] == "offline"
    [observed] = [r for r in lines if r["record"] == "observation"]
    assert observed["outcome"] == "launched" and observed["value"] == 1
    assert kinds[-1] == ("mark", None)  # the last thing before the kill
    # The file was written as it happened: no evidence (that comes after the test) is there.
    assert [p.name for p in records_folder(project.path, "killed_mid_test").iterdir()] == [
        "events.jsonl"
    ]


def records_folder(root: Path, test: str) -> Path:
    return next((root / "reports" / "artifacts").glob(f"*{test}*"))


def test_every_test_leaves_its_records_and_a_failure_keeps_them(project):
    project.makepyfile(PASSES_AND_FAILS)
    result = project.runpytest("-m", "device")
    result.assert_outcomes(passed=1, failed=1)
    passed = records(project.path, "test_passes")
    assert any(r.get("kind") == "task.launched" and r["task"] == TASK for r in passed)
    failed = records(project.path, "test_fails")
    changes = [r["change"] for r in failed if r["record"] == "perturbation"]
    assert changes == ["applied", "undone"]  # the evidence did not write over the records
    assert {p.name for p in records_folder(project.path, "test_fails").iterdir()} >= {
        "timeline.svg",
        "device.log",
        "events.jsonl",
    }


def test_unwritable_records_are_one_warning_per_test_and_the_run_goes_on(project):
    project.makepyfile(PASSES_AND_FAILS)
    blocker = project.path / "artifacts-is-a-file"
    blocker.write_text("")
    result = project.runpytest("-m", "device", "--bg-artifacts", str(blocker / "sub"))
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "INTERNALERROR" not in out
    result.stdout.fnmatch_lines([f"*could not write the test's records to {blocker}*DIR"])
    result.stdout.fnmatch_lines([f"*could not write the failure's evidence to {blocker}*DIR"])
    # The failing test's evidence said it; its records do not say it again.
    summary = out.split("bgharness ===")[-1]
    assert summary.count("could not write") == 2


def event(kind: str) -> Event:
    return Event(kind, TASK, 1.7e9, "probe")


def test_each_line_is_on_disk_before_the_next_and_before_close(tmp_path):
    path = tmp_path / "t" / "events.jsonl"
    log = Records(path)
    log.events([event("task.launched")])
    assert json.loads(path.read_text()) == {"record": "event", **event("task.launched").as_json()}
    log.mark(5.0)
    log.perturbation("applied", "network", "offline", 6.0)
    assert [json.loads(line)["record"] for line in path.read_text().splitlines()] == [
        "event",
        "mark",
        "perturbation",
    ]
    log.close()
    log.mark(7.0)  # after close: dropped, not an error
    assert len(path.read_text().splitlines()) == 3 and log.error is None


def test_a_file_that_cannot_be_written_keeps_the_error_and_never_raises(tmp_path):
    (tmp_path / "file").write_text("")
    log = Records(tmp_path / "file" / "events.jsonl")
    log.events([event("task.launched")])
    log.close()
    assert isinstance(log.error, OSError)


def test_an_earlier_runs_records_start_over(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"record": "mark", "time": 1}\n' * 3)
    Records(path).close()
    assert path.read_text() == ""
