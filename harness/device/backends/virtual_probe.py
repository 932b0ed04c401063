"""The virtual iPhone's probe app: what BGProbe does with its plan, in Python.

This is the same behaviour as ProbeKit's `ProbeRunner` (suites/apps/BGProbe/ProbeKit), written
twice on purpose and held together by the conformance table (suites/apps/BGProbe/conformance):
every fixture is run against both, and both must write exactly the same probe events. Pure: the
system around the app comes in through `Scheduling` (BGTaskScheduler), `Services` (keychain,
files, beginBackgroundTask, URLSession, memory, Metal, CPU), a clock and an `emit` function.

Timers are created one at a time, when the previous one fires (never all up front), so a plan's
cost in memory does not grow with its durations or its progress cadence.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from harness.data.plan import Action, Handler, Plan, Request, fresh_id

# The most progress units a handler reports; ProbeKit uses the same bound.
MAX_UNITS = 1_000_000
# errSecInteractionNotAllowed: the keychain item is not readable now (facts B8).
ERR_SEC_INTERACTION_NOT_ALLOWED = -25308
BG_ERROR_DOMAIN = "BGTaskSchedulerErrorDomain"
# A progress unit that waits for the network tries again after its gap, but never sooner than
# this: a gap of 0 while offline must not spin the clock in place.
RETRY_MIN_S = 1.0

Emit = Callable[[str, "str | None", dict[str, Any]], None]


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> float: ...

    def call_later(self, delay: float, action: Callable[[], None]) -> Cancellable: ...


class Scheduling(Protocol):
    """BGTaskScheduler as the app sees it: the answers come from the (virtual) system."""

    supported_resources: list[str]

    def register(self, task: str) -> bool: ...

    def submit(self, request: Request) -> int | None:
        """None when accepted, else the BGTaskSchedulerErrorDomain code."""

    def cancel(self, task: str) -> None: ...

    def cancel_all(self) -> None: ...


class Services(Protocol):
    """Everything else the probe touches; the shell's adapters on a phone."""

    def network_up(self) -> bool: ...

    def keychain_read(self, accessibility: str) -> int: ...

    def file_access(self, op: str, protection: str) -> bool: ...

    def begin_background_task(self, name: str, on_expire: Callable[[], None]) -> None: ...

    def end_background_task(self, name: str) -> None: ...

    def upload(self, size: int, done: Callable[[int], None]) -> None: ...

    def allocate(self, mb: int) -> bool: ...

    def gpu_work(self) -> bool: ...

    def burn_cpu(self, seconds: int, percent: int, done: Callable[[], None]) -> None:
        """A busy loop on a background queue; `done` when its time is up (never if killed)."""


class TaskHandle(Protocol):
    """The BGTask the system hands to a launch handler."""

    identifier: str
    type: str
    expiration_handler: Callable[[], None] | None

    def set_progress(self, form: str, completed: int, total: int) -> None: ...

    def set_completed(self, success: bool) -> None: ...


def progress_units(handler: Handler) -> int:
    """How many units a handler reports: work_s / every_s (at least 1, at most MAX_UNITS)."""
    p = handler.progress
    if p is None:
        return 0
    if p.every_s is None:
        return len(p.gaps_s)
    return int(min(MAX_UNITS, max(1.0, math.floor(handler.work_s / p.every_s))))


@dataclass(eq=False)
class _Run:
    handle: TaskHandle
    handler: Handler
    started: float
    total: int = 0
    done: int = 0
    finished: bool = False
    timer: Cancellable | None = None


