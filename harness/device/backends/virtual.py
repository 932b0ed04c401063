"""The virtual iPhone: one iPhone's background scheduling, in process, on a virtual clock.

It implements the Device contract so the suites and the harness run without hardware. It
installs real bundles (reading their Info.plist), runs the probe plan, and writes the log
lines iOS writes, in iOS's own wording, so the same parser and the same assertions serve both
backends. Every policy names its fact: a bare `B1` in a comment here is `facts B1`, the
heading B1 of docs/facts.md, which gives the primary source and its confidence. Network and
lock state outlive the process, as on a phone, so a crashed run really leaves the virtual
iPhone offline until the journal restores it.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from harness.core.clock import VirtualClock, _Timer
from harness.core.debugger import parse_simulate_command
from harness.core.errors import DebugUsageError, InfraError, PlanError, Unsupported, UsageError
from harness.core.events import LogEntry
from harness.data.appbundle import AppInfo, assemble_ipa, read_app
from harness.data.inventory import DeviceRecord
from harness.data.plan import PLAN_ENV, Plan, Request, plan_from_json
from harness.data.processes import pid_alive
from harness.device.backends.virtual_continued import ContinuedTasks, profile_for
from harness.device.backends.virtual_probe import ProbeRunner
from harness.device.backends.virtual_system import Settings, VirtualSystem
from harness.device.contract import NETWORK_PROFILES, DeviceInfo, Progress
from harness.device.logstream import QueueLogStream

# -- Policies ---------------------------------------------------------------------------------

# B1: "There can be a total of 1 refresh task and 10 processing tasks scheduled at any time";
# more is BGTaskSchedulerErrorCodeTooManyPendingTaskRequests (2). (BGTaskScheduler.h)
MAX_PENDING = {"refresh": 1, "processing": 10}
# B1: a refresh task gets "up to 30 seconds of background runtime" (WWDC19 707; Apple's article).
REFRESH_BUDGET_S = 30.0
# B1/B2: when the system launches a request is discretionary ("not earlier than" the
# earliestBeginDate; processing "within the next two days"). The model picks fixed delays so
# tests can say "eventually, within N", never an exact time.
ORGANIC_DELAY_S = {"refresh": 15 * 60.0, "processing": 30 * 60.0}
# B7/B1: refresh needs UIBackgroundModes `fetch`, processing needs `processing`; a missing mode
# is BGTaskSchedulerErrorCodeNotPermitted (3) (B6, BGTaskScheduler.h).
REQUIRED_MODE = {"refresh": "fetch", "processing": "processing"}
# B3 [M]: continued tasks need no UIBackgroundModes entry (OpenReader shipped with `audio` only).
# Their rules (liveness, queue, prompt, cards, GPU) are in virtual_continued (facts B3, G8, A6).
# B6: error codes of BGTaskSchedulerErrorDomain.
UNAVAILABLE, TOO_MANY_PENDING, NOT_PERMITTED = 1, 2, 3
# Data protection, beginBackgroundTask, uploads, memory, suspension and the settings a person
# changes are harness.device.backends.virtual_system's rules (facts B4, B5, B8, G1-G7).
# The probe's buttons carry the accessibility identifier `bgprobe.tap.<name>` (BGProbe shell).
TAP_PREFIX = "bgprobe.tap."
# No timer is set further ahead than this (a valid plan stays far below it: schema bounds).
MAX_DELAY_S = 1e10

_TASK_CLASS = {
    "refresh": "BGAppRefreshTask",
    "processing": "BGProcessingTask",
    "continued": "BGContinuedProcessingTask",
}
_ACTIVITY_PREFIX = {
    "refresh": "bgRefresh",
    "processing": "bgProcessing",
    "continued": "bgContinuedProcessing",
}

_FRAMEWORK = ("com.apple.BackgroundTasks", "Framework", "BackgroundTasks")
# dasd writes its activity lifecycle under [com.apple.duetactivityscheduler:lifecycle] (B9).
_DAS = ("com.apple.duetactivityscheduler", "lifecycle", "DuetActivityScheduler")
_PROBE = ("dev.bgharness.probe", "lifecycle", "BGProbe")
_RUNNINGBOARD = ("com.apple.runningboard", "process", "RunningBoard")
_SPRINGBOARD = ("com.apple.springboard", "application", "SpringBoard")
_MODEL = ("dev.bgharness.virtual", "model", "bgharness")

# Fixed system pids, as a phone has them.
_DASD_PID, _SPRINGBOARD_PID, _RUNNINGBOARD_PID = 97, 34, 31
# Virtual runs start at a fixed device time, so logs and reports are reproducible.
VIRTUAL_EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=UTC).timestamp()


@dataclass
class _Pending:
    """A request dasd holds (one `bgRefresh-ID:HEX` activity)."""

    request: Request
    bundle_id: str
    activity: str
    earliest: float
    ready_at: float | None = None  # when its conditions first held, plus the organic delay

    @property
    def activity_name(self) -> str:
        return _activity_name(self.request.type, self.request.id, self.activity)


@dataclass(eq=False)
class _Running:
    """A task whose launch handler has been called and not yet completed (the system's view)."""

    task: str
    type: str
    simulated: bool
    activity: str | None
    handle: _Task
    title: str = ""
    requires_power: bool = False  # requiresExternalPower: turns the CPU monitor off (G6)
    timers: list[_Timer] = field(default_factory=list)
    stall: _Timer | None = None
    last_progress: float = 0.0

    @property
    def description(self) -> str:
        if self.type == "continued":  # BGContinuedProcessingTask's -description (B3)
            return f"<{_TASK_CLASS[self.type]}: {self.task} ({self.title})>"
        return f"<{_TASK_CLASS[self.type]}: {self.task}>"

    @property
    def activity_name(self) -> str:
        return _activity_name(self.type, self.task, self.activity or "")

    def cancel_timers(self) -> None:
        for timer in [*self.timers, *([self.stall] if self.stall else [])]:
            timer.cancel()


@dataclass(eq=False)
class _Task:
    """The BGTask object the probe's handler holds (virtual_probe.TaskHandle)."""

    phone: VirtualIPhone
    proc: _Process
    identifier: str
    type: str
    run: _Running | None = None
    expiration_handler: Callable[[], None] | None = None

    def set_progress(self, form: str, completed: int, total: int) -> None:
        # facts B3, G8: progress is a continued task's liveness signal (virtual_continued).
        if self.run is not None and self.run.type == "continued":
            self.phone._continued.progress(self.proc, self.run, form, completed, total)

    def set_completed(self, success: bool) -> None:
        if self.run is not None:
            self.phone._complete(self.proc, self.run, success)


@dataclass(eq=False)
class _Process:
    bundle_id: str
    executable: str
    pid: int
    foreground: bool
    plan: Plan = field(default_factory=Plan)
    probe: ProbeRunner | None = None
    launching: bool = True  # inside application(_:didFinishLaunchingWithOptions:)
    registered: set[str] = field(default_factory=set)
    running: dict[str, _Running] = field(default_factory=dict)
    background_tasks: dict[str, _Timer] = field(default_factory=dict)


class _AppCrashed(Exception):
    """The app died inside a call (an uncaught NSException); unwinds the probe's stack."""


class _ProbeClock:
    """The device clock as one process sees it: its timers die with it, a crash ends them."""

    def __init__(self, phone: VirtualIPhone, proc: _Process):
        self._phone, self._proc = phone, proc

    def now(self) -> float:
        return self._phone._clock.now()

    def call_later(self, delay: float, action: Callable[[], None]) -> _Timer:
        proc = self._proc

        def fire() -> None:
            if proc.pid in self._phone._processes:  # pids are never reused
                if self._phone._system.defer(proc, fire):  # suspended: runs on resume (G7)
                    return
                with contextlib.suppress(_AppCrashed):
                    action()

        return self._phone._clock.call_later(_bounded(delay), fire)


class _ProbeSystem:
    """What the probe's calls meet on the virtual iPhone: BGTaskScheduler and the services."""

    def __init__(self, phone: VirtualIPhone, proc: _Process):
        self._phone, self._proc = phone, proc
        # facts G8 [H]: asked of dasd once per process (dispatch_once) and cached.
        self.supported_resources = phone._continued.supported_resources(proc)

    # Scheduling
    def register(self, task: str) -> bool:
        return self._phone._register(self._proc, task)

    def submit(self, request: Request) -> int | None:
        return self._phone._submit(self._proc, request)

    def cancel(self, task: str) -> None:
        self._phone._cancel(self._proc, task)

    def cancel_all(self) -> None:
        self._phone._cancel_all(self._proc)

    # Services
    def network_up(self) -> bool:
        return self._phone._network != "offline"

    def keychain_read(self, accessibility: str) -> int:
        return self._phone._system.keychain_status(accessibility)

    def file_access(self, op: str, protection: str) -> bool:
        return self._phone._system.file_ok(op, protection)

    def begin_background_task(self, name: str, on_expire: Callable[[], None]) -> None:
        self._phone._system.begin_background_task(self._proc, name, on_expire)

    def end_background_task(self, name: str) -> None:
        self._phone._system.end_background_task(self._proc, name)

    def upload(self, size: int, done: Callable[[int], None]) -> None:
        self._phone._system.upload(self._proc, None, done)

    def allocate(self, mb: int) -> bool:
        return self._phone._system.allocate(self._proc, mb)

    def gpu_work(self) -> bool:
        # facts B3, G8: background GPU only for a continued task granted `.gpu`.
        return self._phone._continued.gpu_allowed(self._proc)

    def burn_cpu(self, seconds: int, percent: int, done: Callable[[], None]) -> None:
        self._phone._system.burn_cpu(self._proc, seconds, percent, done)


class VirtualIPhone:
    """A Device (harness.device.contract) modelling one iPhone; see the module docstring."""

    def __init__(self, record: DeviceRecord, state_dir: Path, clock: VirtualClock):
        self.name = record.name
        self.warnings: list[str] = []  # the virtual iPhone is always as declared
        self._record = record
        self._state_file = state_dir / f"virtual-{record.name}.json"
        self._apps_dir = state_dir / "virtual-apps"
        self._clock = _SettlingClock(clock, self)
        self._streams: list[QueueLogStream] = []
        self._apps: dict[str, AppInfo] = {}
        self._processes: dict[int, _Process] = {}
        self._pids = itertools.count(412)
        self._activities = itertools.count(0x6796B3, 0x1F3D)
        self._pending: list[_Pending] = []
        self._last_plan: dict[str, Plan] = {}
        self._no_background_launch: set[str] = set()  # force-quit bundles (B1, A10)
        self._network: str | None = None
        self._locked = False
        self._system = VirtualSystem(self, _AppCrashed)  # virtual_system: power, LPM, memory...
        self._dasd_timer: _Timer | None = None
        self._tapping: int | None = None  # the pid a tap is being delivered to
        self._continued = ContinuedTasks(
            self, profile_for(record.model or "iPhone17,3", record.stall_tolerance_s)
        )

    @classmethod
    def open(cls, record: DeviceRecord, state_dir: Path) -> VirtualIPhone:
        """Connect to the virtual iPhone, with the network and lock state it was left in."""
        phone = cls(record, state_dir, VirtualClock(VIRTUAL_EPOCH, scale=record.time_scale))
        phone._load_state()
        return phone

    # -- Device contract: identity, apps ------------------------------------------------------

    @property
    def clock(self) -> _SettlingClock:
        return self._clock

    def info(self) -> DeviceInfo:
        return DeviceInfo(
            udid=f"virtual-{self.name}",
            name=self.name,
            model=self._record.model or "iPhone17,3",
            ios_version=self._record.ios or "26.1",
            ios_build="23B85",
            backend="virtual",
            capabilities=frozenset(
                {"background", "force_quit", "lock", "unlock", "network", "debugger", "reboot"}
                | {"power", "low_power_mode", "background_refresh", "memory_pressure"}
            ),
        )

    def install(self, app: Path, progress: Progress | None = None) -> bool:
        if app.name == "Info.plist" or app.suffix == ".plist":
            app = assemble_ipa(app, self._apps_dir)
        info = read_app(app)
        old = self._apps.get(info.bundle_id)
        if old is not None and old.content_hash == info.content_hash:
            return False
        self.uninstall(info.bundle_id)
        self._apps[info.bundle_id] = info
        return True

    def uninstall(self, bundle_id: str) -> None:
        for proc in self._processes_of(bundle_id):
            self._terminate(proc)
        self._pending = [p for p in self._pending if p.bundle_id != bundle_id]
        self._apps.pop(bundle_id, None)
        self._last_plan.pop(bundle_id, None)

    def installed(self, bundle_id: str) -> bool:
        return bundle_id in self._apps

    # -- Device contract: processes -----------------------------------------------------------

    def launch(self, bundle_id: str, env: dict[str, str], args: list[str]) -> int:
        if bundle_id not in self._apps:
            raise UsageError(f"{self.name}: {bundle_id} is not installed; install it first")
        for proc in self._processes_of(bundle_id):
            self._terminate(proc)
        plan: Plan | PlanError
        try:
            plan = (
                plan_from_json(env[PLAN_ENV]) if PLAN_ENV in env else self._relaunch_plan(bundle_id)
            )
            self._last_plan[bundle_id] = plan
        except PlanError as exc:
            plan = exc  # the probe says plan.rejected, as the Swift app does
        # A10/B1: tapping the icon makes a force-quit app eligible for background launches again.
        self._no_background_launch.discard(bundle_id)
        for proc in self._processes.values():
            proc.foreground = False
        proc = self._start_process(bundle_id, foreground=True)
        self._launch_probe(proc, plan)
        self._continued.app_state_changed()
        if proc.pid in self._processes:
            self._system.user_launched(proc)
        return proc.pid

    def tap(self, element: str) -> None:
        """Tap a button of the foreground app: the probe's are `bgprobe.tap.<name>`."""
        proc = next((p for p in self._processes.values() if p.foreground), None)
        if proc is None or proc.probe is None:
            raise UsageError(f"{self.name}: no app is in the foreground to tap; launch it first")
        name = element.removeprefix(TAP_PREFIX)
        if not element.startswith(TAP_PREFIX) or name not in proc.plan.taps:
            known = ", ".join(TAP_PREFIX + n for n in proc.plan.taps) or "none"
            raise UsageError(
                f"{self.name}: {proc.bundle_id} shows no button {element!r}; its plan's taps "
                f"give: {known}"
            )
        self._tapping = proc.pid
        try:
            proc.probe.tap(name)
        except _AppCrashed:
            pass
        finally:
            self._tapping = None

    def pid(self, bundle_id: str) -> int | None:
        return next((p.pid for p in self._processes_of(bundle_id)), None)

    def kill(self, pid: int) -> None:
        proc = self._processes.get(pid)
        if proc is None:
            raise UsageError(f"{self.name}: no process {pid} to kill")
        # A10 [L]: a SIGKILL is not the user's swipe; the app stays eligible for relaunch.
        self._terminate(proc)

    def background(self) -> None:
        for proc in list(self._processes.values()):
            proc.foreground = False
            self._system.backgrounded(proc)
        self._continued.app_state_changed()
        self._schedule_dasd()

    def answer_prompt(self, bundle_id: str, choice: str) -> None:
        """A person answers the system's "continue running?" prompt: continue or stop."""
        self._continued.answer_prompt(bundle_id, choice)

    def force_quit(self, bundle_id: str) -> None:
        procs = self._processes_of(bundle_id)
        # A10: the swipe is logged by SpringBoard as its own event.
        self._log(
            "SpringBoard",
            _SPRINGBOARD_PID,
            _SPRINGBOARD,
            f'SBWorkspaceTerminateApplication: {bundle_id}: "killed from app switcher"',
        )
        for proc in procs:
            # facts B3, A10: running continued tasks are cancelled with no expiration handler
            # called; facts G8: queued ones too.
            self._continued.force_quit(proc)
            self._terminate(proc)
        self._system.force_quit(bundle_id)
        # B1 (Quinn, forums 14855): a force-quit app gets no more background refresh launches
        # until the user opens it; B2 (forums 793189): processing requests may still run.
        self._no_background_launch.add(bundle_id)
        self._schedule_dasd()

    # -- Device contract: lock, network -------------------------------------------------------

    def lock(self) -> None:
        self._locked = True
        self._save_state()
        self._continued.app_state_changed()
        self._schedule_dasd()

    def unlock(self) -> None:
        self._locked = False
        self._system.unlocked()
        self._save_state()
        # B2: "The system terminates any background processing tasks running when the user
        # starts using the device." Simulated tasks have no dasd activity (A3), so they stay.
        for proc in list(self._processes.values()):
            for run in list(proc.running.values()):
                if run.type == "processing" and not run.simulated:
                    self._expire(proc, run)
        self._continued.app_state_changed()
        self._schedule_dasd()

    def locked(self) -> bool:
        return self._locked

    # -- Device contract: power, settings, restart, memory (backends.virtual_system) -----------

    def reboot(self) -> None:
        self._system.reboot()
        self._save_state()
        self._schedule_dasd()

    def set_power(self, source: str) -> None:
        self._system.set_power(source)
        self._save_state()
        self._schedule_dasd()

    def set_low_power_mode(self, on: bool) -> None:
        self._system.set_low_power_mode(on)
        self._save_state()
        self._schedule_dasd()

    def set_background_refresh(self, on: bool) -> None:
        self._system.set_background_refresh(on)
        self._save_state()
        self._schedule_dasd()

    def set_memory_pressure(self, on: bool) -> None:
        self._system.set_memory_pressure(on)
        self._save_state()
        self._schedule_dasd()

    def set_network(self, profile: str) -> None:
        if profile not in NETWORK_PROFILES:
            raise UsageError(
                f"unknown network profile {profile!r}; known: {', '.join(NETWORK_PROFILES)}"
            )
        self._network = profile
        self._save_state()
        self._schedule_dasd()

    def clear_network(self) -> None:
        self._network = None
        self._save_state()
        self._schedule_dasd()

    # -- Device contract: log, debugger, screen -----------------------------------------------

    def log_stream(self) -> QueueLogStream:
        stream = QueueLogStream()
        self._streams.append(stream)
        return stream

    def debugger(self, pid: int) -> _VirtualDebugSession:
        if pid not in self._processes:
            raise DebugUsageError(
                f"{self.name}: cannot attach to pid {pid}: no such process "
                "(the app is not running; launch it first)"
            )
        return _VirtualDebugSession(self, pid)

    def screenshot(self) -> bytes:
        raise Unsupported(
            self.name,
            "screenshot",
            "the virtual iPhone has no screen; run the test on a real device for screenshots",
        )

    def close(self) -> None:
        for stream in self._streams:
            stream.close()
        self._streams.clear()

    # -- The app: launch, registration, submission --------------------------------------------

    def _start_process(self, bundle_id: str, foreground: bool) -> _Process:
        info = self._apps[bundle_id]
        proc = _Process(bundle_id, info.executable, next(self._pids), foreground)
        self._processes[proc.pid] = proc
        self._system.started(proc)
        proc.probe = ProbeRunner(
            _ProbeSystem(self, proc),
            _ProbeSystem(self, proc),
            _ProbeClock(self, proc),
            lambda kind, task, attrs: self._probe(proc, kind, task, **attrs),
        )
        return proc

    def _launch_probe(self, proc: _Process, plan: Plan | PlanError) -> None:
        """application(_:didFinishLaunchingWithOptions:) of the probe app."""
        assert proc.probe is not None
        reason = "user" if proc.foreground else "background"
        try:
            if isinstance(plan, PlanError):
                proc.probe.reject(reason, plan.paths[0] if plan.paths else "plan", plan.why)
            else:
                proc.plan = plan
                proc.probe.launch(plan, reason)
        except _AppCrashed:
            return
        proc.launching = False

    def _relaunch_plan(self, bundle_id: str) -> Plan:
        """The plan the app follows when launched without one: register again, submit nothing."""
        return self._last_plan.get(bundle_id, Plan()).relaunch()

    def _register(self, proc: _Process, task: str) -> bool:
        self._framework(proc, f"registerForTaskWithIdentifier: {task}", level="DEBUG")
        info = self._apps[proc.bundle_id]
        if task in proc.registered:
            # B3 [H]: "The system kills the app on the second registration of the same task
            # identifier" (BGTaskScheduler.h; the assertion text is BGTaskScheduler.m's).
            self._crash(
                proc, f"Launch handler for task with identifier {task} has already been registered"
            )
        if not info.permits(task):
            # B3/B7: register returns NO for an identifier not in the Info.plist.
            self._framework(
                proc,
                f"Registration rejected; {task} is not advertised in the application's Info.plist",
                level="ERROR",
            )
            return False
        if not proc.launching and task in info.permitted_identifiers:
            # B7 [H]: launch handlers must be registered before launch finishes; B3 [H]:
            # continued tasks (identifiers under a `.*` entry) are exempt.
            self._crash(
                proc, "All launch handlers must be registered before application finishes launching"
            )
        proc.registered.add(task)
        return True

    def _cancel_all(self, proc: _Process) -> None:
        self._framework(proc, "cancelAllTaskRequests")
        for pending in [p for p in self._pending if p.bundle_id == proc.bundle_id]:
            self._drop_pending(pending)

    def _cancel(self, proc: _Process, task: str) -> None:
        self._framework(proc, f"cancelTaskRequestWithIdentifier: {task}")
        for pending in [p for p in self._pending if p.bundle_id == proc.bundle_id]:
            if pending.request.id == task:
                self._drop_pending(pending)

    def _submit(self, proc: _Process, request: Request) -> int | None:
        info = self._apps[proc.bundle_id]
        description = _request_description(request, info.bundle_id, self._clock.now())
        self._framework(proc, f"submitTaskRequest: {description}")
        code = self._submit_error(info, request, proc) or self._system.submit_error(request.type)
        if code:
            user_info = (
                f"{{Unrecognized Identifier={request.id}}}" if code == NOT_PERMITTED else "{}"
            )
            if code == NOT_PERMITTED and not info.permits(request.id):
                self._framework(
                    proc,
                    f"{request.id} is not advertised in the application's Info.plist",
                    level="ERROR",
                )
            self._framework(
                proc,
                f"Error submitting task request: {description}, error: "
                f'Error Domain=BGTaskSchedulerErrorDomain Code={code} "(null)" '
                f"UserInfo={user_info}",
            )
            return code
        if request.id not in proc.registered:
            # B7: submitting a permitted identifier without a handler raises
            # NSInternalInconsistencyException (expo/expo#39769).
            self._crash(proc, f"No launch handler registered for task with identifier {request.id}")
        if request.type == "continued":
            self._continued.submit(proc, request, from_tap=self._tapping == proc.pid)
            return None
        for old in [p for p in self._pending if p.request.id == request.id]:
            # B1: "Submitting a task request for an unexecuted task that's already in the queue
            # replaces the previous task request."
            self._drop_pending(old)
        earliest = self._clock.now() + (request.earliest_begin_s or 0.0)
        activity = f"{next(self._activities) & 0xFFFFFF:06X}"
        pending = _Pending(request, proc.bundle_id, activity, earliest)
        self._pending.append(pending)
        # B9 and corpus: dasd logs `SUBMITTED bg…-ID:HEX at priority N`.
        self._dasd(f"SUBMITTED {pending.activity_name} at priority 10")
        self._schedule_dasd()
        return None

    def _submit_error(self, info: AppInfo, request: Request, proc: _Process) -> int | None:
        """The BGTaskSchedulerErrorDomain code this submission fails with, if any (B6)."""
        mode = REQUIRED_MODE.get(request.type)
        # facts B3/B7 [H]: a wildcard entry permits continued tasks only.
        permitted = info.permits(request.id, wildcard=request.type == "continued")
        if not permitted or (mode and mode not in info.background_modes):
            return NOT_PERMITTED
        if request.type == "continued":
            return self._continued.submit_error(proc, request)
        same_type = {
            p.request.id
            for p in self._pending
            if p.bundle_id == info.bundle_id and p.request.type == request.type
        }
        if request.id not in same_type and len(same_type) >= MAX_PENDING[request.type]:
            return TOO_MANY_PENDING
        return None

    def _start_continued_run(self, proc: _Process, request: Request, from_tap: bool) -> None:
        """virtual_continued starts a continued request (facts A6: no simulate path needed)."""
        self._run_task(proc, request.id, "continued", "", request.title, (request, from_tap))

    def _drop_pending(self, pending: _Pending) -> None:
        self._pending.remove(pending)
        self._dasd(f"CANCELED: {pending.activity_name} at priority 10")

    # -- dasd: organic launches ---------------------------------------------------------------

    def _schedule_dasd(self) -> None:
        """Re-evaluate every pending request and set one timer for the next organic launch."""
        if self._dasd_timer is not None:
            self._dasd_timer.cancel()
            self._dasd_timer = None
        now = self._clock.now()
        due: list[float] = []
        for pending in self._pending:
            if not self._eligible(pending):
                pending.ready_at = None
                continue
            if pending.ready_at is None:
                pending.ready_at = now + ORGANIC_DELAY_S[pending.request.type]
            due.append(max(pending.earliest, pending.ready_at))
        if due:
            self._dasd_timer = self._clock.call_at(min(due), self._run_due)

    def _eligible(self, pending: _Pending) -> bool:
        request = pending.request
        if not self._system.may_launch(request.type, pending.bundle_id):  # G5, B2 (usage)
            return False
        if request.type == "refresh":
            # B1: no refresh launches for a force-quit app; A9 (Quinn) and common sense: the
            # system launches refresh work for an app that is not in use.
            return pending.bundle_id not in self._no_background_launch and not any(
                p.foreground for p in self._processes_of(pending.bundle_id)
            )
        # B2: processing tasks "run only when the device is idle" (modelled: locked), only
        # with network when requiresNetworkConnectivity, only on power when requiresExternalPower.
        return (
            self._locked
            and not (request.requires_network and self._network == "offline")
            and not (request.requires_power and not self._system.on_power)
        )

    def _run_due(self) -> None:
        self._dasd_timer = None
        now = self._clock.now()
        for pending in list(self._pending):
            ready = pending.ready_at is not None and max(pending.earliest, pending.ready_at) <= now
            if ready and self._eligible(pending):
                self._launch_organically(pending)
        self._schedule_dasd()

    def _launch_organically(self, pending: _Pending) -> None:
        self._pending.remove(pending)
        procs = self._processes_of(pending.bundle_id)
        if procs:
            proc = procs[0]
        else:
            proc = self._start_process(pending.bundle_id, foreground=False)
            self._launch_probe(proc, self._relaunch_plan(pending.bundle_id))
            if proc.pid not in self._processes:
                return
        self._log(
            proc.executable,
            proc.pid,
            _DAS,
            f"Handling launch from daemon for activities: {{(\n    {pending.activity_name}\n)}}",
        )
        request = pending.request
        self._run_task(
            proc, request.id, request.type, pending.activity, requires_power=request.requires_power
        )

    # -- Running tasks ------------------------------------------------------------------------

    def _run_task(
        self,
        proc: _Process,
        task: str,
        type_: str,
        activity: str | None,
        title: str = "",
        continued: tuple[Request, bool] | None = None,
        requires_power: bool = False,
    ) -> _Running | None:
        if task not in proc.registered:
            with contextlib.suppress(_AppCrashed):
                self._crash(proc, f"No launch handler registered for task with identifier {task}")
            return None
        handle = _Task(self, proc, task, type_)
        run = _Running(task, type_, activity is None, activity, handle, title, requires_power)
        handle.run = run
        proc.running[task] = run
        self._framework(proc, f"Running task: {run.description}")
        start = "Starting simulated task" if run.simulated else "Starting task"
        self._framework(proc, f"{start}: {run.description}")
        if continued is not None:
            self._continued.started(proc, run, *continued)
        self._system.task_started(proc, run)
        if type_ == "refresh" and not run.simulated:
            # B1: about 30 s of runtime, then expiration. A simulated task has no dasd activity
            # and so no dasd budget (A2/A3).
            run.timers.append(
                self._clock.call_later(REFRESH_BUDGET_S, lambda: self._expire(proc, run))
            )
        assert proc.probe is not None
        with contextlib.suppress(_AppCrashed):
            proc.probe.run(handle)
        return run

    def _complete(self, proc: _Process, run: _Running, success: bool) -> None:
        if proc.running.get(run.task) is not run:
            return
        run.cancel_timers()
        del proc.running[run.task]
        self._system.settle(proc)
        if run.simulated:
            self._framework(proc, f"Marking simulated task complete: {run.description}")
        else:
            self._framework(
                proc, f"Marking task {run.description} complete with success: {int(success)}"
            )
            self._dasd(f"NO LONGER RUNNING {run.activity_name}")
        if run.type == "continued":
            self._continued.ended(run, success)

    def _expire(self, proc: _Process, run: _Running) -> None:
        """The system expires a task: dasd budget over, or the user picked up the phone."""
        if proc.running.get(run.task) is not run:
            return
        self._framework(
            proc, f"Calling expiration handlers for tasks: {{(\n    {run.description}\n)}}"
        )
        self._framework(proc, f"Expiring task: {run.description}")
        handler, run.handle.expiration_handler = run.handle.expiration_handler, None
        if handler is not None:
            with contextlib.suppress(_AppCrashed):
                handler()
            return
        # B3 (BGTask.mm): no expiration handler, so the system completes the task unsuccessfully.
        run.cancel_timers()
        del proc.running[run.task]
        self._framework(
            proc,
            f"Client didn't provide an expiration handler for task "
            f"{run.description}, completing with NO success for them",
            level="ERROR",
        )
        self._dasd(f"NO LONGER RUNNING {run.activity_name}")
        if run.type == "continued":
            self._continued.ended(run, False)
        self._system.settle(proc)

    # -- Simulate (the debugger's two commands) -----------------------------------------------

    def _simulate_launch(self, proc: _Process, task: str) -> None:
        """A2: log, ask dasd for pending requests, then run the task or say why not."""
        self._framework(proc, f"Simulating launch for task with identifier {task}")
        self._framework(proc, "Getting pending task requests")
        self._clock.call_later(0.005, lambda: self._simulate_launch_reply(proc, task))

    def _simulate_launch_reply(self, proc: _Process, task: str) -> None:
        if proc.pid not in self._processes:
            return
        mine = [p for p in self._pending if p.bundle_id == proc.bundle_id]
        names = "".join(f"\n    {p.activity_name}" for p in mine)
        self._framework(proc, f"Found pending activities: {{({names}\n)}}")
        pending = next((p for p in mine if p.request.id == task), None)
        if pending is None:
            self._framework(
                proc, f"No task request with identifier {task} has been scheduled", level="ERROR"
            )
        elif task in proc.running:
            self._framework(proc, f"Task with identifier {task} is already running")
        elif task not in proc.registered:
            with contextlib.suppress(_AppCrashed):
                self._crash(proc, f"No launch handler registered for task with identifier {task}")
        else:
            # A2: a successful simulate consumes the pending request, then runs the task.
            self._framework(proc, f"cancelTaskRequestWithIdentifier: {task}")
            self._drop_pending(pending)
            self._run_task(
                proc,
                task,
                pending.request.type,
                activity=None,
                requires_power=pending.request.requires_power,
            )

    def _simulate_expiration(self, proc: _Process, task: str) -> None:
        """A3: only a running, simulated task with an expiration handler is expired."""
        self._framework(proc, f"Simulating expiration for task with identifier {task}")
        run = proc.running.get(task)
        if run is None or not run.simulated:
            self._framework(
                proc, f"Task with identifier {task} is not currently being simulated", level="ERROR"
            )
        elif run.handle.expiration_handler is None:
            self._framework(
                proc, f"No expiration handler for task: {run.description}", level="ERROR"
            )
        else:
            self._framework(proc, f"Expiring simulated task: {run.description}")
            handler, run.handle.expiration_handler = run.handle.expiration_handler, None
            with contextlib.suppress(_AppCrashed):
                handler()

    # -- Process end --------------------------------------------------------------------------

    def _crash(self, proc: _Process, reason: str) -> None:
        self._log(
            proc.executable,
            proc.pid,
            ("", "", "CoreFoundation"),
            "*** Terminating app due to uncaught exception 'NSInternalInconsistencyException', "
            f"reason: '{reason}'",
            level="FAULT",
        )
        self._terminate(proc)
        raise _AppCrashed(reason)

    def _terminate(self, proc: _Process) -> None:
        for run in proc.running.values():
            run.cancel_timers()
        proc.running.clear()
        for timer in proc.background_tasks.values():
            timer.cancel()
        proc.background_tasks.clear()
        del self._processes[proc.pid]
        self._continued.process_gone()
        self._system.ended(proc)
        self._log(
            "runningboardd",
            _RUNNINGBOARD_PID,
            _RUNNINGBOARD,
            # iOS 17+ names app processes `[app<BUNDLE(UUID)>:PID]` (older: `application<…>`).
            "Removing assertions for terminated process: "
            f"[app<{proc.bundle_id}({_persona(proc.bundle_id)})>:{proc.pid}]",
        )

    def _processes_of(self, bundle_id: str) -> list[_Process]:
        return [p for p in self._processes.values() if p.bundle_id == bundle_id]

    # -- Writing the log ----------------------------------------------------------------------

    def _log(
        self,
        process: str,
        pid: int,
        label: tuple[str, str, str],
        message: str,
        level: str = "NOTICE",
    ) -> None:
        subsystem, category, image = label
        entry = LogEntry(
            self._clock.now(), process, pid, message, subsystem, category, level, image
        )
        self._streams = [s for s in self._streams if not s.closed]
        for stream in self._streams:
            stream.put(entry)

    def _framework(self, proc: _Process, message: str, level: str = "NOTICE") -> None:
        self._log(proc.executable, proc.pid, _FRAMEWORK, message, level)

    def _dasd(self, message: str) -> None:
        self._log("dasd", _DASD_PID, _DAS, message)

    def _model_note(self, message: str) -> None:
        """A line of the model itself (no iOS process writes it): where it is uncertain."""
        self._log("bgharness-virtual", 1, _MODEL, message, level="INFO")

    def _probe(self, proc: _Process, kind: str, task: str | None, **attrs: object) -> None:
        """What the probe app writes: `bgprobe {json}` on dev.bgharness.probe/lifecycle."""
        body = {"event": kind, **({"task": task} if task else {}), **attrs}
        self._log(proc.executable, proc.pid, _PROBE, "bgprobe " + json.dumps(body, sort_keys=True))

    # -- State that outlives the process (network, lock), as on a phone -----------------------

    def _load_state(self) -> None:
        """The network and lock the last run left. A file that is not what `_save_state` wrote
        (empty, cut short, garbage, a folder) sets the phone back to its safe state, online and
        unlocked, with one warning line: a broken file must not fail every later run."""
        file = self._state_file
        for stale in file.parent.glob(f".{file.name}.*.tmp") if file.parent.is_dir() else []:
            with contextlib.suppress(OSError, ValueError):  # a killed run's unfinished write
                if not pid_alive(int(stale.name.rsplit(".", 2)[-2])):
                    stale.unlink()
        try:
            state = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError, RecursionError) as exc:
            return self._reset_state(f"{type(exc).__name__}: {_one_line(exc)}")
        network = state.get("network") if isinstance(state, dict) else 0
        locked = state.get("locked", False) if isinstance(state, dict) else 0
        if network not in (None, *NETWORK_PROFILES) or not isinstance(locked, bool):
            return self._reset_state(f"unexpected content {_one_line(state)}")
        try:
            settings = Settings.from_json(state.get("system"))
        except (TypeError, ValueError) as exc:
            return self._reset_state(_one_line(exc))
        self._network, self._locked, self._system.settings = network, locked, settings

    def _reset_state(self, why: str) -> None:
        self._network, self._locked, self._system.settings = None, False, Settings()
        self.warnings.append(
            f"{self.name}: its state file {self._state_file} was unreadable ({why}); the "
            "virtual iPhone is back online and unlocked, its safe state"
        )
        with contextlib.suppress(InfraError):
            if self._state_file.is_dir():
                shutil.rmtree(self._state_file)
            self._save_state()

    def _save_state(self) -> None:
        """Write the whole file beside, fsync, rename over: a crash leaves the old or the new."""
        file = self._state_file
        tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
        state = {"network": self._network, "locked": self._locked, "system": self._system.state()}
        body = json.dumps(state).encode()
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, body)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, file)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise InfraError(
                f"{self.name}: cannot save the virtual iPhone's state to {file} "
                f"({exc.strerror or exc}); make {file.parent} writable and free space there"
            ) from None


