"""The timeline picture: valid SVG, one lane per task, marks, shaded spans, long gaps cut."""

import dataclasses
import re
import xml.etree.ElementTree as ET

import pytest

from harness.core.events import Event
from harness.core.timeline_svg import BREAK_S, render
from harness.session.session import Span

NS = {"svg": "http://www.w3.org/2000/svg"}
SVG = "{http://www.w3.org/2000/svg}"
T0 = 1000.0
R = "dev.bgharness.probe.refresh"
P = "dev.bgharness.probe.processing"


def ev(kind, task, at, **attrs):
    return Event(kind, task, T0 + at, "probe", attrs=attrs)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def lane_labels(root: ET.Element) -> list[str]:
    return [
        t.find("svg:title", NS).text for t in root.iter(SVG + "text") if t.get("class") == "lane"
    ]


def marks(root: ET.Element) -> list[str]:
    return [g.get("data-kind") for g in root.iter(SVG + "g") if g.get("class") == "event"]


def test_one_lane_per_task_after_the_app_lane_and_a_mark_per_event():
    events = [
        ev("app.launched", None, 0, reason="user"),
        ev("task.submitted", R, 0.1),
        ev("task.submitted", P, 0.1),
        ev("task.launched", R, 1),
        ev("task.completed", R, 6, success=True),
    ]
    root = parse(render(events, start=T0, end=T0 + 10, title="phone-a · test_x"))
    assert lane_labels(root) == ["app", R, P]
    assert marks(root) == [e.kind for e in events]
    assert [r.get("class") for r in root.iter(SVG + "rect")].count("running") == 1
    assert "phone-a · test_x" in "".join(root.itertext())


def test_offline_and_locked_spans_are_shaded_open_ones_to_the_end():
    spans = [Span("locked", T0 + 1, T0 + 5), Span("offline", T0 + 2, None)]
    root = parse(render([ev("task.submitted", P, 0)], spans, start=T0, end=T0 + 10))
    shaded = {
        r.get("class"): r
        for r in root.iter(SVG + "rect")
        if (r.get("class") or "").startswith("span")
    }
    assert set(shaded) == {"span locked", "span offline"}
    locked, offline = shaded["span locked"], shaded["span offline"]
    assert float(locked.get("width")) < float(offline.get("width")), "offline runs to the end"
    legend = "".join(root.itertext())
    assert "locked" in legend and "offline" in legend


def test_a_long_empty_wait_is_cut_and_labelled_so_seconds_stay_readable():
    events = [
        ev("task.submitted", R, 0),
        ev("task.launched", R, 1),
        ev("task.completed", R, 2),
        ev("task.launched", P, 2 + 12 * 3600),
        ev("task.completed", P, 4 + 12 * 3600),
    ]
    svg = render(events, start=T0, end=T0 + 5 + 12 * 3600)
    root = parse(svg)
    assert "12 h" in "".join(root.itertext())
    xs = {}
    for g in root.iter(SVG + "g"):
        if g.get("class") == "event":
            shape = next(iter(g))
            x = shape.get("cx") or re.search(r"M([\d.]+)", shape.get("d")).group(1)
            xs.setdefault(g.get("data-kind"), []).append(float(x))
    launched_r, launched_p = xs["task.launched"]
    assert launched_r > 250, "the first seconds take real room, not a sliver of 12 hours"
    assert launched_p - launched_r < 700
    assert BREAK_S <= 12 * 3600


def test_text_from_the_log_is_escaped():
    nasty = ev("task.submit_failed", "dev.x.<a&b>", 0, message='"quoted" <tag> & more')
    root = parse(render([nasty], start=T0, end=T0 + 1))
    assert "dev.x.<a&b>" in lane_labels(root)


@pytest.mark.parametrize("end", [T0, T0 + 0.001, T0 + 86400 * 3])
def test_degenerate_timelines_still_draw(end):
    root = parse(render([], start=T0, end=end))
    assert root.get("width") == "960"
    assert lane_labels(root) == ["app"]


def test_events_without_a_time_are_left_out_of_the_marks():
    root = parse(render([Event("task.registered", R, None, "probe")], start=T0, end=T0 + 1))
    assert marks(root) == []


# -- Housekeeping, marks at one instant, the failed expectation ----------------------------------


def shapes(root: ET.Element, kind: str) -> list[ET.Element]:
    return [
        g[0]
        for g in root.iter(SVG + "g")
        if g.get("class") == "event" and g.get("data-kind") == kind
    ]


def test_the_probes_cancel_all_at_launch_is_grey_housekeeping_not_an_error():
    cancel_all = Event("task.canceled", None, T0, "framework", attrs={"all": True})
    failed = ev("task.submit_failed", R, 1, code=3)
    root = parse(render([cancel_all, failed], start=T0, end=T0 + 10))
    [housekeeping] = shapes(root, "task.canceled")
    [problem] = shapes(root, "task.submit_failed")
    assert problem.get("stroke") == "#dc2626"
    assert "#dc2626" not in ET.tostring(housekeeping, encoding="unicode")
    legend = "".join(root.itertext())
    assert "housekeeping (cancel all)" in legend and "rejected / error" in legend


def test_marks_at_the_same_instant_are_spread_apart_and_bracketed():
    together = [ev("task.submitted", R, 1), ev("task.launched", R, 1), ev("task.completed", R, 1)]
    root = parse(render([ev("task.registered", R, 0), *together], start=T0, end=T0 + 100))
    drawn = [ET.tostring(s, encoding="unicode") for k in ("submitted", "launched", "completed")
             for s in shapes(root, f"task.{k}")]  # fmt: skip
    xs = [float(re.search(r'(?:cx="|d="M)([\d.]+)', d).group(1)) for d in drawn]
    assert len(set(xs)) == 3, "three marks, three places"
    assert [p for p in root.iter(SVG + "path") if p.get("class") == "together"]


def test_a_failed_expectation_is_drawn_from_its_mark_to_its_failure():
    @dataclasses.dataclass
    class Miss:
        awaited: str
        task: str | None
        start: float
        end: float
        why: str

    miss = Miss(f"task.expired task={P}", P, T0 + 2, T0 + 65, "decided: completed")
    root = parse(render([ev("task.launched", R, 1)], start=T0, end=T0 + 10, misses=[miss]))
    assert lane_labels(root) == ["app", R, P], "a task only awaited gets its lane"
    [box] = [g for g in root.iter(SVG + "g") if g.get("class") == "miss"]
    tip = box.find("svg:title", NS).text
    assert tip == f"awaited task.expired task={P} from +2 s until +1:05: decided: completed"
    assert "✗ task.expired" in "".join(box.itertext())
    assert "awaited, failed" in "".join(root.itertext())


def test_the_problem_flag_in_events_is_what_the_picture_draws_as_errors():
    """harness.core.events.PROBLEMS: the one list of kinds meaning trouble, read by the picture."""
    from harness.core.events import KINDS, PROBLEMS

    assert PROBLEMS <= KINDS and "task.simulate_rejected" in PROBLEMS
    events = [ev(kind, R, n) for n, kind in enumerate([*sorted(PROBLEMS), "task.launched"])]
    root = parse(render(events, start=T0, end=T0 + 60, title="t"))
    red = {
        g.get("data-kind"): "#dc2626" in ET.tostring(g, encoding="unicode")
        for g in root.iter(SVG + "g")
        if g.get("class") == "event"
    }
    assert red == {**dict.fromkeys(PROBLEMS, True), "task.launched": False}