@dataclass
class ProbeRunner:
    """One launch of the probe app."""

    scheduling: Scheduling
    services: Services
    clock: Clock
    emit: Emit
    plan: Plan = field(default_factory=Plan)
    _launched_at: float = 0.0
    _runs: dict[str, _Run] = field(default_factory=dict)
    _submitted: dict[str, Request] = field(default_factory=dict)
    _origin: dict[str, str] = field(default_factory=dict)
    _fresh: int = 0

    # -- What happens to the app ------------------------------------------------------------

    def launch(self, plan: Plan, reason: str) -> None:
        """application(_:didFinishLaunchingWithOptions:): cancel, register, submit, timeline."""
        self.plan, self._launched_at = plan, self.clock.now()
        self._launched(reason)
        if plan.cancel_all:
            self.scheduling.cancel_all()
        for task in plan.register:
            self._register(task)
        for request in plan.submit:
            self._submit(request)
        self._next_step(sorted(plan.after_launch, key=lambda s: s.at_s), 0)

    def reject(self, reason: str, path: str, why: str) -> None:
        """A launch whose plan this build cannot follow: say so, and do nothing else."""
        self._launched(reason)
        self.emit("plan.rejected", None, {"reason": why, "path": path})

    def tap(self, name: str) -> None:
        """A person tapped the button `bgprobe.tap.<name>`."""
        self.emit("app.tapped", None, {"name": name})
        self._do(self.plan.taps.get(name, ()), None)

    def run(self, handle: TaskHandle) -> None:
        """The launch handler: the system hands over a task."""
        task = handle.identifier
        handler = self._handler_for(task)
        self.emit("task.launched", task, {"type": handle.type})
        run = _Run(handle, handler, self.clock.now())
        old = self._runs.get(task)
        if old is not None and old.timer is not None:
            old.timer.cancel()
        self._runs[task] = run
        if handler.expiration_handler:
            handle.expiration_handler = lambda: self._expired(run)
        self._do(handler.do, task)
        if handler.resubmit == "on_start":
            self._resubmit(run)
        p = handler.progress
        if p is None:
            self._arm_completion(run)
            return
        run.total = progress_units(handler)
        handle.set_progress(p.as_, 0, run.total)
        self._next_tick(run)

    # -- Launch -------------------------------------------------------------------------------

    def _launched(self, reason: str) -> None:
        resources = sorted(self.scheduling.supported_resources)
        self.emit("app.launched", None, {"reason": reason, "supported_resources": resources})

    def _next_step(self, steps: list, i: int) -> None:
        if i >= len(steps):
            return
        step = steps[i]
        delay = max(0.0, self._launched_at + step.at_s - self.clock.now())

        def fire() -> None:
            self._do(step.do, None)
            self._next_step(steps, i + 1)

        self.clock.call_later(delay, fire)

    # -- Actions ------------------------------------------------------------------------------

    def _do(self, actions: tuple[Action, ...], task: str | None) -> None:
        for action in actions:
            self._act(action, task)

    def _act(self, action: Action, task: str | None) -> None:
        kind, arg = action.kind, action.arg
        if kind == "register":
            self._register(arg)
        elif kind == "submit":
            self._submit(arg)
        elif kind == "cancel":
            self.scheduling.cancel(arg)
            self.emit("task.cancel_requested", arg, {"all": False})
        elif kind == "cancel_all":
            self.scheduling.cancel_all()
            self.emit("task.cancel_requested", None, {"all": True})
        elif kind == "keychain":
            status = self.services.keychain_read(arg)
            attrs = {"accessibility": arg, "status": status}
            self.emit("keychain.read", task, attrs)
            if status == ERR_SEC_INTERACTION_NOT_ALLOWED:
                self.emit("keychain.locked", task, dict(attrs))
        elif kind == "file":
            ok = self.services.file_access(arg["op"], arg["protection"])
            self.emit(
                "file.access", task, {"op": arg["op"], "protection": arg["protection"], "ok": ok}
            )
        elif kind == "background_task":
            self._background_task(arg, task)
        elif kind == "upload":
            size = arg["bytes"]
            self.services.upload(
                size, lambda error: self.emit("upload.finished", task, {"error": error})
            )
            self.emit("upload.started", task, {"bytes": size})
        elif kind == "allocate_mb":
            ok = self.services.allocate(arg)
            self.emit("memory.allocated", task, {"mb": arg, "ok": ok})
        elif kind == "gpu_work":
            self.emit("gpu.work", task, {"ok": self.services.gpu_work()})
        elif kind == "cpu":
            attrs = {"seconds": arg["seconds"], "percent": arg["percent"]}
            self.emit("cpu.started", task, dict(attrs))
            self.services.burn_cpu(
                arg["seconds"], arg["percent"], lambda: self.emit("cpu.finished", task, attrs)
            )

    def _register(self, task: str) -> None:
        if self.scheduling.register(task):
            self.emit("task.registered", task, {})
        else:
            self.emit("task.registration_error", task, {"reason": "not_permitted"})

    def _submit(self, request: Request) -> None:
        self._submitted[request.id] = request
        code = self.scheduling.submit(request)
        if code is None:
            self.emit("task.submitted", request.id, {"type": request.type})
        else:
            attrs = {"type": request.type, "code": code, "domain": BG_ERROR_DOMAIN}
            self.emit("task.submit_failed", request.id, attrs)

    def _background_task(self, spec: dict[str, Any], task: str | None) -> None:
        name, ended = spec["name"], [False]

        def end() -> None:
            if not ended[0]:
                ended[0] = True
                self.services.end_background_task(name)
                self.emit("bgtime.ended", task, {"name": name})

        def expired() -> None:
            self.emit("bgtime.expired", task, {"name": name})
            if spec["end"]:
                end()

        self.services.begin_background_task(name, expired)
        self.emit("bgtime.began", task, {"name": name})
        if spec["end"]:
            self.clock.call_later(float(spec["work_s"]), end)

    # -- Handlers -----------------------------------------------------------------------------

    def _handler_for(self, task: str) -> Handler:
        while task not in self.plan.handlers and task in self._origin:
            task = self._origin[task]
        return self.plan.handler_for(task)

    def _resubmit(self, run: _Run) -> None:
        task = run.handle.identifier
        request = (
            self._submitted.get(task)
            or self.plan.request_for(task)
            or Request(type=run.handle.type, id=task)
        )
        if run.handler.resubmit_id == "fresh":
            self._fresh += 1
            new = fresh_id(task, self._fresh)
            self._origin[new] = task
            self._register(new)
            request = replace(request, id=new)
        self._submit(request)

    def _next_tick(self, run: _Run) -> None:
        if run.done >= run.total:
            self._arm_completion(run)
            return
        p = run.handler.progress
        assert p is not None
        gap = p.every_s if p.every_s is not None else p.gaps_s[run.done]
        run.timer = self.clock.call_later(gap, lambda: self._tick(run, gap))

    def _tick(self, run: _Run, gap: float) -> None:
        if run.finished:
            return
        p = run.handler.progress
        assert p is not None
        if p.needs_network and not self.services.network_up():
            # The unit waits for the network: try again after the same gap (RETRY_MIN_S at least).
            retry = max(gap, RETRY_MIN_S)
            run.timer = self.clock.call_later(retry, lambda: self._tick(run, gap))
            return
        run.done += 1
        run.handle.set_progress(p.as_, run.done, run.total)
        attrs = {"completed": run.done, "total": run.total}
        self.emit("task.progress", run.handle.identifier, attrs)
        self._next_tick(run)

    def _arm_completion(self, run: _Run) -> None:
        """Complete once work_s has passed since the start and every unit is reported."""
        if run.handler.complete == "never":
            run.timer = None
            return
        remaining = max(0.0, run.started + run.handler.work_s - self.clock.now())
        success = run.handler.complete == "success"
        run.timer = self.clock.call_later(remaining, lambda: self._finish(run, success))

    def _finish(self, run: _Run, success: bool) -> None:
        if run.finished:
            return
        run.finished = True
        if run.timer is not None:
            run.timer.cancel()
        run.handle.expiration_handler = None
        self.emit("task.completed", run.handle.identifier, {"success": success})
        run.handle.set_completed(success)

    def _expired(self, run: _Run) -> None:
        if run.finished:
            return
        self.emit("task.expired", run.handle.identifier, {})
        self._finish(run, False)
        if run.handler.resubmit == "on_expiry":
            self._resubmit(run)
