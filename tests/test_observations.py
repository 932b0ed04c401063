"""Observations: one JSON line each, appended whole from many processes, read back across runs."""

import json
import multiprocessing
from pathlib import Path

import pytest

from harness.core.errors import UsageError
from harness.data.observations import (
    Distribution,
    Observation,
    ObservationLog,
    read_observations,
    select,
    summarise,
)

SCENARIO = "suites/test_experiments.py::test_progress_gap"


def obs(value, outcome, device="phone-a", ios="26.1", run="r1", **measures) -> Observation:
    return Observation(
        scenario=SCENARIO,
        parameter="progress_gap_s",
        value=value,
        outcome=outcome,
        device=device,
        model="iPhone17,3",
        ios=ios,
        backend="virtual",
        measures=measures,
        run=run,
        time="2026-12-04T16:00:00+00:00",
    )


def test_an_observation_is_one_json_line_and_reads_back_equal(tmp_path):
    log = ObservationLog(tmp_path / "reports" / "observations.jsonl")
    first, second = obs(25, "expired", expired_after_s=30.0), obs(5, "completed")
    log.append(first)
    log.append(second)
    lines = log.path.read_text().splitlines()
    assert [json.loads(line)["outcome"] for line in lines] == ["expired", "completed"]
    assert read_observations([log.path]).observations == [first, second]


def _append_many(path: str, worker: int) -> None:
    log = ObservationLog(Path(path))
    for i in range(100):
        # A long line, so a torn write would show as a line that does not parse.
        log.append(obs(i, "completed", device=f"phone-{worker}", note_padding=float(i) * 1e6))


def test_processes_appending_at_once_leave_every_line_whole(tmp_path):
    path = tmp_path / "observations.jsonl"
    procs = [
        multiprocessing.get_context("spawn").Process(target=_append_many, args=(str(path), w))
        for w in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    reading = read_observations([path])
    assert reading.skipped == 0 and reading.warnings == []
    assert len(reading.observations) == 400
    assert {o.device for o in reading.observations} == {f"phone-{w}" for w in range(4)}


def test_a_folder_is_searched_and_the_same_line_in_two_files_counts_once(tmp_path):
    night1, night2 = tmp_path / "night-1" / "reports", tmp_path / "night-2" / "reports"
    ObservationLog(night1 / "observations.jsonl").append(obs(5, "completed", run="n1"))
    ObservationLog(night2 / "observations.jsonl").append(obs(5, "completed", run="n2"))
    copy = tmp_path / "copy" / "observations.jsonl"
    copy.parent.mkdir()
    copy.write_text((night1 / "observations.jsonl").read_text())
    (tmp_path / "night-1" / "other.jsonl").write_text("not observations\n")  # not searched
    reading = read_observations([tmp_path])
    assert len(reading.files) == 3
    assert sorted(o.run for o in reading.observations) == ["n1", "n2"]


def test_garbled_lines_are_skipped_with_one_warning_per_file(tmp_path):
    path = tmp_path / "observations.jsonl"
    good = json.dumps(obs(5, "completed").as_json())
    path.write_text(
        "\n".join(
            [
                good,
                '{"scenario": "x", "outcome": "y"',  # cut off
                "[1, 2]",
                json.dumps({"scenario": "x", "outcome": "y"}),  # no device
                json.dumps({**obs(5, "expired").as_json(), "measures": {"after_s": "slow"}}),
                "",
                json.dumps({**obs(6, "expired").as_json(), "from_a_newer_writer": 1}),
            ]
        )
        + "\n"
    )
    reading = read_observations([path])
    assert [o.value for o in reading.observations] == [5, 6]
    assert reading.skipped == 4
    assert reading.warnings == [
        f"{path}: skipped 4 lines that are not observations (line 2, 3, 4, 5)"
    ]


def test_a_missing_path_or_an_empty_folder_is_a_usage_error_naming_it(tmp_path):
    with pytest.raises(UsageError, match=r"nope\.jsonl: no such file or folder.*make device"):
        read_observations([tmp_path / "nope.jsonl"])
    with pytest.raises(UsageError, match=r"no observations\*\.jsonl in this folder"):
        read_observations([tmp_path])


def test_measures_must_be_numbers_and_values_scalars():
    with pytest.raises(UsageError, match="measure after_s='slow' must be a finite number"):
        obs(5, "expired", after_s="slow")
    with pytest.raises(UsageError, match="must be a finite number"):
        obs(5, "expired", after_s=float("nan"))
    with pytest.raises(UsageError, match="value must be a string, number, bool or None"):
        obs([5], "expired")


def test_summary_rows_per_device_and_value_in_numeric_order_with_distributions():
    delays = [30.0, 31.0, 29.0, 40.0, 35.0]
    observations = [
        obs(25, "expired", expired_after_s=d, run=f"r{i}") for i, d in enumerate(delays)
    ]
    observations += [obs(5, "completed"), obs(5, "completed"), obs(15, "completed")]
    observations += [
        obs(25, "completed", run="r9"),
        obs(25, "expired", device="phone-b", ios="18.6"),
    ]
    rows = summarise(observations)
    assert [(r.device, r.value) for r in rows] == [
        ("phone-a", 5),
        ("phone-a", 15),
        ("phone-a", 25),
        ("phone-b", 25),
    ]
    gap25 = rows[2]
    assert gap25.n == 6 and gap25.runs == 6
    assert gap25.outcomes == {"expired": 5, "completed": 1}
    assert gap25.measures["expired_after_s"] == Distribution(5, 29.0, 31.0, 38.0, 40.0)
    assert rows[0].measures == {} and rows[0].outcomes == {"completed": 2}
    assert rows[3].ios == "18.6"


def test_one_value_is_its_own_distribution():
    assert Distribution.of([12.5]) == Distribution(1, 12.5, 12.5, 12.5, 12.5)


def test_select_by_scenario_text_device_and_parameter():
    other = Observation("suites/test_soak.py::test_delay", None, None, "launched", "phone-b")
    found = [obs(5, "completed"), obs(5, "completed", device="phone-b"), other]
    assert select(found, scenario="progress_gap") == found[:2]
    assert select(found, devices=["phone-b"]) == found[1:]
    assert select(found, parameter="progress_gap_s", devices=["phone-b"]) == [found[1]]
