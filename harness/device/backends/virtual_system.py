"""The virtual iPhone's system rules beyond scheduling: process life, time, memory, CPU, data,
power.

What happens to an app between and around its tasks: suspension after backgrounding (and the
debugger keeping it awake), beginBackgroundTask's budget and the watchdog, jetsam, the CPU
monitor, data protection of keychain items and files, background URLSession transfers, and the
settings a person changes (power source, Low Power Mode, Background App Refresh, a restart). The
phone (harness.device.backends.virtual) calls in through a few hooks; this module writes the log
lines iOS writes for each. Every rule cites its fact (docs/facts.md); where the fact is [M] or
[L], the comment says "uncertain" and the suites record the outcome as an observation instead.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from harness.core.errors import UsageError

if TYPE_CHECKING:
    from harness.device.backends.virtual import VirtualIPhone, _Process, _Running

# facts G7 [H]: iOS suspends a backgrounded app "shortly after"; no number is published (the
# ~5 s of G7 is the lifecycle callback's budget, not a measured delay): uncertain.
SUSPEND_AFTER_S = 5.0
# facts B4 [M], G2 [H/M]: about 30 s of beginBackgroundTask time on modern iOS, counted from
# entering the background (in the foreground backgroundTimeRemaining "remains suitably large").
BACKGROUND_TIME_S = 30.0
# facts G2 [H]: a background task not ended after its expiration handler gets the app killed by
# the watchdog; how soon after is not published: uncertain.
WATCHDOG_GRACE_S = 1.0
# facts G1 [M]: RunningBoard logs `Memory Limits: active 2098 inactive 2098` (MB) for an app;
# the limit of a given model is not published: uncertain.
MEMORY_LIMIT_MB = 2098
# facts G1 [H]: WWDC20 10078 advises "< 50mb in BG" to survive jetsam. Under memory pressure the
# model jetsams suspended apps (G1 [H/M]) and running background apps above this: uncertain.
PRESSURE_FOOTPRINT_MB = 50
# facts G6 [H]: processing tasks run for "minutes", never a number (DTS: no specific limit).
# The model expires a processing task after this long on battery, never on a charger: uncertain.
PROCESSING_RUNTIME_S = 30 * 60.0
# facts G6 [M], B2 [M]: the CPU monitor kills a non-frontmost app on battery that uses more than
# 80 % CPU over 60 s (a `cpu_resource_fatal` report: "48 seconds cpu time over 50 seconds ...
# exceeding limit of 80% cpu over 60 seconds"): uncertain. The model kills once a processing task's
# app has used CPU_LIMIT_S of CPU at a sustained rate above CPU_LIMIT_PERCENT; a rate at or
# under it starts the count again (the kernel's ledger is a sliding window: uncertain).
CPU_LIMIT_PERCENT, CPU_WINDOW_S = 80, 60.0
CPU_LIMIT_S = CPU_LIMIT_PERCENT / 100 * CPU_WINDOW_S
# facts B2 [H]: processing requests run "as long as the user has used your app within the past
# week"; G9 [H] app usage gates refresh too. The model stops both after a week unused: uncertain.
USAGE_WINDOW_S = 7 * 24 * 3600.0
# facts B5, G4 [H]: a background transfer is nsurlsessiond's; the model (uncertain) finishes it
# this long after it starts, and while offline tries again every UPLOAD_RETRY_S.
UPLOAD_S, UPLOAD_RETRY_S = 1.0, 5.0
# facts G4 [H] (Quinn): nsurlsessiond delays a task an app creates in the background by a
# per-app delay that doubles at each resume or relaunch for a transfer and resets when the user
# brings the app to the front; [M] measured: 60 s first, then doubling.
FIRST_RESUME_DELAY_S = 60.0
# facts G4 [H]: NSURLErrorCancelled, with reason NSURLErrorCancelledReasonUserForceQuitApplication.
NSURL_ERROR_CANCELLED = -999
# errSecInteractionNotAllowed (facts B8, G3).
ERR_SEC_INTERACTION_NOT_ALLOWED = -25308
# facts B6 [H]: BGTaskSchedulerErrorCodeUnavailable.
UNAVAILABLE = 1

POWER_SOURCES = ("charger", "battery")

# facts B8 [H], G3 [H]: readable only while unlocked (the passcode class is stricter still).
WHEN_UNLOCKED = frozenset(
    {"when_unlocked", "when_unlocked_this_device_only", "when_passcode_set_this_device_only"}
)
# facts G3 [H]: "After the first unlock, the data remains accessible until the next restart."
AFTER_FIRST_UNLOCK = frozenset({"after_first_unlock", "after_first_unlock_this_device_only"})

_RUNNINGBOARD = ("com.apple.runningboard", "process", "RunningBoard")
_KERNEL = ("com.apple.xnu", "memorystatus", "kernel")
_KERNEL_CPU = ("", "", "kernel")  # seen only as bare text: its subsystem is not known
_UIKIT = ("com.apple.UIKit", "BackgroundTask", "UIKitCore")
_NSURLSESSIOND = ("com.apple.nsurlsessiond", "background", "nsurlsessiond")
_RUNNINGBOARD_PID, _NSURLSESSIOND_PID = 31, 118


@dataclass
class Settings:
    """What a person set on the phone; outlives a connection, like network and lock."""

    power: str = "charger"  # lab phones sit on chargers
    low_power: bool = False
    background_refresh: bool = True
    memory_pressure: bool = False
    first_unlocked: bool = True  # False from a restart until the first unlock

    @classmethod
    def from_json(cls, data: Any) -> Settings:
        """What `state()` wrote; ValueError for anything else (a state file cut short or edited)."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise ValueError(f"system settings should be an object, not {type(data).__name__}")
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        settings = cls(**known)
        flags = (settings.low_power, settings.background_refresh, settings.memory_pressure)
        if settings.power not in ("charger", "battery") or not all(
            isinstance(f, bool) for f in (*flags, settings.first_unlocked)
        ):
            raise ValueError(f"unexpected system settings {data!r:.80}")
        return settings