class _SettlingClock:
    """The virtual clock, plus: after each step, wait until the log readers have caught up."""

    virtual = True

    def __init__(self, clock: VirtualClock, phone: VirtualIPhone):
        self._clock, self._phone = clock, phone

    def now(self) -> float:
        return self._clock.now()

    def call_at(self, at: float, action):
        return self._clock.call_at(at, action)

    def call_later(self, delay: float, action):
        return self._clock.call_later(delay, action)

    def wait(self, deadline: float, woken) -> None:
        self._clock.wait(deadline, woken)
        for stream in self._phone._streams:
            stream.join()


class _VirtualDebugSession:
    """Accepts exactly the two commands of Apple's recipe (harness.core.debugger), as lldb would."""

    def __init__(self, phone: VirtualIPhone, pid: int):
        self._phone, self._pid, self._attached = phone, pid, True
        phone._system.attached(pid, +1)  # A9: keeps the app from suspending

    def __enter__(self) -> _VirtualDebugSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.detach()

    def evaluate(self, command: str) -> str:
        if not self._attached:
            raise DebugUsageError("evaluate() after detach(): attach again")
        proc = self._phone._processes.get(self._pid)
        if proc is None:
            raise DebugUsageError(f"process {self._pid} exited while attached")
        parsed = parse_simulate_command(command)
        if parsed is None:
            raise DebugUsageError(
                "the virtual iPhone's debugger evaluates only the two simulate commands "
                f"of Apple's recipe (harness.core.debugger), not {command!r}",
                transcript=f"(lldb) {command}\nerror: unsupported by the virtual iPhone",
            )
        action, task = parsed
        if action == "launch":
            self._phone._simulate_launch(proc, task)
        else:
            self._phone._simulate_expiration(proc, task)
        return ""  # A4: lldb prints nothing when the call works

    def detach(self) -> None:
        if self._attached:
            self._phone._system.attached(self._pid, -1)
        self._attached = False


