import pytest

from harness.core.errors import UsageError
from harness.core.events import Event, LogEntry
from harness.core.timeline import Expectation, Timeline

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


# -- When an expectation is decided ---------------------------------------------------------------


def decided(*events: Event, kind: str = "task.expired", task: str | None = T, **attrs):
    timeline = Timeline()
    feed(timeline, *events)
    return timeline.decided(Expectation.of(kind, task, **attrs), origin=100.0)


def test_a_completed_run_decides_what_it_could_have_logged():
    run = [
        ev("task.submitted", 100),
        ev("task.launched", 101),
        ev("task.completed", 130, success=True),
    ]
    for kind in ("task.expired", "task.progress", "task.launched"):
        decision = decided(*run, kind=kind)
        assert decision is not None and decision.time == 130.0, kind
    assert decided(*run).reason == f"task {T} completed (success=True) at +30.000"
    # The run completed with another outcome: the awaited one cannot come either.
    assert decided(*run, kind="task.completed", success=False) is not None


def test_a_resubmit_pending_keeps_it_open_until_that_run_ends_too():
    run = [ev("task.launched", 101), ev("task.submitted", 102), ev("task.completed", 130)]
    assert decided(*run) is None
    again = [ev("task.launched", 900), ev("task.completed", 930)]
    assert decided(*run, *again).time == 930.0


def test_unknown_or_unfinished_runs_are_never_decided():
    assert decided(ev("task.completed", 130)) is None, "launched before the session began"
    assert decided(ev("task.launched", 101), ev("task.progress", 110)) is None, "still running"
    assert decided(ev("task.launched", 101), ev("task.completed", 130), task=None) is None
    other = "dev.bgharness.probe.processing"
    assert decided(ev("task.launched", 101), ev("task.completed", 130, task=other)) is None
    # Kinds a run does not log (submissions, dasd's own bookkeeping) are never decided.
    run = [ev("task.launched", 101), ev("task.completed", 130)]
    assert decided(*run, kind="task.submitted") is None
    assert decided(*run, kind="task.no_longer_running") is None


def test_dasd_ending_the_run_decides_expired_but_not_completed():
    run = [ev("task.launched", 101), Event("task.no_longer_running", T, 131, "dasd", "dasd", 97)]
    assert decided(*run).reason == f"task {T}'s run ended (dasd: NO LONGER RUNNING) at +31.000"
    assert decided(*run, kind="task.completed") is None, "the app may still say it completed"


def test_the_end_of_the_process_the_task_ran_in_decides_it():
    gone = Event("app.terminated", None, 140, "runningboard", "runningboardd", 31, {"pid": 412})
    elsewhere = Event("app.terminated", None, 135, "runningboard", "runningboardd", 31, {"pid": 9})
    decision = decided(ev("task.launched", 101), elsewhere, gone, kind="task.completed")
    assert decision.time == 140.0
    assert decision.reason == f"task {T}'s app (pid 412) was terminated at +40.000"