@dataclass(eq=False)
class _BackgroundTask:
    """One open UIApplication background task."""

    name: str
    number: int
    created: float
    on_expire: Callable[[], None]


@dataclass(eq=False)
class _Burn:
    """One busy loop of the app (the probe's `cpu` action)."""

    percent: int
    timer: Any = None


@dataclass(eq=False)
class _Life:
    """The system's view of one process: suspension, assertions, footprint."""

    suspended: bool = False
    deferred: list[Callable[[], None]] = field(default_factory=list)
    footprint_mb: int = 0
    debuggers: int = 0
    background_since: float | None = None
    tasks: dict[str, _BackgroundTask] = field(default_factory=dict)
    timers: dict[str, Any] = field(default_factory=dict)  # suspend, budget, watchdog, cpu
    burns: list[_Burn] = field(default_factory=list)
    cpu_used: float = 0.0  # CPU seconds the monitor has counted at its current stretch
    cpu_rate: int = 0  # percent of one core, while the monitor counts
    cpu_since: float | None = None  # when cpu_used was last brought up to date

    def cancel(self, name: str) -> None:
        timer = self.timers.pop(name, None)
        if timer is not None:
            timer.cancel()


@dataclass(eq=False)
class _Upload:
    """A background URLSession upload nsurlsessiond holds for an app."""

    bundle_id: str
    pid: int
    task: str | None
    done: Callable[[int], None]
    timer: Any = None


