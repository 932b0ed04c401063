"""The conformance table against the virtual iPhone's probe; ProbeKit's XCTest runs the same file.

A fixture that either side fails fails the build (make test runs both). Every event's attrs must
have the names and JSON types harness.core.events.PROBE_EVENTS documents.
"""

import pytest

from harness.core.events import probe_attr_problems
from tests.conformance import load_fixtures, run_fixture

FIXTURES = load_fixtures()


def test_the_table_has_at_least_40_fixtures_with_unique_names():
    names = [f["name"] for f in FIXTURES]
    assert len(names) >= 40 and len(set(names)) == len(names)


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f["name"] for f in FIXTURES])
def test_the_virtual_iphones_probe_writes_exactly_the_fixtures_events(fixture):
    events, calls = run_fixture(fixture)
    assert events == fixture["events"]
    assert calls == fixture["calls"]


@pytest.mark.parametrize("fixture", FIXTURES, ids=[f["name"] for f in FIXTURES])
def test_every_expected_event_has_the_documented_attrs(fixture):
    for event in fixture["events"]:
        attrs = {k: v for k, v in event.items() if k not in ("event", "task")}
        assert probe_attr_problems(event["event"], attrs) == []


def test_a_changed_expectation_fails():
    fixture = next(f for f in FIXTURES if f["name"] == "progress at a constant cadence")
    events, _ = run_fixture(fixture)
    tampered = [dict(e) for e in fixture["events"]]
    tampered[3]["total"] = 5
    assert events != tampered


def test_the_readme_event_table_is_generated_from_events_py():
    from harness.core.events import probe_events_markdown
    from tests.paths import ROOT

    readme = (ROOT / "README.md").read_text()
    begin, end = "<!-- probe-events:begin -->\n", "<!-- probe-events:end -->"
    table = readme[readme.index(begin) + len(begin) : readme.index(end)]
    assert table == probe_events_markdown(), (
        "regenerate: python -c "
        "'from harness.core.events import probe_events_markdown as m; print(m())'"
    )
