"""The virtual iPhone's continued processing tasks (BGContinuedProcessingTask, iOS 26).

One concept: what the system does with a continued request from submit to its end. It is
kept out of virtual.py, which calls it through a few hooks (submit, started, progress, ended,
app state, force quit). Every rule cites its fact; where the fact is [M] or [L] the rule is the
model's guess, says "uncertain", and the knob lives in `ContinuedProfile` (the device profile)
so a suite records what a phone does instead of believing a number.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from harness.core.errors import UsageError

if TYPE_CHECKING:
    from harness.data.plan import Request
    from harness.device.backends.virtual import VirtualIPhone, _Process, _Running

# facts B6: BGTaskSchedulerErrorDomain codes a continued submit can fail with.
UNAVAILABLE, NOT_PERMITTED, IMMEDIATE_RUN_INELIGIBLE = 1, 3, 4
# facts G8 [H]: the entitlement that lets a continued task ask for `.gpu`.
GPU_ENTITLEMENT = "com.apple.developer.background-tasks.continued-processing.gpu"
# facts A6 [H]: on a phone `Running task` follows `SUBMITTED` by about 4 ms.
START_DELAY_S = 0.004
# facts B3 [M]: a user Stop shows in dasd as `ActivityExpirationEvent(… reasons: 1048576)`.
STOP_REASONS = 1048576
# facts G8 [M]: a succeeded task's card is dismissed about 6 s after it ends.
CARD_DISMISS_S = 6.0
PROMPT_CHOICES = ("continue", "stop")


@dataclass(frozen=True)
class ContinuedProfile:
    """What one device model does with continued tasks where no [H] fact fixes a number."""

    # facts B3 [M] (uncertain): expiry ~30 s without progress (forums 808756), with 20-30 s
    # gaps (805554), a ~20 s tolerance (EhPanda). A range, not a number: each task gets its
    # own tolerance inside it, so a sweep over gaps shows the spread a phone would.
    stall_tolerance_s: tuple[float, float] = (20.0, 30.0)
    # facts G8 [H]: a system-wide limit on concurrent continued tasks exists; the number is
    # unpublished (uncertain: the model's 2).
    max_concurrent: int = 2
    # facts B3 [M], G8 [M/L] (uncertain): the "… is N% complete. Do you want to continue?"
    # prompt came after ~5 min in the one report; the model shows it once per run.
    prompt_after_s: float = 300.0
    # uncertain (no source): an unanswered prompt leaves the task running.
    prompt_unanswered: str = "continue"
    # facts G8 [M] (uncertain): iPhones report no background GPU even when entitled; iPads with
    # Apple silicon do.
    background_gpu: bool = False
    # facts G8 [L] (uncertain): a child Progress moves the parent's fractionCompleted as
    # Foundation documents; seed question 7 reports it did not keep a task alive.
    child_progress_counts: bool = True
    # uncertain (no source says a foreground task is expired for silence): the stall rule
    # applies only while the app is not in front of an unlocked screen.
    stall_in_foreground: bool = False
    # facts B3 [H]: automatic starts "may be cancelled"; uncertain when, the model after 1 s.
    untapped_cancel_s: float = 1.0


def profile_for(
    model: str | None, stall_tolerance_s: tuple[float, float] | None
) -> ContinuedProfile:
    """The profile of a device model; devices.yaml's `stall_tolerance_s` overrides the range."""
    base = ContinuedProfile(background_gpu=bool(model and model.startswith("iPad")))
    if stall_tolerance_s is not None:
        base = ContinuedProfile(**{**base.__dict__, "stall_tolerance_s": stall_tolerance_s})
    return base


def tolerance_for(profile: ContinuedProfile, task: str) -> float:
    """This task's stall tolerance: a stable point of the profile's range, by identifier."""
    low, high = profile.stall_tolerance_s
    h = int.from_bytes(hashlib.sha256(task.encode()).digest()[:4], "big") / 2**32
    return low + (high - low) * h


@dataclass(eq=False)
class _Live:
    """What the system tracks of one running continued task, beyond virtual.py's _Running."""

    request: Request
    from_tap: bool
    started: float
    tolerance: float
    fraction: float = 0.0
    last_progress: float = 0.0
    prompt_open: bool = False
    prompt_timer: Any = None


@dataclass(eq=False)
class _Queued:
    proc: _Process
    request: Request
    from_tap: bool


