"""One asyncio event loop on a thread of its own, behind the synchronous Device contract.

pymobiledevice3 11.x is asyncio, and its connections are bound to the loop that opened them, so
each iPhone gets one `DeviceLoop` for its whole life and every call for that phone goes through
`run`. `stop` cancels what is still pending, closes the loop and joins the thread. A loop that
nobody stopped (a forgotten close, an interrupted test) is stopped at interpreter exit, so no
thread outlives the run.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import threading
import weakref
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

# Every loop still running, so `_stop_all` can stop it at exit.
_LIVE: weakref.WeakSet[DeviceLoop] = weakref.WeakSet()


class LoopTimeout(TimeoutError):
    """The coroutine did not finish in time; it was cancelled on the loop."""


class LoopStopped(RuntimeError):
    """`run` was called on a loop that is not running (never started, or stopped)."""


class DeviceLoop:
    """start → run(coro, timeout)… → stop. Called by the iOS backend from any thread."""

    def __init__(self, name: str):
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # asyncio keeps only weak references to tasks: a task whose future nobody holds can be
        # collected mid-await (a live log reader stopped for good at a garbage collection).
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> DeviceLoop:
        with self._lock:
            if self._thread is not None:
                raise LoopStopped(f"{self.name}: the event loop was already started")
            loop = asyncio.new_event_loop()
            ready = threading.Event()
            thread = threading.Thread(
                target=self._serve, args=(loop, ready), name=self.name, daemon=True
            )
            self._loop, self._thread = loop, thread
            thread.start()
            ready.wait()
            _LIVE.add(self)
        return self

    def _serve(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
        finally:
            try:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
            finally:
                loop.close()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        """Run `coro` on the loop and return its result; `LoopTimeout` after `timeout` seconds.

        If the caller is interrupted while waiting (Ctrl-C, a test timeout), the coroutine is
        cancelled on the loop before the interruption propagates.
        """
        if self._accepting() is None:
            coro.close()
            raise self._stopped()
        future = self.submit(_bounded(coro, timeout))
        try:
            # _bounded cancels on the loop; the margin covers a loop stuck in a blocking call.
            return future.result(timeout + 5.0)
        except concurrent.futures.TimeoutError:
            if future.done():
                raise  # the coroutine's own TimeoutError, or LoopTimeout
            future.cancel()
            raise LoopTimeout(f"the event loop did not answer within {timeout + 5:g} s") from None
        except BaseException:
            future.cancel()
            raise

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule `coro` without waiting (a background task); cancel the future to stop it."""
        loop = self._accepting()
        if loop is None:
            coro.close()
            raise self._stopped()
        return asyncio.run_coroutine_threadsafe(self._held(coro), loop)

    async def _held(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` as a task this loop references strongly until it ends."""
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            return await coro
        finally:
            self._tasks.discard(task)

    def _accepting(self) -> asyncio.AbstractEventLoop | None:
        """The loop, if it takes work now."""
        loop = self._loop
        return loop if loop is not None and self.running and not loop.is_closed() else None

    def _stopped(self) -> LoopStopped:
        return LoopStopped(f"{self.name}: the device connection is closed; open the device again")

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel every pending task, stop and close the loop, join the thread. Harmless twice."""
        with self._lock:
            loop, thread = self._loop, self._thread
            if loop is None or thread is None or not thread.is_alive():
                _LIVE.discard(self)
                return
            # A task that ignores cancellation does not keep the loop alive: stop it anyway.
            with contextlib.suppress(
                concurrent.futures.TimeoutError, concurrent.futures.CancelledError
            ):
                asyncio.run_coroutine_threadsafe(_cancel_pending(timeout), loop).result(timeout + 1)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)
            _LIVE.discard(self)


async def _bounded(coro: Coroutine[Any, Any, T], timeout: float) -> T:
    """`coro`, cancelled after `timeout` seconds; tells its own TimeoutError from ours."""
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            return await coro
    except TimeoutError:
        if deadline.expired():
            raise LoopTimeout(f"no answer within {timeout:g} s") from None
        raise


async def _cancel_pending(timeout: float) -> None:
    me = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not me]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)


@atexit.register
def _stop_all() -> None:
    for device_loop in list(_LIVE):
        device_loop.stop(timeout=2.0)
