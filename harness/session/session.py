"""A session on one device: what a test does to it, and what it waits to see in its log.

`Session` pumps the device log into a `Timeline` on a thread of its own, waits on the device's
clock (so a virtual iPhone jumps ahead), drives the debugger bridge, and applies network and
lock changes only after writing them to the journal. `App` is an installed app on the
session's device. The `bg` and `app` fixtures and the CLI are thin shells over these two.

Each action (launch, trigger, expire, offline, locked, expect, ...) runs inside
`observer.step(title, waits)`, so the pytest plugin can make it an Allure step and say when a
long wait starts, without this module knowing about Allure or a terminal. Each perturbation is
also kept as a `Span` with its device times, and each failed expectation as a `Miss`, for the
timeline picture of a failing test. `observe` records what the device did in an experiment
(harness.data.observations) and hands it to the observer's `observed`, which the plugin writes to
reports/observations.jsonl and attaches to the Allure result. Given `Records`, the session
appends every parsed event, observation, perturbation and mark to the test's record file as it
happens (harness.session.records).

`expect` fails as soon as the outcome is decided (Timeline.decided: the awaited task's run is
over and nothing is pending for it), not when `within` runs out: on a phone a wrong expectation
must not cost 90 minutes.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from typing import Any, NoReturn, Protocol

from harness.core.debugger import (
    check_task_id,
    simulate_expiration_command,
    simulate_launch_command,
)
from harness.core.errors import (
    AppError,
    DebuggerError,
    HarnessError,
    InfraError,
    Unsupported,
    UsageError,
)
from harness.core.events import Event
from harness.core.logparse import parse_entry
from harness.core.timeline import Decision, Expectation, ExpectationFailed, Mark, Miss, Timeline
from harness.data.appbundle import AppInfo
from harness.data.journal import KINDS, Journal, Kind, Perturbation
from harness.data.observations import Observation, Scalar, check_measure, check_value
from harness.data.plan import PLAN_ENV, build_plan
from harness.device.contract import Device, DeviceInfo
from harness.session.records import Records

# How long `expect` waits when the test does not say (device seconds).
DEFAULT_WITHIN_S = 30.0
# How long the device may take to log that it received a simulate command (facts A2: an XPC
# round-trip to dasd, milliseconds on a phone).
SIMULATE_ANSWER_S = 10.0
# How long `expect` still waits after the event that decided it (device seconds): the log
# relay may deliver one process's line (the app's) a little after another's (dasd's).
DECIDED_GRACE_S = 5.0


def undo(device: Device, p: Perturbation) -> None:
    """Undo a journalled perturbation with the Device verb its kind names (journal.KINDS)."""
    info = KINDS[p.kind]
    getattr(device, info.undo)(*info.undo_args)


Step = str | tuple[str, Mapping[str, Any]]


@dataclass(frozen=True)
class Span:
    """A perturbation as it happened: `kind` offline or locked, from `start` to `end` (device
    seconds since the epoch; `end` None while it is still applied)."""

    kind: str
    start: float
    end: float | None = None


class Observer(Protocol):
    """Watches a session's actions. Called by `Session` and `App` around each action.

    An observer may also have `observed(observation)`: `Session.observe` calls it with each
    observation, inside that observation's step (the plugin writes it to the run's
    observations.jsonl and attaches it to the test's Allure result).
    """

    def step(self, title: str, waits: float = 0.0) -> AbstractContextManager[object]:
        """A context around one action; `waits` is how many device seconds it may wait."""
        ...


class _Unobserved:
    """The observer of a session nobody watches (the CLI, the library's own tests)."""

    def step(self, title: str, waits: float = 0.0) -> AbstractContextManager[object]:
        return contextlib.nullcontext()


class Session:
    def __init__(
        self,
        device: Device,
        journal: Journal,
        observer: Observer | None = None,
        records: Records | None = None,
    ):
        self.device = device
        self.clock = device.clock
        self.timeline = Timeline()
        self.app: App | None = None
        self.observer: Observer = observer or _Unobserved()
        self.spans: list[Span] = []
        self.misses: list[Miss] = []  # failed expectations, for the timeline picture
        self.observations: list[Observation] = []
        # Who observes: the plugin names the scenario (the test function), the test and the run.
        self.scenario, self.test, self.run = "", "", ""
        self._info: DeviceInfo | None = None
        self._records = records  # before the pump starts: it writes every event it parses
        self._journal = journal
        self._woken = threading.Event()
        self._active: list[Perturbation] = []
        self._spans: dict[str, int] = {}  # perturbation id -> its index in self.spans
        self._pump_error: BaseException | None = None
        self._stream = device.log_stream()
        self._pump = threading.Thread(
            target=self._run_pump, name=f"bgharness-log-{device.name}", daemon=True
        )
        self._pump.start()
        self._mark = self.timeline.mark(self.clock.now())
        self.started = self._mark  # where the test began: its log excerpt and timeline start here

    # -- Marks and expectations ---------------------------------------------------------------

    def mark(self) -> Mark:
        """From now on, expectations look only at what the device logs after this point."""
        with self.observer.step("mark"):
            self._mark = self.timeline.mark(self.clock.now())
        if self._records is not None:
            self._records.mark(self._mark.time)
        return self._mark

    def expect(
        self,
        kind: str,
        task: str | None = None,
        *,
        within: float = DEFAULT_WITHIN_S,
        since: Mark | None = None,
        **attrs: Any,
    ) -> Event:
        """Wait up to `within` device seconds for the event; fail listing what was seen."""
        expectation = Expectation.of(kind, task, **attrs)
        with self.observer.step(f"expect {expectation} within {within:g} s", within):
            return self._expect(expectation, within, since or self._mark)

    def _expect(self, expectation: Expectation, within: float, since: Mark) -> Event:
        began = self.clock.now()
        found = self._wait(
            lambda: self.timeline.find(expectation, since),
            within,
            lambda: self.timeline.decided(expectation, since.time),
        )
        if found is None:
            self._fail(expectation, began, within, since)
        return found

    def _fail(
        self, awaited: Expectation, began: float, within: float, since: Mark, lead: str = ""
    ) -> NoReturn:
        """Fail an expectation: at once when it was decided, else because `within` ran out.
        `lead` opens the message (a sequence says how far it got)."""
        now = self.clock.now()
        lead = lead or f"expected {awaited} within {within:g} s"
        decision = self.timeline.decided(awaited, since.time)
        if decision is not None and now < began + within:
            why = (
                f"{decision.reason} and no request for it is pending, so {awaited.kind} can no "
                f"longer come; failed at +{now - since.time:.3f} without waiting out the "
                f"{within:g} s"
            )
            headline = f"{lead}; decided: {why}"
        else:
            why = f"not seen within {within:g} s"
            headline = f"{lead}; not seen"
        self.misses.append(Miss(str(awaited), awaited.task, since.time, now, why))
        raise ExpectationFailed(self.timeline.describe_miss(headline, awaited, since, now))

    def first_of(
        self,
        kinds: Sequence[str],
        task: str | None = None,
        *,
        within: float = DEFAULT_WITHIN_S,
        since: Mark | None = None,
    ) -> Event | None:
        """The first event of any of `kinds` (for `task`) since the mark, waiting up to `within`
        device seconds; None if none came. For experiments: record which one the device did."""
        expectations = [Expectation.of(kind, task) for kind in kinds]
        mark = since or self._mark
        title = f"first of {', '.join(kinds)}" + (f" task={task}" if task else "")

        def first() -> Event | None:
            return next(
                (e for e in self.timeline.events(mark) if any(x.matches(e) for x in expectations)),
                None,
            )

        with self.observer.step(f"{title} within {within:g} s", within):
            return self._wait(first, within)

    def observe(
        self,
        parameter: str | None = None,
        value: Scalar = None,
        *,
        outcome: str,
        **measures: float,
    ) -> Observation:
        """Record what the device did in an experiment: the knob turned (`parameter`=`value`),
        the `outcome` in a word, and measures (numbers: device seconds, counts). It passes; the
        table across devices and runs is `bgharness observations`."""
        check_value(value)
        for name, number in measures.items():
            check_measure(name, number)
        if not outcome:
            raise UsageError("bg.observe: say the outcome in a word, e.g. outcome='expired'")
        info = self._device_info()
        observation = Observation(
            scenario=self.scenario or "session",
            parameter=parameter,
            value=value,
            outcome=outcome,
            device=self.device.name,
            model=info.model if info else "",
            ios=info.ios_version if info else "",
            backend=info.backend if info else "",
            measures=dict(measures),
            test=self.test,
            run=self.run,
            time=datetime.now(UTC).isoformat(timespec="seconds"),
            device_time=self.clock.now(),
        )
        with self.observer.step(f"observe {observation.describe()}"):
            observed = getattr(self.observer, "observed", None)
            if observed is not None:
                observed(observation)
        self.observations.append(observation)
        if self._records is not None:
            self._records.observation(observation)
        return observation

    def _device_info(self) -> DeviceInfo | None:
        if self._info is None:
            with contextlib.suppress(HarnessError):
                self._info = self.device.info()
        return self._info

    def expect_sequence(
        self,
        steps: Sequence[Step],
        task: str | None = None,
        *,
        within: float = DEFAULT_WITHIN_S,
        since: Mark | None = None,
    ) -> list[Event]:
        """Wait for events in this order; each step is a kind or (kind, {attr: value})."""
        expectations = [_step(s, task) for s in steps]
        title = f"expect in order {', '.join(str(e) for e in expectations)} within {within:g} s"
        with self.observer.step(title, within):
            return self._expect_sequence(expectations, within, since or self._mark)

    def _expect_sequence(
        self, expectations: list[Expectation], within: float, since: Mark
    ) -> list[Event]:
        began = self.clock.now()

        def decided() -> Decision | None:
            met = len(self.timeline.find_sequence(expectations, since))  # the pump may add more
            return None if met >= len(expectations) else self.timeline.decided(expectations[met])

        done = self._wait(
            lambda: len(self.timeline.find_sequence(expectations, since)) == len(expectations),
            within,
            decided,
        )
        found = self.timeline.find_sequence(expectations, since)
        if not done:
            missing = expectations[len(found)]
            seen = ", ".join(str(e) for e in expectations[: len(found)]) or "none"
            self._fail(
                missing,
                began,
                within,
                since,
                f"expected the sequence {[str(e) for e in expectations]} within {within:g} s; "
                f"seen in order: {seen}; missing from: {missing}",
            )
        return found

    def expect_none(
        self,
        kind: str,
        task: str | None = None,
        *,
        during: float,
        since: Mark | None = None,
        **attrs: Any,
    ) -> None:
        """Let `during` device seconds pass; fail if the event shows up (since the mark)."""
        expectation = Expectation.of(kind, task, **attrs)
        with self.observer.step(f"expect no {expectation} during {during:g} s", during):
            self._expect_none(expectation, during, since or self._mark)

    def _expect_none(self, expectation: Expectation, during: float, since: Mark) -> None:
        found = self._wait(lambda: self.timeline.find(expectation, since), during)
        if found is not None:
            self.misses.append(
                Miss(f"no {expectation}", expectation.task, since.time, self.clock.now(), "seen")
            )
            raise ExpectationFailed(
                self.timeline.describe_miss(
                    f"expected no {expectation} during {during:g} s; it happened at "
                    f"+{(found.time or since.time) - since.time:.3f}",
                    None,
                    since,
                    self.clock.now(),
                )
            )

    def wait(self, seconds: float) -> None:
        """Let `seconds` of device time pass."""
        with self.observer.step(f"wait {seconds:g} s", seconds):
            self._wait(lambda: None, seconds)

    # -- The debugger bridge ------------------------------------------------------------------

    def trigger(self, task: str) -> Event:
        """Ask the app's BackgroundTasks to launch `task` now, as Apple's lldb recipe does.

        Returns once the device logs that it received the request; whether it ran is in the log
        too (`task.launched`, or `task.simulate_rejected` with the reason), for the test to expect.
        """
        with self.observer.step(f"trigger {task}", SIMULATE_ANSWER_S):
            return self._simulate(task, simulate_launch_command(task), "task.simulate_launch")

    def expire(self, task: str) -> Event:
        """Ask the app's BackgroundTasks to expire the simulated `task` now (facts A3)."""
        with self.observer.step(f"expire {task}", SIMULATE_ANSWER_S):
            return self._simulate(task, simulate_expiration_command(task), "task.simulate_expire")

    def _simulate(self, task: str, command: str, answer: str) -> Event:
        check_task_id(task)
        app = self.app
        if app is not None and not getattr(app, "debuggable", True):
            raise AppError(
                f"{self.device.name}: cannot trigger or expire {task}: {app.bundle_id} is a "
                "release-signed build (no get-task-allow), so no debugger can attach to it "
                "(facts A7). Organic scenarios (marked soak) run it; trigger/expire need a "
                "development-signed build"
            )
        pid = self._app_pid()
        since = self.timeline.mark(self.clock.now())
        with self.device.debugger(pid) as session:
            session.evaluate(command)
        expectation = Expectation.of(answer, task)
        found = self._wait(lambda: self.timeline.find(expectation, since), SIMULATE_ANSWER_S)
        if found is None:
            raise DebuggerError(
                self.timeline.describe_miss(
                    f"{self.device.name}: lldb ran `{command}` in pid {pid}, but the device log "
                    "did "
                    f"not show {answer} for {task} within {SIMULATE_ANSWER_S:g} s",
                    expectation,
                    since,
                    self.clock.now(),
                )
            )
        return found

    def _app_pid(self) -> int:
        if self.app is None:
            raise UsageError("no app in this session: launch one first (the `app` fixture)")
        pid = self.device.pid(self.app.bundle_id)
        if pid is None:
            raise UsageError(
                f"{self.app.bundle_id} is not running on {self.device.name}: the debugger bridge "
                "attaches to the running app, so launch it first (app.launch)"
            )
        return pid

    # -- Perturbations ------------------------------------------------------------------------

    @contextmanager
    def offline(self) -> Iterator[None]:
        """The device has no network inside the block (the 100 %-loss condition)."""
        offline = self._perturb(Kind.NETWORK, "offline", lambda: self.device.set_network("offline"))
        with self.observer.step("offline"), offline:
            yield

    @contextmanager
    def locked(self) -> Iterator[None]:
        """The device is locked inside the block, and unlocked after it."""
        with self.observer.step("locked"), self._perturb(Kind.LOCK, "locked", self.device.lock):
            yield

    @contextmanager
    def on_battery(self) -> Iterator[None]:
        """The phone runs on battery inside the block (facts B2: requiresExternalPower)."""
        apply = partial(self.device.set_power, "battery")
        with self.observer.step("on battery"), self._perturb(Kind.POWER, "battery", apply):
            yield

    @contextmanager
    def low_power(self) -> Iterator[None]:
        """Low Power Mode is on inside the block (facts B1, G5)."""
        apply = partial(self.device.set_low_power_mode, True)
        with (
            self.observer.step("Low Power Mode"),
            self._perturb(Kind.LOW_POWER, "low power", apply),
        ):
            yield

    @contextmanager
    def refresh_off(self) -> Iterator[None]:
        """Background App Refresh is off in Settings inside the block (facts B1, B6)."""
        apply = partial(self.device.set_background_refresh, False)
        with (
            self.observer.step("Background App Refresh off"),
            self._perturb(Kind.REFRESH, "refresh off", apply),
        ):
            yield

    @contextmanager
    def memory_pressure(self) -> Iterator[None]:
        """Other apps need memory inside the block: background apps may be jetsammed (G1)."""
        apply = partial(self.device.set_memory_pressure, True)
        with (
            self.observer.step("memory pressure"),
            self._perturb(Kind.MEMORY, "memory pressure", apply),
        ):
            yield

    @contextmanager
    def reboot(self) -> Iterator[None]:
        """Restart the phone; inside the block it is locked and before its first unlock
        (facts G3); after the block it is unlocked."""
        with (
            self.observer.step("restart (before first unlock)"),
            self._perturb(Kind.REBOOT, "before first unlock", self.device.reboot),
        ):
            yield

    @contextmanager
    def _perturb(self, kind: Kind, detail: str, apply: Callable[[], None]) -> Iterator[None]:
        p = self._journal.record(self.device.name, kind, detail)  # before the change: see journal
        try:
            apply()
        except (Unsupported, UsageError):
            # The change was refused (say, locking a phone without `unlock: true`): nothing was
            # changed, so nothing to undo, and its error is the one the test must see.
            self._journal.remove(p)
            raise
        except BaseException:
            # Interrupted or failed half way (Ctrl-C, SIGTERM, a cable pull): the change may be
            # on the device. Undo it now if we can; if not, the journal entry stays for the next
            # run to undo. Either way the original error is the one raised.
            with contextlib.suppress(HarnessError):
                undo(self.device, p)
                self._journal.remove(p)
            raise
        self._active.append(p)
        self._spans[p.id] = len(self.spans)
        self.spans.append(Span(detail, self.clock.now()))
        if self._records is not None:
            self._records.perturbation("applied", p.kind, detail, self.spans[-1].start)
        try:
            yield
        finally:
            self._undo(p)

    def _undo(self, p: Perturbation) -> None:
        if p in self._active:
            self._journal.mark_undoing(p)  # a stop from here on is not "left applied"
            undo(self.device, p)
            self._active.remove(p)
            self._journal.remove(p)
            index = self._spans.pop(p.id, None)
            now = self.clock.now()
            if index is not None:
                self.spans[index] = replace(self.spans[index], end=now)
            if self._records is not None:
                self._records.perturbation("undone", p.kind, p.detail, now)

    def close(self) -> None:
        """Undo what is still applied (newest first) and stop reading the log."""
        try:
            for p in reversed(list(self._active)):
                self._undo(p)
        finally:
            self._stream.close()
            self._pump.join(timeout=5)

    # -- Waiting ------------------------------------------------------------------------------

    def _wait(
        self,
        found: Callable[[], Any],
        within: float,
        decided: Callable[[], Decision | None] | None = None,
    ) -> Any:
        """Poll `found` as device time passes; its result, or None once `within` has passed,
        or once `decided` has said for DECIDED_GRACE_S that it can no longer come."""
        deadline = self.clock.now() + within
        # A wait that ends now returns at once; on a virtual iPhone it also lets the log reader
        # catch up with what the last action logged, so a device running in real time
        # (time_scale 1) does not sleep through an event that is already there.
        self.clock.wait(self.clock.now(), self._woken)
        while True:
            if self._pump_error is not None:
                raise InfraError(f"reading the device log failed: {self._pump_error!r}")
            result = found()
            now = self.clock.now()
            if result or now >= deadline:
                return result
            until = deadline
            decision = decided() if decided is not None else None
            if decision is not None:
                if now >= decision.time + DECIDED_GRACE_S:
                    return result
                until = min(deadline, decision.time + DECIDED_GRACE_S)
            self.clock.wait(until, self._woken)

    def _run_pump(self) -> None:
        for entry in self._stream:
            if self._pump_error is None:
                try:
                    events = parse_entry(entry)
                    self.timeline.add(entry, events)
                    if events and self._records is not None:
                        self._records.events(events)
                except Exception as exc:  # reported to the test thread by _wait
                    self._pump_error = exc
            self._woken.set()


def recover(device: Device, journal: Journal) -> list[str]:
    """Undo what crashed runs left applied on `device`; one line for each thing restored."""
    said = []
    journal.clean_tmp(device.name)
    for p in journal.abandoned(device.name):
        # A lock already undone needs nothing; a network undo is harmless to repeat.
        already = p.kind == "lock" and not device.locked()
        try:
            if not already:
                undo(device, p)
        except HarnessError as exc:
            said.append(f"{device.name}: could not undo {p.describe()}: {exc}")
            continue
        journal.remove(p)
        undone = KINDS[p.kind].undone
        if already:
            said.append(f"{device.name}: removed a stale journal entry ({p.describe()})")
        elif p.undoing:
            said.append(
                f"{device.name}: {undone} again: a run stopped while undoing it ({p.describe()})"
            )
        else:
            said.append(f"{device.name}: {undone}: a crashed run left it ({p.describe()})")
    return said


class App:
    """An installed app on the session's device: launch it with a plan, background it, end it."""

    def __init__(self, session: Session, info: AppInfo, debuggable: bool = True):
        self.session = session
        self.info = info
        self.bundle_id = info.bundle_id
        # False for a release-signed build (no get-task-allow): trigger/expire refuse it.
        self.debuggable = debuggable
        session.app = self

    def task(self, *names: str) -> str:
        """A full task identifier: `task("refresh")` is `<bundle id>.refresh`,
        `task("continued", "export-1")` is `<bundle id>.continued.export-1`; a name with dots
        is already in full."""
        if len(names) == 1 and "." in names[0]:
            return check_task_id(names[0])
        return check_task_id(".".join((self.bundle_id, *names)))

    def launch(self, plan: Mapping[str, Any] | None = None, args: Sequence[str] = ()) -> int:
        """Launch in the foreground with the probe plan (validated first); the pid."""
        env = {PLAN_ENV: build_plan(plan or {}, self.bundle_id).to_json()}
        with self.session.observer.step(f"launch {self.bundle_id}"):
            return self.session.device.launch(self.bundle_id, env, list(args))

    @property
    def pid(self) -> int | None:
        return self.session.device.pid(self.bundle_id)

    def background(self) -> None:
        """Press Home: the app goes to the background."""
        with self.session.observer.step("background (Home)"):
            self.session.device.background()

    def kill(self) -> None:
        """SIGKILL the app, as the system does under memory pressure."""
        pid = self.pid
        if pid is None:
            raise UsageError(f"{self.bundle_id} is not running on {self.session.device.name}")
        with self.session.observer.step(f"kill {self.bundle_id} (SIGKILL pid {pid})"):
            self.session.device.kill(pid)

    def tap(self, name: str) -> None:
        """Tap the probe's button `name` (the plan's `taps`), as a person does (facts B3)."""
        with self.session.observer.step(f"tap {name}"):
            self.session.device.tap(f"bgprobe.tap.{name}")

    def answer_prompt(self, choice: str) -> None:
        """Answer the system's "continue running?" prompt for this app: `continue` or `stop`."""
        with self.session.observer.step(f"answer the continue prompt: {choice}"):
            self.session.device.answer_prompt(self.bundle_id, choice)

    def force_quit(self) -> None:
        """Swipe the app away in the app switcher, as a user does."""
        with self.session.observer.step(f"force quit {self.bundle_id}"):
            self.session.device.force_quit(self.bundle_id)


def _step(step: Step, task: str | None) -> Expectation:
    if isinstance(step, str):
        return Expectation.of(step, task)
    kind, attrs = step
    attrs = dict(attrs)
    return Expectation.of(kind, attrs.pop("task", task), **attrs)