def _bounded(delay: float) -> float:
    return min(max(delay, 0.0), MAX_DELAY_S)


def _persona(bundle_id: str) -> str:
    """A stable UUID for the app's RunningBoard identity, as iOS shows it in process names."""
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, bundle_id)).upper()


def _activity_name(type_: str, task: str, activity: str) -> str:
    """dasd's name for a request: `bgRefresh-ID:6796B3`; continued ones carry no suffix (A6)."""
    if type_ == "continued":
        return f"{_ACTIVITY_PREFIX[type_]}-{task}"
    return f"{_ACTIVITY_PREFIX[type_]}-{task}:{activity}"


def _request_description(request: Request, bundle_id: str, now: float) -> str:
    """The request as BackgroundTasks describes it in `submitTaskRequest:` (B2, B3, B9)."""
    if request.type == "continued":
        resources = "gpu" if request.gpu else "default"
        return (
            f"<BGContinuedProcessingTaskRequest: {request.id}, (title: {request.title}, "
            f"subtitle: {request.subtitle}, resources: {resources}, "
            f"submissionStrategy: {request.strategy}, applicationBundleIdentifier: {bundle_id})>"
        )
    earliest = "(null)"
    if request.earliest_begin_s is not None:
        at = datetime.fromtimestamp(now + request.earliest_begin_s, UTC)
        earliest = at.strftime("%Y-%m-%d %H:%M:%S +0000")
    if request.type == "refresh":
        return f"<BGAppRefreshTaskRequest: {request.id}, earliestBeginDate: {earliest}>"
    return (
        f"<BGProcessingTaskRequest: {request.id}, earliestBeginDate: {earliest}, "
        f"requiresExternalPower={int(request.requires_power)}, "
        f"requiresNetworkConnectivity={int(request.requires_network)}>"
    )


def _one_line(value: object) -> str:
    """Anything as one short line, for a warning that must stay one line."""
    text = " ".join(str(value).split())
    return text if len(text) <= 80 else text[:79] + "…"
