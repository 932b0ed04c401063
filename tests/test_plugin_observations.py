"""Experiments through pytest: observations into reports/observations.jsonl and into Allure."""

import json
from pathlib import Path

import pytest

from harness.data.observations import read_observations
from tests.paths import PROBE_PLIST

DEVICES = f"""\
apps:
  BGProbe:
    path: {PROBE_PLIST}
devices:
  - name: phone-a
    backend: virtual
    model: iPhone17,3
    ios: "26.1"
  - name: phone-b
    backend: virtual
    model: iPhone15,2
    ios: "26.0"
"""

SWEEP = """\
import pytest

@pytest.mark.device
@pytest.mark.experiment(fact="B3")
@pytest.mark.parametrize("gap", [10, 40])
def test_gap(app, bg, gap):
    task = app.task("continued", f"gap-{gap}")
    app.launch(plan={"register": [task],
                     "taps": {"start": [{"submit": {"type": "continued", "id": task}}]},
                     "handler": {"work_s": 90, "progress": {"every_s": gap}}})
    app.tap("start")
    app.background()
    launched = bg.expect("task.launched", task=task, source="probe", within=5)
    end = bg.first_of(["task.expired", "task.completed"], task, within=200)
    bg.observe("gap_s", gap, outcome=end.kind.split(".")[1], after_s=end.time - launched.time)
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", devices=DEVICES)
    pytester.makeini("[pytest]\nfilterwarnings = ignore::pytest.PytestAssertRewriteWarning\n")
    return pytester


def allure_results(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in folder.glob("*-result.json")]


def attachments(node: dict) -> list[dict]:
    found = list(node.get("attachments", []))
    for step in node.get("steps", []):
        found += attachments(step)
    return found


def test_a_sweep_on_two_workers_leaves_one_line_per_point_and_allure_attachments(project):
    project.makepyfile(test_sweep=SWEEP)
    result = project.runpytest_subprocess("-m", "device", "-n", "2", "--alluredir", "ar")
    result.assert_outcomes(passed=4)
    reading = read_observations([project.path / "reports" / "observations.jsonl"])
    assert reading.skipped == 0
    got = sorted((o.device, o.ios, o.value, o.outcome) for o in reading.observations)
    assert got == [
        ("phone-a", "26.1", 10, "completed"),
        ("phone-a", "26.1", 40, "expired"),
        ("phone-b", "26.0", 10, "completed"),
        ("phone-b", "26.0", 40, "expired"),
    ]
    assert {o.scenario for o in reading.observations} == {"test_sweep.py::test_gap"}
    assert len({o.run for o in reading.observations}) == 1, "one run id across the workers"
    assert {o.test for o in reading.observations} == {
        f"test_sweep.py::test_gap[{gap}-{device}]"
        for gap in (10, 40)
        for device in ("phone-a", "phone-b")
    }
    results = allure_results(project.path / "ar")
    assert len(results) == 4
    for data in results:
        [attached] = [a for a in attachments(data) if a["name"].startswith("observation: ")]
        body = json.loads((project.path / "ar" / attached["source"]).read_text())
        assert attached["name"] == f"observation: gap_s={body['value']} → {body['outcome']} " + (
            f"(after_s={body['measures']['after_s']:g})"
        )
        labels = {(label["name"], label["value"]) for label in data["labels"]}
        assert ("fact", "B3") in labels and ("tag", "experiment") in labels


def test_an_experiment_that_records_nothing_is_an_error(project):
    project.makepyfile("""
        import pytest

        @pytest.mark.device
        @pytest.mark.experiment(fact="B3")
        def test_forgot(bg):
            bg.wait(1)
    """)
    result = project.runpytest("-m", "device", "--device", "phone-a")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*is an experiment but recorded no observation*"])


def test_a_decided_expectation_fails_early_and_its_picture_draws_what_was_awaited(project):
    project.makepyfile("""
        import pytest

        @pytest.mark.device
        def test_wrong_expectation(app, bg):
            task = app.task("continued", "export-1")
            app.launch(plan={"register": [task],
                             "taps": {"start": [{"submit": {"type": "continued", "id": task}}]},
                             "handler": {"work_s": 60, "progress": {"every_s": 5}}})
            app.tap("start")
            bg.expect("task.expired", task=task, within=5400)
    """)
    result = project.runpytest("-m", "device", "--device", "phone-a")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*within 5400 s; decided: task * completed (success=True) at +60.004 and no request*"]
    )
    [svg] = (project.path / "reports" / "artifacts").glob("*/timeline.svg")
    picture = svg.read_text()
    assert '<g class="miss">' in picture and "✗ task.expired" in picture
    assert "awaited task.expired task=dev.bgharness.probe.continued.export-1 from +0 s" in picture
