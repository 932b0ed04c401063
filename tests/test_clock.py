import threading

from harness.core.clock import VirtualClock


def test_wait_runs_the_next_due_timer_and_jumps_to_it():
    clock = VirtualClock(start=100.0)
    ran = []
    clock.call_later(30, lambda: ran.append(clock.now()))
    clock.call_later(10, lambda: ran.append(clock.now()))
    clock.wait(200.0, threading.Event())
    assert ran == [110.0] and clock.now() == 110.0
    clock.wait(200.0, threading.Event())
    assert ran == [110.0, 130.0]


def test_wait_without_due_timers_moves_to_the_deadline():
    clock = VirtualClock(start=0.0)
    clock.call_at(500, lambda: None)
    clock.wait(50.0, threading.Event())
    assert clock.now() == 50.0


def test_cancelled_timers_do_not_run():
    clock = VirtualClock(start=0.0)
    ran = []
    clock.call_later(5, lambda: ran.append("a")).cancel()
    clock.advance(10)
    assert ran == [] and clock.now() == 10.0


def test_advance_runs_timers_scheduled_by_timers():
    clock = VirtualClock(start=0.0)
    ran = []
    clock.call_later(1, lambda: clock.call_later(1, lambda: ran.append(clock.now())))
    clock.advance(5)
    assert ran == [2.0]


def test_timers_are_never_in_the_past():
    clock = VirtualClock(start=10.0)
    ran = []
    clock.call_at(3, lambda: ran.append(clock.now()))
    clock.advance(0)
    assert ran == [10.0]
