"""`bgharness observations`: the table across runs and devices, JSON, CSV, the SVG plot."""

import csv
import io
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.data.observations import Observation, ObservationLog
from harness.surfaces.cli import main

SVG = "{http://www.w3.org/2000/svg}"
GAP = "suites/test_experiments.py::test_continued_progress_gap"


def write(path: Path, rows: list[tuple]) -> Path:
    log = ObservationLog(path)
    for device, ios, value, outcome, measures, run in rows:
        log.append(
            Observation(
                GAP,
                "progress_gap_s",
                value,
                outcome,
                device,
                "iPhone17,3",
                ios,
                "virtual",
                measures,
                run=run,
            )
        )
    return path


@pytest.fixture
def nights(tmp_path: Path) -> Path:
    write(
        tmp_path / "night-1" / "observations.jsonl",
        [
            ("phone-a", "26.1", 5, "completed", {}, "n1"),
            ("phone-a", "26.1", 40, "expired", {"expired_after_s": 30.0}, "n1"),
            ("phone-b", "26.0", 40, "expired", {"expired_after_s": 22.0}, "n1"),
        ],
    )
    write(
        tmp_path / "night-2" / "observations.jsonl",
        [
            ("phone-a", "26.1", 5, "completed", {}, "n2"),
            ("phone-a", "26.1", 40, "expired", {"expired_after_s": 34.0}, "n2"),
        ],
    )
    return tmp_path


def test_the_table_merges_nights_per_device_and_value(nights, capsys):
    assert main(["observations", str(nights)]) == 0
    out = capsys.readouterr().out
    assert "5 observations from 2 runs in 2 files" in out
    assert GAP in out and "progress_gap_s" in out
    lines = [line for line in out.splitlines() if "phone-a" in line]
    assert len(lines) == 2
    assert "completed ×2" in lines[0]
    assert "expired ×2" in lines[1] and "2 · 30 · 32 · 33.6 · 34" in lines[1]


def test_json_and_csv_carry_the_same_rows(nights, capsys):
    main(["observations", str(nights), "--device", "phone-a", "--format", "json"])
    rows = json.loads(capsys.readouterr().out)
    assert [(r["device"], r["value"], r["n"]) for r in rows] == [
        ("phone-a", 5, 2),
        ("phone-a", 40, 2),
    ]
    assert rows[1]["measures"]["expired_after_s"] == {
        "n": 2, "min": 30.0, "median": 32.0, "p90": 33.6, "max": 34.0
    }  # fmt: skip
    main(["observations", str(nights), "--format", "csv"])
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(table) == 3
    assert table[2]["device"] == "phone-b" and table[2]["expired_after_s.max"] == "22.0"
    assert table[0]["outcomes"] == "completed=2"


def test_the_plot_is_svg_with_a_bar_per_device_and_value(nights, tmp_path, capsys):
    out = tmp_path / "plots" / "gap.svg"
    assert main(["observations", str(nights), "--plot", str(out)]) == 0
    root = ET.fromstring(out.read_text())
    bars = [r for r in root.iter(SVG + "rect") if r.get("class") == "outcome"]
    titles = sorted(r.find(SVG + "title").text for r in bars)
    assert len(titles) == 3  # phone-a at 5 and 40, phone-b at 40
    assert "phone-b · iOS 26.0: 40 → expired 1 of 1" in titles
    whiskers = [g for g in root.iter(SVG + "g") if g.get("class") == "measure"]
    assert len(whiskers) == 2
    assert f"wrote {out}" in capsys.readouterr().err


def test_garbled_lines_are_a_warning_not_a_traceback(tmp_path, capsys):
    path = write(tmp_path / "observations.jsonl", [("phone-a", "26.1", 5, "completed", {}, "r")])
    with path.open("a") as f:
        f.write("{garbled\n")
    assert main(["observations", str(path)]) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"bgharness: warning: {path}: skipped 1 line that is not one (line 2)"
    ]
    assert "completed" in captured.out


def test_missing_file_or_no_match_is_one_line_and_exit_2(tmp_path, capsys):
    assert main(["observations", str(tmp_path / "none.jsonl")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bgharness: ") and len(err.strip().splitlines()) == 1
    assert "none.jsonl: no such file or folder" in err
    path = write(tmp_path / "observations.jsonl", [("phone-a", "26.1", 5, "completed", {}, "r")])
    assert main(["observations", str(path), "--device", "phone-z"]) == 2
    assert "match --device phone-z" in capsys.readouterr().err
