"""The per-device event-loop thread: results, timeouts, interruptions, and no thread left behind."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time

import pytest

from harness.device.backends.ios_loop import DeviceLoop, LoopStopped, LoopTimeout


def loop_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("bgharness-test")]


@pytest.fixture
def loop():
    device_loop = DeviceLoop("bgharness-test-loop").start()
    yield device_loop
    device_loop.stop()
    assert loop_threads() == []


def test_run_returns_the_result_on_the_loop_thread(loop):
    async def where() -> str:
        return threading.current_thread().name

    assert loop.run(where(), 1) == "bgharness-test-loop"


def test_a_failure_propagates_and_the_loop_keeps_working(loop):
    async def boom() -> None:
        raise ValueError("inside")

    with pytest.raises(ValueError, match="inside"):
        loop.run(boom(), 1)
    assert loop.run(asyncio.sleep(0, "still here"), 1) == "still here"


def test_a_timeout_cancels_the_coroutine_on_the_loop(loop):
    cancelled = threading.Event()

    async def hang() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(LoopTimeout, match=r"no answer within 0\.1 s"):
        loop.run(hang(), 0.1)
    assert cancelled.wait(2)


def test_the_coroutines_own_timeout_is_not_taken_for_ours(loop):
    async def own() -> None:
        raise TimeoutError("the service's own")

    with pytest.raises(TimeoutError, match="the service's own") as err:
        loop.run(own(), 5)
    assert not isinstance(err.value, LoopTimeout)


def test_stop_cancels_background_work_and_joins_the_thread():
    device_loop = DeviceLoop("bgharness-test-stop").start()
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    future = device_loop.submit(forever())
    device_loop.stop()
    assert cancelled.is_set() and future.cancelled()
    assert loop_threads() == []
    device_loop.stop()  # harmless twice
    with pytest.raises(LoopStopped, match="open the device again"):
        device_loop.run(asyncio.sleep(0), 1)


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="signals need the main thread"
)
def test_an_interrupted_caller_cancels_the_call_and_leaves_no_thread():
    device_loop = DeviceLoop("bgharness-test-interrupt").start()
    cancelled = threading.Event()

    async def hang() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, interrupt)
    main = threading.main_thread().ident
    timer = threading.Timer(0.2, lambda: signal.pthread_kill(main, signal.SIGINT))
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            device_loop.run(hang(), 30)
        assert cancelled.wait(2)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
        device_loop.stop()
    assert loop_threads() == []


def test_a_loop_nobody_stopped_is_stopped_at_exit():
    script = """
import asyncio, sys
from harness.device.backends.ios_loop import DeviceLoop

async def forever():
    try:
        await asyncio.Event().wait()
    except asyncio.CancelledError:
        print("cancelled at exit", flush=True)
        raise

loop = DeviceLoop("bgharness-test-forgotten").start()
loop.submit(forever())
print("exiting without stop", flush=True)
"""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["exiting without stop", "cancelled at exit"]
    assert done.stderr == ""
    assert time.monotonic() - started < 20