class VirtualSystem:
    """The rules of this module for one VirtualIPhone; `crashed` unwinds a killed app's stack."""

    def __init__(self, phone: VirtualIPhone, crashed: type[Exception]):
        self._phone, self._crashed = phone, crashed
        self.settings = Settings()
        self._lives: dict[int, _Life] = {}
        self._uploads: list[_Upload] = []
        self._cancelled_uploads: dict[str, list[str | None]] = {}  # bundle -> tasks, force quit
        self._last_used: dict[str, float] = {}
        self._resume_delay: dict[str, float] = {}  # bundle -> nsurlsessiond's delay (G4)
        self._task_numbers = iter(range(1, 1 << 30))

    @property
    def on_power(self) -> bool:
        return self.settings.power == "charger"

    # -- Settings (the Device verbs) ----------------------------------------------------------

    def set_power(self, source: str) -> None:
        if source not in POWER_SOURCES:
            raise UsageError(f"unknown power source {source!r}; known: {', '.join(POWER_SOURCES)}")
        self.settings.power = source
        for proc in list(self._phone._processes.values()):
            self.watch_cpu(proc)

    def set_low_power_mode(self, on: bool) -> None:
        self.settings.low_power = bool(on)

    def set_background_refresh(self, on: bool) -> None:
        self.settings.background_refresh = bool(on)

    def set_memory_pressure(self, on: bool) -> None:
        """facts G1 [H/M]: "When iOS needs memory for the active foreground app, it terminates
        suspended apps starting with those consuming the most memory"."""
        self.settings.memory_pressure = bool(on)
        if on:
            for proc in sorted(self._background(), key=lambda p: -self._life(p).footprint_mb):
                self._pressure(proc)

    def reboot(self) -> None:
        """A restart: every app ends, the phone comes back locked, before its first unlock.
        Pending BGTask requests and background transfers are kept (uncertain: facts G3, G4 do
        not say what a restart does to them)."""
        phone = self._phone
        phone._model_note("uncertain (facts G3): restart; pending requests and transfers kept")
        for proc in list(phone._processes.values()):
            phone._terminate(proc)
        self.settings.first_unlocked = False
        phone._locked = True

    def unlocked(self) -> None:
        self.settings.first_unlocked = True

    # -- Process life: start, background, suspend, resume, end --------------------------------

    def started(self, proc: _Process) -> None:
        self._lives[proc.pid] = _Life(background_since=None if proc.foreground else self._now())
        # facts G1 [M]: RunningBoard logs each app's jetsam limits at launch.
        self._runningboard(
            f"{_app(proc)} Memory Limits: active {MEMORY_LIMIT_MB} inactive {MEMORY_LIMIT_MB}"
        )

    def ended(self, proc: _Process) -> None:
        life = self._lives.pop(proc.pid, None)
        if life is not None:
            for name in list(life.timers):
                life.cancel(name)
            for burn in life.burns:
                burn.timer.cancel()

    def user_launched(self, proc: _Process) -> None:
        """A person opened the app: it counts as use (B2), and a transfer force quit cancelled
        is reported to it now (facts G4 [M]: the app sees the -999 on its next launch)."""
        self._last_used[proc.bundle_id] = self._phone._clock.now()
        if self._resume_delay.pop(proc.bundle_id, 0.0):
            self._log_nsurlsessiond(f"Resetting request delay for {proc.bundle_id}")
        for task in self._cancelled_uploads.pop(proc.bundle_id, []):
            self._phone._probe(proc, "upload.finished", task, error=NSURL_ERROR_CANCELLED)

    def backgrounded(self, proc: _Process) -> None:
        life = self._life(proc)
        if life.background_since is None:
            life.background_since = self._phone._clock.now()
        if life.tasks:
            self._arm_budget(proc)
        self.settle(proc)

    def defer(self, proc: _Process, fire: Callable[[], None]) -> bool:
        """A timer of a suspended app waits for its resume (facts G7 [H]: "this suspension
        prevents the process from running any code"); True when deferred."""
        life = self._lives.get(proc.pid)
        if life is None or not life.suspended:
            return False
        life.deferred.append(fire)
        return True

    def settle(self, proc: _Process) -> None:
        """Suspend a background app shortly after its last assertion ends (facts G7 [H]); a
        running BGTask, an open background task or an attached debugger (A9 [H]) keep it."""
        self.watch_cpu(proc)  # a task ended or the app went to the background
        life = self._lives.get(proc.pid)
        if life is None or proc.foreground or life.suspended:
            return
        if proc.running or life.tasks or life.debuggers:
            life.cancel("suspend")
            return
        if "suspend" not in life.timers:
            life.timers["suspend"] = self._phone._clock.call_later(
                SUSPEND_AFTER_S, lambda: self._suspend(proc)
            )

    def _suspend(self, proc: _Process) -> None:
        life = self._lives.get(proc.pid)
        if life is None:
            return
        life.timers.pop("suspend", None)
        if proc.foreground or proc.running or life.tasks or life.debuggers:
            return
        life.suspended = True
        # facts G7 [M/L]: the verbatim modern line is not published; this is RunningBoard's form.
        self._runningboard(f"{_app(proc)} Suspending task.")
        if self.settings.memory_pressure:
            self._pressure(proc)

    def resume(self, proc: _Process) -> None:
        """The system runs the app again in the background (a task, a transfer's events)."""
        life = self._lives.get(proc.pid)
        if life is None:
            return
        life.cancel("suspend")
        if not life.suspended:
            return
        life.suspended = False
        self._runningboard(f"{_app(proc)} Resuming task.")
        waiting, life.deferred = life.deferred, []
        for fire in waiting:
            fire()

    def attached(self, pid: int, delta: int) -> None:
        """A debugger attached (+1) or detached (-1): facts A9 [H], G7 [H]: "the debugger
        prevents your app from suspending"."""
        proc = self._phone._processes.get(pid)
        life = self._lives.get(pid)
        if proc is None or life is None:
            return
        life.debuggers = max(0, life.debuggers + delta)
        if delta > 0:
            self.resume(proc)
        self.settle(proc)

    # -- BGTasks: start, runtime -------------------------------------------------------------

    def task_started(self, proc: _Process, run: _Running) -> None:
        self.resume(proc)
        self._life(proc).cancel("suspend")
        self.watch_cpu(proc)
        if run.type == "processing" and not run.simulated and not self.on_power:
            run.timers.append(
                self._phone._clock.call_later(
                    PROCESSING_RUNTIME_S, lambda: self._runtime_over(proc, run)
                )
            )

    def _runtime_over(self, proc: _Process, run: _Running) -> None:
        self._phone._model_note(
            f"uncertain (facts G6): {run.task} ran {PROCESSING_RUNTIME_S:g} s on battery; "
            "the virtual iPhone expires it (iOS publishes no number)"
        )
        self._phone._expire(proc, run)

    # -- Scheduling conditions ---------------------------------------------------------------

    def submit_error(self, type_: str) -> int | None:
        """facts B1 [H], B6, G5 [H]: with Background App Refresh off, submit fails with code 1
        (unavailable). The model says the same for processing requests (uncertain: G5)."""
        if type_ in ("refresh", "processing") and not self.settings.background_refresh:
            return UNAVAILABLE
        return None

    def may_launch(self, type_: str, bundle_id: str) -> bool:
        """Whether the settings and the app's use let dasd launch a pending request now."""
        s = self.settings
        if type_ not in ("refresh", "processing"):
            return True
        if s.low_power:
            # facts G5 [H]: Low Power Mode "reduces or affects ... Background app refresh";
            # [M] refresh stops in practice. Processing under LPM: uncertain (G5 not found).
            return False
        if not s.background_refresh:
            return False  # uncertain (G5): whether requests pending before the switch still run
        used = self._last_used.get(bundle_id)
        now = self._phone._clock.now()
        # facts B2 [H], G9 [H]: use within the past week; the cut-off itself is uncertain.
        return used is None or now - used <= USAGE_WINDOW_S

    # -- Data protection -----------------------------------------------------------------------

    def keychain_status(self, accessibility: str) -> int:
        """facts B8 [H], G3 [H]: WhenUnlocked items fail while locked; AfterFirstUnlock items
        fail before the first unlock after a restart. G3 [M]: AfterFirstUnlock can still fail
        in some background launches; the model lets it succeed (uncertain)."""
        locked = self._phone._locked
        if accessibility in WHEN_UNLOCKED and locked:
            return ERR_SEC_INTERACTION_NOT_ALLOWED
        if accessibility in AFTER_FIRST_UNLOCK and not self.settings.first_unlocked:
            return ERR_SEC_INTERACTION_NOT_ALLOWED
        return 0

    def file_ok(self, op: str, protection: str) -> bool:
        """facts B8 [H], G3 [H]: `complete` files cannot be read or written while locked;
        `complete_until_first_user_authentication` only before the first unlock; `none` always.
        `complete_unless_open`: the probe opens the file anew, so a read fails while locked and
        a new file can be written, except before the first unlock (uncertain: B8's reading)."""
        if not self._phone._locked:
            return True
        bfu = not self.settings.first_unlocked
        if protection == "complete":
            return False
        if protection == "complete_unless_open":
            return op == "write" and not bfu
        if protection == "complete_until_first_user_authentication":
            return not bfu
        return True

    # -- beginBackgroundTask --------------------------------------------------------------------

    def begin_background_task(
        self, proc: _Process, name: str, on_expire: Callable[[], None]
    ) -> None:
        life = self._life(proc)
        life.tasks[name] = _BackgroundTask(
            name, next(self._task_numbers), self._phone._clock.now(), on_expire
        )
        life.cancel("suspend")
        if not proc.foreground:
            self._arm_budget(proc)

    def end_background_task(self, proc: _Process, name: str) -> None:
        life = self._lives.get(proc.pid)
        if life is None or life.tasks.pop(name, None) is None:
            return
        if not life.tasks:
            life.cancel("budget")
            life.cancel("watchdog")
        self.settle(proc)

    def _arm_budget(self, proc: _Process) -> None:
        life = self._life(proc)
        if "budget" in life.timers or life.background_since is None:
            return
        left = life.background_since + BACKGROUND_TIME_S - self._phone._clock.now()
        life.timers["budget"] = self._phone._clock.call_later(
            max(0.0, left), lambda: self._budget_over(proc)
        )

    def _budget_over(self, proc: _Process) -> None:
        """facts G2 [H]: UIKit's expiration sequence (decompiled UIKitCore), then the watchdog."""
        life = self._lives.get(proc.pid)
        if life is None:
            return
        life.timers.pop("budget", None)
        self._uikit(proc, "Received assertionExpirationImminent notification", level="ERROR")
        self._uikit(proc, "Firing background task expiration handlers")
        for task in list(life.tasks.values()):
            self._uikit(proc, f"Calling expiration handler for task: {_task_info(task)}")
            try:
                task.on_expire()
            except self._crashed:
                return
        if proc.pid not in self._phone._processes or not life.tasks:
            return
        now = self._phone._clock.now()
        for task in life.tasks.values():
            self._uikit(
                proc,
                "Background task still not ended after expiration handlers were called: "
                f"{_task_info(task)}, creationTime = {int(task.created)} "
                f"(elapsed = {int(now - task.created)}). This app will likely be terminated by "
                "the system. Call UIApplication.endBackgroundTask(_:) to avoid this.",
                level="ERROR",
            )
        life.timers["watchdog"] = self._phone._clock.call_later(
            WATCHDOG_GRACE_S, lambda: self._watchdog(proc)
        )

    def _watchdog(self, proc: _Process) -> None:
        life = self._lives.get(proc.pid)
        if life is None or not life.tasks:
            return
        if life.debuggers:
            # facts G2 [H], G7 [H]: the watchdog is "disabled ... in debugger".
            return
        # facts G2 [H]: killed by the watchdog; [L] the modern line is not published, so the
        # model writes RunningBoard's exit context with the watchdog's code.
        self._runningboard(
            f"{_app(proc)} Process exited: <RBSProcessExitContext| specific, status:"
            "<RBSProcessExitStatus| domain:runningboard(10) code:0x8badf00d>>."
        )
        self._phone._terminate(proc)

    # -- Memory ---------------------------------------------------------------------------------

    def allocate(self, proc: _Process, mb: int) -> bool:
        """facts G1 [H]: crossing the per-process limit is fatal, foreground or background."""
        life = self._life(proc)
        life.footprint_mb += mb
        if life.footprint_mb > MEMORY_LIMIT_MB:
            kind = "Active" if proc.foreground else "Inactive"
            self._kernel(
                f"memorystatus: {proc.executable} [{proc.pid}] exceeded mem limit: "
                f"{kind}Hard {MEMORY_LIMIT_MB} MB (fatal)"
            )
            self._jetsam(proc, "killing_specific_process", "per-process-limit")
        if self.settings.memory_pressure and not proc.foreground:
            self._pressure(proc)
        return True

    def _pressure(self, proc: _Process) -> None:
        life = self._lives.get(proc.pid)
        if life is None or proc.foreground:
            return
        if life.suspended or life.footprint_mb > PRESSURE_FOOTPRINT_MB:
            with contextlib.suppress(self._crashed):
                self._jetsam(proc, "killing_top_process", "vm-pageshortage")

    def _jetsam(self, proc: _Process, how: str, cause: str) -> None:
        """facts G1 [H/M]: a jetsam kill. Later launches: the app stays eligible (G9 [H] state 4,
        a system termination; for memory kills specifically uncertain, G1 not found)."""
        life = self._life(proc)
        self._kernel(
            f"memorystatus: {how} pid {proc.pid} [{proc.executable}] ({cause} 3) "
            f"{life.footprint_mb * 1024}KB - memorystatus_available_pages: 4534"
        )
        self._phone._terminate(proc)
        raise self._crashed(f"jetsam: {cause}")

    # -- CPU ------------------------------------------------------------------------------------

    def burn_cpu(
        self, proc: _Process, seconds: int, percent: int, done: Callable[[], None]
    ) -> None:
        """A busy loop on a background queue for `seconds` of device time; `done` when it ends
        (waiting for a resume if the app is suspended then: G7), never if the app dies first."""
        life = self._life(proc)
        burn = _Burn(percent)
        phone = self._phone

        def end() -> None:
            if proc.pid not in phone._processes or self.defer(proc, end):
                return
            if burn in life.burns:
                life.burns.remove(burn)
            self.watch_cpu(proc)
            with contextlib.suppress(self._crashed):
                done()

        life.burns.append(burn)
        burn.timer = phone._clock.call_later(float(seconds), end)
        self.watch_cpu(proc)

    def cpu_monitored(self, proc: _Process) -> bool:
        """Whether the CPU monitor watches the app now. facts G6 [M]: a non-frontmost app on
        battery; B2 [H], G6 [H]: `requiresExternalPower` turns it off for its task; G6 [L]: it
        may not apply on a charger (the model: off; uncertain). The model watches an app while
        it runs a processing task, simulated or not (whether the debugger changes it: uncertain)."""
        if proc.foreground or self.on_power:
            return False
        return any(r.type == "processing" and not r.requires_power for r in proc.running.values())

    def watch_cpu(self, proc: _Process) -> None:
        """Bring the monitor's count up to date and (re)arm the kill for the current rate."""
        life = self._lives.get(proc.pid)
        if life is None:
            return
        now = self._now()
        if life.cpu_since is not None:
            life.cpu_used += (now - life.cpu_since) * life.cpu_rate / 100
        life.cancel("cpu")
        rate = sum(b.percent for b in life.burns) if self.cpu_monitored(proc) else 0
        if rate <= CPU_LIMIT_PERCENT:
            life.cpu_used, life.cpu_rate, life.cpu_since = 0.0, 0, None
            return
        life.cpu_rate, life.cpu_since = rate, now
        left = max(0.0, (CPU_LIMIT_S - life.cpu_used) * 100 / rate)
        life.timers["cpu"] = self._phone._clock.call_later(left, lambda: self._cpu_kill(proc))

    def _cpu_kill(self, proc: _Process) -> None:
        """facts G6 [M]: the CPU monitor's kill (uncertain). The line is the kernel's syslog form
        seen on a phone (`Received (FATAL) CPU usage trigger`, iOS 14.5), with this limit's
        numbers; the crash report (`Event: cpu usage`, `Action taken: Process killed`) is not a
        log line."""
        life = self._lives.get(proc.pid)
        if life is None or proc.pid not in self._phone._processes:
            return
        life.timers.pop("cpu", None)
        now = self._now()
        used = life.cpu_used + (now - (life.cpu_since or now)) * life.cpu_rate / 100
        over = used * 100 / life.cpu_rate if life.cpu_rate else 0.0
        self._phone._model_note(
            f"uncertain (facts G6): {proc.executable} used {used:.0f} s of CPU over {over:.0f} s "
            "on battery, not frontmost; the virtual iPhone kills it"
        )
        container = str(uuid.uuid5(uuid.NAMESPACE_URL, proc.bundle_id)).upper()
        self._kernel_cpu(
            "Received (FATAL) CPU usage trigger: \n"
            f"  {proc.executable}[{proc.pid}] (/private/var/containers/Bundle/Application/"
            f"{container}/{proc.executable}.app/{proc.executable}) used {used:.2f}s of CPU over "
            f"{over:.2f} seconds (averaging {life.cpu_rate}%), violating a CPU usage limit of "
            f"{CPU_LIMIT_S:.2f}s over {CPU_WINDOW_S:.0f} seconds."
        )
        self._phone._terminate(proc)

    # -- Background URLSession ------------------------------------------------------------------

    def upload(self, proc: _Process, task: str | None, done: Callable[[int], None]) -> None:
        """facts G4 [H]: the transfer is nsurlsessiond's and continues "even when your app is
        suspended"; when it ends, the app is resumed, or relaunched in the background with
        handleEventsForBackgroundURLSession (B5 [H]) if it is no longer running."""
        upload = _Upload(proc.bundle_id, proc.pid, task, done)
        self._uploads.append(upload)
        delay = 0.0 if proc.foreground else self._resume_delay.get(proc.bundle_id, 0.0)
        upload.timer = self._phone._clock.call_later(
            delay + UPLOAD_S, lambda: self._attempt(upload)
        )

    def _attempt(self, upload: _Upload) -> None:
        if self._phone._network == "offline":
            upload.timer = self._phone._clock.call_later(
                UPLOAD_RETRY_S, lambda: self._attempt(upload)
            )
            return
        self._uploads.remove(upload)
        phone = self._phone
        proc = phone._processes.get(upload.pid)
        if proc is not None:
            if self._life(proc).suspended:
                self._lengthen_delay(upload.bundle_id)  # G4: a resume for the transfer
            self.resume(proc)
            try:
                upload.done(0)
            except self._crashed:
                return
            self.settle(proc)
            return
        running = phone._processes_of(upload.bundle_id)
        if not running or self._life(running[0]).suspended:
            self._lengthen_delay(upload.bundle_id)
        if running:
            proc = running[0]
            self.resume(proc)
        else:
            self._log_nsurlsessiond(f"Relaunching {upload.bundle_id} for background session events")
            proc = phone._start_process(upload.bundle_id, foreground=False)
            phone._launch_probe(proc, phone._relaunch_plan(upload.bundle_id))
            if proc.pid not in phone._processes:
                return
        phone._probe(proc, "upload.finished", upload.task, error=0)
        self.settle(proc)

    def _lengthen_delay(self, bundle_id: str) -> None:
        delay = max(FIRST_RESUME_DELAY_S, 2 * self._resume_delay.get(bundle_id, 0.0))
        self._resume_delay[bundle_id] = delay
        self._log_nsurlsessiond(f"Set request delay for {bundle_id} to {delay:.6f}")

    def force_quit(self, bundle_id: str) -> None:
        """facts G4 [H], B5 [H]: a user force quit cancels the app's background transfers
        (-999, reason UserForceQuitApplication); the app hears of it on its next launch."""
        for upload in [u for u in self._uploads if u.bundle_id == bundle_id]:
            upload.timer.cancel()
            self._uploads.remove(upload)
            self._cancelled_uploads.setdefault(bundle_id, []).append(upload.task)
            self._log_nsurlsessiond(
                f"Cancelling task for {bundle_id}: "
                "NSURLErrorCancelledReasonUserForceQuitApplication"
            )

    # -- Helpers ----------------------------------------------------------------------------------

    def _now(self) -> float:
        return self._phone._clock.now()

    def _life(self, proc: _Process) -> _Life:
        return self._lives.setdefault(proc.pid, _Life())

    def _background(self) -> list[_Process]:
        return [p for p in self._phone._processes.values() if not p.foreground]

    def _runningboard(self, message: str) -> None:
        self._phone._log("runningboardd", _RUNNINGBOARD_PID, _RUNNINGBOARD, message)

    def _kernel(self, message: str) -> None:
        self._phone._log("kernel", 0, _KERNEL, message)

    def _kernel_cpu(self, message: str) -> None:
        self._phone._log("kernel", 0, _KERNEL_CPU, message)

    def _uikit(self, proc: _Process, message: str, level: str = "NOTICE") -> None:
        self._phone._log(proc.executable, proc.pid, _UIKIT, message, level)

    def _log_nsurlsessiond(self, message: str) -> None:
        self._phone._log("nsurlsessiond", _NSURLSESSIOND_PID, _NSURLSESSIOND, message)

    def state(self) -> dict[str, Any]:
        return asdict(self.settings)


def _app(proc: _Process) -> str:
    """RunningBoard's name for an app process (iOS 17+): `[app<BUNDLE(UUID)>:PID]`."""
    persona = str(uuid.uuid5(uuid.NAMESPACE_DNS, proc.bundle_id)).upper()
    return f"[app<{proc.bundle_id}({persona})>:{proc.pid}]"


def _task_info(task: _BackgroundTask) -> str:
    address = 0x2802CD000 + task.number
    return f"<_UIBackgroundTaskInfo: 0x{address:x}>: taskID = {task.number}, taskName = {task.name}"