@dataclass
class ContinuedTasks:
    """The continued-task part of one virtual iPhone."""

    phone: VirtualIPhone
    profile: ContinuedProfile
    live: dict[_Running, _Live] = field(default_factory=dict)
    queue: list[_Queued] = field(default_factory=list)
    cards: dict[str, list[str]] = field(default_factory=dict)  # task -> card states on screen

    # -- What the app sees ---------------------------------------------------------------------

    def supported_resources(self, proc: _Process) -> list[str]:
        """facts G8 [H]: a dasd query of the device's capability; facts B3 [H]: `.gpu` needs
        the entitlement. The virtual iPhone reads the entitlement from the bundle's Info.plist
        (its stand-in for the signature)."""
        info = self.phone._apps[proc.bundle_id]
        entitled = info.plist.get(GPU_ENTITLEMENT) is True
        return ["gpu"] if self.profile.background_gpu and entitled else []

    def gpu_allowed(self, proc: _Process) -> bool:
        """facts B3 [H]: background GPU only for a continued task that asked for `.gpu`; facts
        G8 [M]: otherwise Metal work from the background is refused."""
        if self._in_front(proc):
            return True
        return any(live.request.gpu for run, live in self.live.items() if self._owner(run) is proc)

    def submit_error(self, proc: _Process, request: Request) -> int | None:
        """The code a continued submit fails with now, if any (facts B3, B6, G8)."""
        wanted = {"gpu"} if request.gpu else set()
        if wanted - set(self.supported_resources(proc)):
            # facts B3 [H]: 26.1 returns code 1 (the header says 3) for unsupported resources.
            self.phone._framework(
                proc, f"{request.id} requested an unsupported set of resources: gpu", level="ERROR"
            )
            return UNAVAILABLE
        if not proc.foreground:
            # facts B3 [H] (DTS, forums 808756): no new continued tasks from the background.
            # Uncertain: the code is undocumented; the model says 1.
            return UNAVAILABLE
        if request.strategy == "fail" and not self._room_now(request.id):
            # facts B3/B6 [H]: `.fail` gets immediateRunIneligible (4) when it cannot run now.
            return IMMEDIATE_RUN_INELIGIBLE
        return None

    def submit(self, proc: _Process, request: Request, from_tap: bool) -> None:
        """facts A6 [H]: an accepted request starts at once; facts G8 [H]: with `.queue` it
        waits for a free slot when the system is at its limit."""
        self.phone._dasd(f"SUBMITTED {_activity(request.id)} at priority 90")
        for old in [q for q in self.queue if q.request.id == request.id]:
            # uncertain (facts G8 [M]: no Apple statement): a second submit of a queued id
            # replaces the queued request, as a pending refresh request is replaced (facts B1).
            self.queue.remove(old)
        waits = not self._room_now(request.id)
        self.queue.append(_Queued(proc, request, from_tap))
        if waits:
            self.phone._model_note(
                f"uncertain (facts G8): {request.id} is queued: "
                + (
                    "the same identifier is still running"
                    if self._running_ids() & {request.id}
                    else f"the device's {self.profile.max_concurrent} slots are taken"
                )
            )
        self._start_queued_later()

    # -- Hooks from virtual.py -----------------------------------------------------------------

    def started(self, proc: _Process, run: _Running, request: Request, from_tap: bool) -> None:
        now = self.phone._clock.now()
        live = _Live(request, from_tap, now, tolerance_for(self.profile, run.task), 0.0, now)
        self.live[run] = live
        self._card(run.task, "running")
        self._arm_stall(proc, run)
        clock = self.phone._clock
        live.prompt_timer = clock.call_later(
            self.profile.prompt_after_s, lambda: self._prompt(proc, run)
        )
        run.timers.append(live.prompt_timer)
        if not from_tap:
            # facts B3 [H]: a continued task must be submitted "as a result of a person's
            # action"; WWDC25 227: automatic starts "may be cancelled". Uncertain how and when:
            # the model cancels it after `untapped_cancel_s`, as a Stop (expiration handler).
            run.timers.append(
                clock.call_later(
                    self.profile.untapped_cancel_s, lambda: self._cancel_untapped(proc, run)
                )
            )

    def progress(
        self, proc: _Process, run: _Running, form: str, completed: int, total: int
    ) -> None:
        """facts G8 [H]: iOS watches KVO of task.progress.fractionCompleted; only a report that
        moves the fraction is a sign of life. A child Progress counts per the profile [L]."""
        live = self.live.get(run)
        if live is None or total <= 0:
            return
        if form == "child" and not self.profile.child_progress_counts:
            return
        fraction = min(1.0, completed / total)
        if fraction == live.fraction:
            return
        live.fraction, live.last_progress = fraction, self.phone._clock.now()
        self._arm_stall(proc, run)

    def ended(self, run: _Running, success: bool) -> None:
        """The task completed or was expired: its card changes, a queued request may start."""
        live = self.live.pop(run, None)
        if live is None:
            return
        # facts B3 [M], G8 [M]: a failed or expired task leaves a "Task failed" card no API
        # clears; a succeeded one is dismissed ~6 s later.
        self._card(run.task, "completed" if success else "failed")
        if success:
            self.phone._clock.call_later(CARD_DISMISS_S, lambda: self._dismiss(run.task))
        self._start_queued_later()

    def force_quit(self, proc: _Process) -> None:
        """facts B3 [H]: closing the app in the app switcher cancels its running continued tasks
        without calling the expiration handler; facts G8 [H]: queued requests are cancelled."""
        for run in list(proc.running.values()):
            if run.type == "continued":
                self.phone._dasd(f"CANCELED {_activity(run.task)}")
                self.live.pop(run, None)
                self._card(run.task, "failed")  # facts B3 [M]: the failed card stays
        for queued in [q for q in self.queue if q.proc is proc]:
            self.queue.remove(queued)
            self.phone._dasd(f"CANCELED {_activity(queued.request.id)}")

    def app_state_changed(self) -> None:
        """Foreground, background, lock: whether the stall rule applies changes (uncertain)."""
        now = self.phone._clock.now()
        for run, live in list(self.live.items()):
            proc = self._owner(run)
            if proc is None:
                continue
            if run.stall is None and not self._in_front(proc):
                live.last_progress = now  # silence counts from when the app left the front
            self._arm_stall(proc, run)

    def process_gone(self) -> None:
        """A process ended: its slots are free; requests of dead processes are dropped."""
        for run in [r for r in self.live if self._owner(r) is None]:
            self.live.pop(run, None)
        self._start_queued_later()

    def answer_prompt(self, bundle_id: str, choice: str) -> None:
        """A person answers the "continue?" prompt (facts B3 [M]): Stop expires the task through
        its expiration handler, as a cancel in the interface does (facts B3 [H])."""
        if choice not in PROMPT_CHOICES:
            raise UsageError(
                f"answer the prompt with one of {', '.join(PROMPT_CHOICES)}, not {choice!r}"
            )
        open_ = [(r, lv) for r, lv in self.live.items() if lv.prompt_open]
        mine = [(r, lv) for r, lv in open_ if (p := self._owner(r)) and p.bundle_id == bundle_id]
        if not mine:
            raise UsageError(
                f"{self.phone.name}: no continue-or-stop prompt is showing for {bundle_id}; a "
                f"continued task shows one after {self.profile.prompt_after_s:.0f} s (the virtual "
                "profile's prompt_after_s)"
            )
        run, live = mine[0]
        live.prompt_open = False
        proc = self._owner(run)
        assert proc is not None
        self._card(run.task, "running")
        if choice == "stop":
            self.phone._log(
                "SpringBoard",
                34,
                ("com.apple.springboard", "application", "SpringBoard"),
                f'Received request to open "{bundle_id}" on behalf of ActivityProgressUI',
            )
            self.stop(proc, run)

    def stop(self, proc: _Process, run: _Running) -> None:
        """A user Stop: dasd's reason (facts B3 [M]), then the expiration handler (facts B3 [H])."""
        self.phone._dasd(f"ActivityExpirationEvent({_activity(run.task)} reasons: {STOP_REASONS})")
        self.phone._expire(proc, run)

    # -- Inside ---------------------------------------------------------------------------------

    def _in_front(self, proc: _Process) -> bool:
        return proc.foreground and not self.phone._locked

    def _owner(self, run: _Running) -> _Process | None:
        return next((p for p in self.phone._processes.values() if run in p.running.values()), None)

    def _running_ids(self) -> set[str]:
        return {run.task for run in self.live}

    def _can_start_now(self, task: str) -> bool:
        # uncertain (facts G8 [M]): a request for an identifier that is still running waits for
        # it to end, rather than replacing it.
        return len(self.live) < self.profile.max_concurrent and task not in self._running_ids()

    def _room_now(self, task: str) -> bool:
        """Whether a request could start now: requests accepted before it take slots first."""
        waiting = {q.request.id for q in self.queue}
        return (
            len(self.live) + len(self.queue) < self.profile.max_concurrent
            and task not in self._running_ids() | waiting
        )

    def _start_queued_later(self) -> None:
        self.phone._clock.call_later(START_DELAY_S, self._start_queued)

    def _start_queued(self) -> None:
        for queued in list(self.queue):
            if queued.proc.pid not in self.phone._processes:
                self.queue.remove(queued)  # uncertain: a request dies with its process
                continue
            if not self._can_start_now(queued.request.id):
                continue
            self.queue.remove(queued)
            self.phone._start_continued_run(queued.proc, queued.request, queued.from_tap)

    def _arm_stall(self, proc: _Process, run: _Running) -> None:
        """facts B3 [H]: stalled tasks may be expired; the tolerance is the profile's [M]."""
        live = self.live.get(run)
        if live is None:
            return
        if run.stall is not None:
            run.stall.cancel()
            run.stall = None
        if self._in_front(proc) and not self.profile.stall_in_foreground:
            return
        delay = live.last_progress + live.tolerance - self.phone._clock.now()
        run.stall = self.phone._clock.call_later(delay, lambda: self._stall_due(proc, run))

    def _stall_due(self, proc: _Process, run: _Running) -> None:
        # A report due at this very instant comes first: silence of exactly the tolerance is
        # tolerated, expiry needs longer (the progress timer and this one may share an instant).
        self.phone._clock.call_later(0.0, lambda: self._stall_check(proc, run))

    def _stall_check(self, proc: _Process, run: _Running) -> None:
        live = self.live.get(run)
        if live is None or (self._in_front(proc) and not self.profile.stall_in_foreground):
            return
        silent = self.phone._clock.now() - live.last_progress
        if silent + 1e-6 < live.tolerance:
            return  # progress arrived at the deadline and re-armed the timer
        self.phone._model_note(
            f"uncertain (facts B3): {run.task} reported no progress for {silent:.1f} s, over "
            f"its tolerance of {live.tolerance:.1f} s (profile range "
            f"{self.profile.stall_tolerance_s[0]:g}-{self.profile.stall_tolerance_s[1]:g} s)"
        )
        self.phone._expire(proc, run)

    def _prompt(self, proc: _Process, run: _Running) -> None:
        live = self.live.get(run)
        if live is None:
            return
        live.prompt_open = True
        percent = int(live.fraction * 100)
        self._card(run.task, "prompt", percent=percent)
        self.phone._model_note(
            f"uncertain (facts B3): the system asks whether {run.task} ({percent}% complete) "
            "should go on running; answer with the prompt verb"
        )

    def _cancel_untapped(self, proc: _Process, run: _Running) -> None:
        if run not in self.live:
            return
        self.phone._model_note(
            f"uncertain (facts B3): {run.task} was submitted without a person's action "
            "(no tap); iOS may cancel such continued tasks; the virtual iPhone cancels it now"
        )
        self.phone._dasd(f"CANCELED {_activity(run.task)}")
        self.phone._expire(proc, run)

    def _card(self, task: str, state: str, **attrs: Any) -> None:
        """The Live Activity card of `task` changes state (facts B3 [M], G8 [M])."""
        cards = self.cards.setdefault(task, [])
        if state == "running" and (not cards or cards[-1] in ("failed", "completed")):
            cards.append("running")  # facts B3 [M]: a resubmission shows a second card
        elif cards:
            cards[-1] = state
        else:
            cards.append(state)
        extra = "".join(f" {k}={v}" for k, v in attrs.items())
        self.phone._model_note(f"card {task}: {state} cards={len(cards)}{extra}")

    def _dismiss(self, task: str) -> None:
        cards = self.cards.get(task, [])
        if cards and cards[-1] == "completed":
            cards.pop()
            self.phone._model_note(f"card {task}: dismissed cards={len(cards)}")


def _activity(task: str) -> str:
    """dasd's name for a continued request (facts A6): no activity suffix."""
    return f"bgContinuedProcessing-{task}"
