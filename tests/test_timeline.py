import pytest

from harness.errors import UsageError
from harness.events import Event, LogEntry
from harness.timeline import Expectation, Timeline

T = "dev.bgharness.probe.refresh"


def entry(t: float) -> LogEntry:
    return LogEntry(t, "BGProbe", 412, f"line at {t}")


def feed(timeline: Timeline, *events: Event) -> None:
    for e in events:
        timeline.add(entry(e.time), [e])


def ev(kind: str, t: float, task: str | None = T, **attrs) -> Event:
    return Event(kind, task, t, "probe", "BGProbe", 412, attrs)


def test_find_looks_only_after_the_mark():
    tl = Timeline()
    feed(tl, ev("task.launched", 1.0))
    mark = tl.mark(now=2.0)
    assert tl.find(Expectation.of("task.launched", T), mark) is None
    feed(tl, ev("task.launched", 3.0))
    assert tl.find(Expectation.of("task.launched", T), mark).time == 3.0


def test_attrs_must_be_equal_and_source_is_an_attr():
    tl = Timeline()
    feed(tl, ev("task.completed", 1.0, success=False))
    assert tl.find(Expectation.of("task.completed", T, success=True)) is None
    assert tl.find(Expectation.of("task.completed", T, success=False)) is not None
    assert tl.find(Expectation.of("task.completed", T, source="probe")) is not None
    assert tl.find(Expectation.of("task.completed", T, source="dasd")) is None


def test_unknown_kind_is_refused():
    with pytest.raises(UsageError, match=r"unknown event kind 'task\.finished'"):
        Expectation.of("task.finished")


def test_find_sequence_returns_the_prefix_met_in_order():
    tl = Timeline()
    feed(tl, ev("task.completed", 1.0), ev("task.launched", 2.0), ev("task.expired", 3.0))
    steps = [Expectation.of(k, T) for k in ("task.launched", "task.expired", "task.completed")]
    assert [e.kind for e in tl.find_sequence(steps)] == ["task.launched", "task.expired"]


def test_a_miss_lists_the_events_seen_and_the_near_misses():
    tl = Timeline()
    mark = tl.mark(now=100.0)
    feed(tl, ev("task.launched", 101.0), ev("task.completed", 131.5, success=False))
    want = Expectation.of("task.completed", T, success=True)
    text = tl.describe_miss("expected task.completed within 35 s", want, mark, now=135.0)
    lines = text.splitlines()
    assert lines[0] == "expected task.completed within 35 s"
    assert any("+    1.000" in line and "task.launched" in line for line in lines)
    assert "near misses" in text and "success=False" in lines[-1]


def test_a_miss_with_no_events_says_what_to_check():
    tl = Timeline()
    text = tl.describe_miss("expected x", None, tl.mark(now=0.0), now=1.0)
    assert "(none: is the app running" in text
