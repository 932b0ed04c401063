"""BGContinuedProcessingTask (iOS 26): the forum's questions about it, one test or sweep each.

Each docstring quotes the question (its number in the seed questions) and names the fact that
decides what is asserted. Only [H] facts are asserted; where the fact is [M] or [L] the test
records what the device did with `bg.observe` and passes (`bgharness observations` prints the
table across devices). Continued tasks are submitted from a tap on one of the probe's buttons:
Apple requires "a person's action, such as tapping a button" (facts B3 [H]); the harness taps
through WebDriverAgent on a phone and the `tap` verb on the virtual iPhone.
"""

import pytest

pytestmark = [pytest.mark.device, pytest.mark.requires(ios=">=26")]

# Long enough for several progress gaps, short enough for a phone run.
WORK_S = 120


def continued(task: str, **request) -> dict:
    return {"submit": {"type": "continued", "id": task, "title": "Export", **request}}


def continued_plan(task: str, taps: dict | None = None, **handler) -> dict:
    return {
        "register": [task],
        "taps": taps or {"start": [continued(task)]},
        "handler": handler,
    }


def events(bg, kind: str, task: str | None = None, **attrs) -> list:
    return [e for e in bg.timeline.events(bg.started) if e.matches(kind, task, **attrs)]


def cards_seen(bg, task: str) -> int:
    """The most Live Activity cards of `task` on screen at once (0 where no line says so)."""
    return max((e.attrs.get("cards", 0) for e in events(bg, "task.card", task)), default=0)


def end_of(bg, task: str, within: float):
    return bg.first_of(["task.expired", "task.completed"], task, within=within)


def outcome_of(end) -> str:
    return "not_ended" if end is None else end.kind.removeprefix("task.")


# -- Question 1: Start does nothing ----------------------------------------------------------


def test_a_handler_registered_in_the_tap_runs_the_task(app, bg):
    """Question 1: "tapping Start does nothing: the launch handler is never called and submit
    does not throw. The app registers the handler inside the button action on each tap."

    facts B3 [H]: continued-task registrations are exempt from "register before launch
    finishes"; facts A6 [H]: a foreground submit runs at once (no simulate path).
    """
    task = app.task("continued", "q1-tap-register")
    app.launch(plan={"taps": {"start": [{"register": task}, continued(task)]}})
    app.tap("start")
    bg.expect("task.registered", task=task, source="probe")
    bg.expect("task.submitted", task=task, source="probe")
    bg.expect("task.launched", task=task, source="probe", within=5)


def test_registering_again_on_a_second_tap_kills_the_app(app, bg):
    """Question 1 (the same app, second tap): registering the handler on each tap.

    facts B3 [H]: "The system kills the app on the second registration of the same task
    identifier" (`Launch handler … has already been registered`).
    """
    task = app.task("continued", "q1-second-tap")
    app.launch(
        plan={
            "taps": {"start": [{"register": task}, continued(task)]},
            "handler": {"work_s": WORK_S, "progress": {"every_s": 5}},
        }
    )
    app.tap("start")
    bg.expect("task.launched", task=task, source="probe", within=5)
    app.tap("start")
    bg.expect("task.registration_error", task=task, reason="duplicate", within=5)
    bg.wait(1)
    assert app.pid is None, "the app outlived a second registration of the same identifier"


def test_gpu_is_asked_for_only_when_supported_resources_has_it(app, bg):
    """Questions 1 and 2: "asks for GPU only if `supportedResources` contains it";
    "`supportedResources` reports no GPU for continued tasks on capable hardware".

    facts B3 [H]: a request for resources beyond `supportedResources` is refused (code 1 in
    26.1's code, 3 in the header); facts G8 [M]: which devices report `gpu` is recorded.
    """
    task = app.task("continued", "q2-gpu")
    app.launch(plan=continued_plan(task, {"start": [continued(task, gpu=True)]}, work_s=10))
    launched = bg.expect("app.launched", source="probe", within=5)
    resources = launched.attrs["supported_resources"]
    app.tap("start")
    if "gpu" not in resources:
        failed = bg.expect("task.submit_failed", task=task, source="probe")
        assert failed.attrs["code"] in (1, 3), "26.1 code says 1, the header says 3 (B3)"
        bg.observe("supported_resources", "none", outcome="refused", code=failed.attrs["code"])
        return
    ran = bg.first_of(["task.launched", "task.submit_failed"], task, within=30)
    bg.observe("supported_resources", "gpu", outcome="not_launched" if ran is None else ran.kind)


def test_a_continued_submit_from_the_background_is_refused(app, bg):
    """Question 1: the submit did not throw, yet nothing ran. From the background it does throw.

    facts B3 [H] (DTS): "you can't start new continued tasks once in the background"; the error
    code is not documented [L], so it is recorded.
    """
    task = app.task("continued", "q1-background")
    app.launch(
        plan={
            "register": [task],
            # 2 s after Home: before the app is suspended (a few seconds on a phone; facts G7).
            "after_launch": [{"at_s": 2, "do": [continued(task)]}],
            "handler": {"work_s": 10},
        }
    )
    app.background()
    failed = bg.expect("task.submit_failed", task=task, source="probe", within=30)
    bg.expect_none("task.launched", task=task, source="probe", during=10)
    bg.observe("submitted_from", "background", outcome="refused", code=failed.attrs["code"])


def test_a_continued_submit_no_tap_caused_is_recorded(app, bg):
    """Question 1: what happens to a continued task started without a person's action.

    facts B3 [H]: it must be submitted "as a result of a person's action"; WWDC25 227: automatic
    starts "may be cancelled" [M]: what the device did is recorded.
    """
    task = app.task("continued", "q1-auto")
    app.launch(
        plan={
            "register": [task],
            "submit": [{"type": "continued", "id": task}],
            "handler": {"work_s": 60, "progress": {"every_s": 5}},
        }
    )
    bg.expect("task.submitted", task=task, source="probe", within=5)
    launched = bg.first_of(["task.launched"], task, within=10)
    end = end_of(bg, task, within=90)
    bg.observe(
        "submitted_by", "launch", outcome="not_launched" if launched is None else outcome_of(end)
    )


@pytest.mark.experiment(fact="G8")
def test_requests_beyond_the_concurrency_limit_are_accepted_and_queued(app, bg):
    """Question 1: "the launch handler is never called and submit does not throw".

    facts G8 [H]: a `.queue` request is accepted and "might be unable" to run at once "if the
    system is currently at the maximum level of concurrent tasks"; the number is unpublished
    [M], so how many ran at once is recorded. Asserted: no `.queue` submit throws.
    """
    tasks = [app.task("continued", f"q1-queue-{i}") for i in range(4)]
    app.launch(
        plan={
            "register": tasks,
            "taps": {"start": [continued(t) for t in tasks]},
            "handler": {"work_s": 30, "progress": {"every_s": 5}},
        }
    )
    app.tap("start")
    for task in tasks:
        bg.expect("task.submitted", task=task, source="probe")
    assert not events(bg, "task.submit_failed"), "a .queue request was refused"
    bg.wait(5)
    at_once = sum(1 for t in tasks if events(bg, "task.launched", t, source="probe"))
    bg.wait(120)
    eventually = sum(1 for t in tasks if events(bg, "task.launched", t, source="probe"))
    bg.observe(
        "submitted",
        len(tasks),
        outcome="queued" if at_once < len(tasks) else "all_ran",
        ran_at_once=at_once,
        ran_within_125s=eventually,
    )


@pytest.mark.experiment(fact="G8")
def test_fail_strategy_beyond_the_limit_fails_with_code_4(app, bg):
    """Question 1 (the `.fail` side): a request that cannot run now.

    facts B3/B6 [H]: with `.fail` a request that cannot start now fails with
    `immediateRunIneligible` (4) and no other code; facts G8 [M]: where the limit lies.
    """
    tasks = [app.task("continued", f"q1-fail-{i}") for i in range(4)]
    app.launch(
        plan={
            "register": tasks,
            "taps": {"start": [continued(t, strategy="fail") for t in tasks]},
            "handler": {"work_s": 30, "progress": {"every_s": 5}},
        }
    )
    app.tap("start")
    bg.wait(5)
    failed = events(bg, "task.submit_failed", source="probe")
    accepted = events(bg, "task.submitted", source="probe")
    assert len(failed) + len(accepted) == len(tasks)
    assert all(e.attrs["code"] == 4 for e in failed), [e.attrs for e in failed]
    bg.observe(
        "submitted", len(tasks), outcome=f"{len(accepted)}_accepted", refused_code_4=len(failed)
    )


# -- Question 2: background GPU ----------------------------------------------------------------


def test_background_metal_work_without_the_gpu_resource(app, bg):
    """Question 2: a continued task on capable hardware without GPU; what Metal work does then.

    facts B3 [H]: background GPU needs a continued task with `.gpu`; facts G8 [M]: without it
    Metal work from the background is refused (`IOGPUMetalError: Insufficient Permission`).
    """
    task = app.task("continued", "q2-metal")
    plan = continued_plan(task, work_s=WORK_S, progress={"every_s": 5})
    plan["after_launch"] = [{"at_s": 30, "do": [{"gpu_work": True}]}]
    app.launch(plan=plan)
    app.tap("start")
    bg.expect("task.launched", task=task, source="probe", within=5)
    app.background()
    work = bg.expect("gpu.work", source="probe", within=60)
    bg.observe(
        "gpu_in_background", "no_gpu_resource", outcome="ok" if work.attrs["ok"] else "refused"
    )


# -- Question 6: progress, duration, the prompt, the foreground ----------------------------------


@pytest.mark.experiment(fact="B3")
def test_a_background_task_that_stops_reporting_progress(app, bg):
    """Question 6: "Continued tasks expire unpredictably ... is a minimum progress rate needed?"

    facts B3 [H]: stalled tasks "may be forcibly expired" (may: recorded, with after how
    long); asserted: if it was expired, it then completed unsuccessfully (the expiration
    handler ran, facts B3 [H]).
    """
    task = app.task("continued", "q6-stalled")
    app.launch(plan=continued_plan(task, work_s=600))
    app.tap("start")
    launched = bg.expect("task.launched", task=task, source="probe", within=5)
    app.background()
    end = end_of(bg, task, within=660)
    if end is not None and end.kind == "task.expired":
        bg.expect("task.completed", task=task, source="probe", success=False, within=5)
    after = (end.time - launched.time) if end else 660.0
    bg.observe("progress", "none", outcome=outcome_of(end), after_s=after)


@pytest.mark.experiment(fact="B3")
def test_irregular_progress_gaps(app, bg):
    """Question 6: "gaps of 20–30 s between updates", mixed with quick ones.

    facts B3 [M]: how long a gap is tolerated is reported at 20-30 s: recorded.
    """
    task = app.task("continued", "q6-irregular")
    gaps = [5, 25, 5, 25, 5, 25]
    app.launch(plan=continued_plan(task, work_s=sum(gaps), progress={"gaps_s": gaps}))
    app.tap("start")
    bg.expect("task.launched", task=task, source="probe", within=5)
    app.background()
    end = end_of(bg, task, within=sum(gaps) + 60)
    bg.observe(
        "progress_gaps_s",
        "5,25",
        outcome=outcome_of(end),
        progress=len(events(bg, "task.progress", task)),
    )


@pytest.mark.experiment(fact="B3")
def test_no_progress_while_in_the_foreground(app, bg):
    """Question 6: "What about ... expiry while in the foreground?"

    No fact decides whether a silent task in the foreground is expired (facts B3 speaks of
    stalled tasks in general): recorded.
    """
    task = app.task("continued", "q6-foreground")
    app.launch(plan=continued_plan(task, work_s=120))
    app.tap("start")
    launched = bg.expect("task.launched", task=task, source="probe", within=5)
    end = end_of(bg, task, within=180)
    after = (end.time - launched.time) if end else 180.0
    bg.observe("progress_in_foreground", "none", outcome=outcome_of(end), after_s=after)


def _wait_for_the_prompt(bg, task: str):
    """Up to 10 min, a minute at a time: the prompt card, or None (or the task ended)."""
    for _ in range(10):
        bg.wait(60)
        prompt = next(iter(events(bg, "task.card", task, state="prompt")), None)
        if prompt is not None or events(bg, "task.completed", task):
            return prompt
    return None


@pytest.mark.experiment(fact="B3")
@pytest.mark.parametrize("answer", ["continue", "stop", "none"])
def test_the_continue_prompt(app, bg, answer):
    """Question 6: "What about the 'continue?' prompt?"

    facts B3 [M]: at ~5 min a locked phone asked "… is 16% complete. Do you want to continue
    running this task in the background?" (when is recorded); facts B3 [H]: "If a person cancels
    a task through the interface, the framework invokes the task's expiration handler", so
    Stop is asserted to expire the task. What Continue or no answer lead to is recorded.
    """
    task = app.task("continued", f"q6-prompt-{answer}")
    app.launch(plan=continued_plan(task, work_s=900, progress={"every_s": 10}))
    app.tap("start")
    launched = bg.expect("task.launched", task=task, source="probe", within=5)
    app.background()
    with bg.locked():
        prompt = _wait_for_the_prompt(bg, task)
        if prompt is None:
            bg.observe("answer", answer, outcome="no_prompt_seen")
            return
        if answer != "none":
            app.answer_prompt(answer)
        if answer == "stop":
            bg.expect("task.expired", task=task, source="probe", within=10)
        end = end_of(bg, task, within=900)
    reasons = events(bg, "task.expired", task, source="dasd")
    bg.observe(
        "answer",
        answer,
        outcome=outcome_of(end),
        prompt_after_s=prompt.time - launched.time,
        **({"dasd_reasons": reasons[0].attrs.get("reason_code")} if reasons else {}),
    )


@pytest.mark.experiment(fact="G8")
def test_a_long_task_with_steady_progress(app, bg):
    """Question 6: "Is there a maximum duration (60–90 min)?"

    facts G8 [H] (DTS): "There isn't any specific time limit"; whether a 90 min task finishes
    (each prompt answered Continue) is recorded, not asserted: prompts and resources decide.
    """
    task = app.task("continued", "q6-long")
    app.launch(plan=continued_plan(task, work_s=5400, progress={"every_s": 10}))
    app.tap("start")
    launched = bg.expect("task.launched", task=task, source="probe", within=5)
    app.background()
    end, answered = None, 0
    for _ in range(100):
        end = end_of(bg, task, within=60)
        if end is not None:
            break
        if len(events(bg, "task.card", task, state="prompt")) > answered:
            app.answer_prompt("continue")
            answered += 1
    after = (end.time - launched.time) if end else 6000.0
    bg.observe("work_s", 5400, outcome=outcome_of(end), after_s=after, prompts=answered)


# -- Question 7: a child Progress -------------------------------------------------------------


@pytest.mark.experiment(fact="G8")
@pytest.mark.parametrize("form", ["units", "child", "fraction"])
def test_progress_reported_through(app, bg, form):
    """Question 7: "A continued task does not stay alive on `fractionCompleted` when progress
    comes from a child `Progress`."

    facts G8 [H]: iOS watches KVO of `task.progress.fractionCompleted`; facts G8 [L]: whether
    a child Progress keeps the task alive is unresolved: each form is recorded.
    """
    task = app.task("continued", f"q7-{form}")
    app.launch(plan=continued_plan(task, work_s=90, progress={"every_s": 15, "as": form}))
    app.tap("start")
    launched = bg.expect("task.launched", task=task, source="probe", within=5)
    app.background()
    end = end_of(bg, task, within=150)
    after = (end.time - launched.time) if end else 150.0
    bg.observe("progress_as", form, outcome=outcome_of(end), after_s=after)


# -- Question 8: the wildcard ------------------------------------------------------------------


def test_registering_the_wildcard_literal_is_rejected(app, bg):
    """Question 8: "one handler registered for the wildcard identifier, or one per instance?
    Registering the wildcard itself is rejected."

    facts B3 [H]: the wildcard is not a "permissible fully composed identifier": register
    returns false; submitting a concrete id then has no handler (`No launch handler
    registered`, forums 799126), and the app is killed.
    """
    wildcard = f"{app.bundle_id}.continued.*"
    task = app.task("continued", "q8-concrete")
    app.launch(plan={"register": [wildcard], "taps": {"start": [continued(task)]}})
    bg.expect("task.registration_error", source="probe", reason="not_permitted", within=5)
    app.tap("start")
    bg.expect("task.registration_error", task=task, reason="no_handler", within=5)
    bg.expect_none("task.launched", task=task, source="probe", during=5)


def test_one_handler_per_instance(app, bg):
    """Question 8: "one per instance?" Register and submit each concrete id under the wildcard.

    facts B3 [H]: register the concrete id (`<bundle>.export.<UUID>`), a fresh one per task;
    both register and submit. Whether both run at once is the concurrency limit's [M].
    """
    first, second = app.task("continued", "q8-a"), app.task("continued", "q8-b")
    app.launch(
        plan={
            "taps": {
                "first": [{"register": first}, continued(first)],
                "second": [{"register": second}, continued(second)],
            },
            "handler": {"work_s": 30, "progress": {"every_s": 5}},
        }
    )
    app.tap("first")
    app.tap("second")
    for task in (first, second):
        bg.expect("task.registered", task=task, source="probe")
        bg.expect("task.submitted", task=task, source="probe")
    bg.wait(5)
    both = all(events(bg, "task.launched", t, source="probe") for t in (first, second))
    bg.observe("instances", 2, outcome="both_ran" if both else "one_waited")


@pytest.mark.parametrize("type_", ["refresh", "processing"])
def test_the_wildcard_permits_continued_tasks_only(app, bg, type_):
    """Question 8: what the wildcard entry permits.

    facts B7 [H]: iOS 26 allows a wildcard for continued tasks; a refresh or processing request
    must be listed by name, so one under the wildcard is not permitted (code 3, facts B6 [H]).
    """
    task = app.task("continued", f"q8-as-{type_}")
    app.launch(plan={"register": [task], "submit": [{"type": type_, "id": task}]})
    failed = bg.expect("task.submit_failed", task=task, source="probe", within=5)
    assert failed.attrs["code"] == 3
    bg.expect_none("task.submitted", task=task, source="dasd", during=5)


# -- Question 9: why was it expired -------------------------------------------------------------


@pytest.mark.experiment(fact="A6")
def test_what_an_expiry_says_about_its_cause(app, bg):
    """Question 9: "tell the app why a continued task was expired".

    facts A6 [H]: public API gives no reason (the probe's `task.expired` carries none); facts
    B3 [M]: dasd logged `reasons: 1048576` for a user Stop. For a stalled task, whatever dasd
    says is recorded.
    """
    task = app.task("continued", "q9-stall")
    app.launch(plan=continued_plan(task, work_s=300))
    app.tap("start")
    bg.expect("task.launched", task=task, source="probe", within=5)
    app.background()
    end = end_of(bg, task, within=360)
    if end is not None and end.kind == "task.expired":
        assert "reason" not in end.attrs or end.source != "probe"
    reasons = events(bg, "task.expired", task, source="dasd")
    bg.observe(
        "cause",
        "stall",
        outcome=outcome_of(end),
        **({"dasd_reasons": reasons[0].attrs.get("reason_code")} if reasons else {}),
    )


# -- Question 10: resubmitting after a failure --------------------------------------------------


@pytest.mark.experiment(fact="B3")
def test_resubmitting_the_same_identifier_after_a_failure(app, bg):
    """Question 10: "retrying by submitting the same identifier again without re-registering
    shows two Live Activity cards; the failed card cannot be cleared".

    facts B3 [H]: the handler stays registered, so the retry (a tap, in the foreground) runs
    again (facts A6 [H]); facts B3 [M]: a second card: how many cards are seen is recorded.
    """
    task = app.task("continued", "q10-retry")
    app.launch(
        plan=continued_plan(
            task,
            {"start": [continued(task)], "retry": [continued(task)], "clear": [{"cancel": task}]},
            work_s=10,
            progress={"every_s": 2},
            complete="failure",
        )
    )
    app.tap("start")
    bg.expect("task.completed", task=task, source="probe", success=False, within=30)
    app.tap("retry")
    bg.expect("task.launched", task=task, source="probe", within=5, since=bg.mark())
    bg.expect("task.completed", task=task, source="probe", within=30)
    app.tap("clear")
    bg.wait(10)
    assert len(events(bg, "task.launched", task, source="probe")) == 2
    bg.observe(
        "resubmit",
        "same_id",
        outcome=f"{cards_seen(bg, task)}_cards",
        cards_after_cancel=events(bg, "task.card", task)[-1].attrs["cards"]
        if events(bg, "task.card", task)
        else 0,
    )


@pytest.mark.experiment(fact="G8")
def test_resubmitting_a_running_identifier_from_its_handler(app, bg):
    """Question 10 (the other retry): the handler submits its own identifier again at start.

    facts G8 [M]: no Apple statement whether a second submit of a running id replaces, queues
    or fails: whether the first run still completed, and how many runs there were, is recorded.
    Asserted (facts A6 [H]): the tapped submit ran.
    """
    task = app.task("continued", "q10-on-start")
    app.launch(plan=continued_plan(task, work_s=20, progress={"every_s": 5}, resubmit="on_start"))
    app.tap("start")
    bg.expect("task.launched", task=task, source="probe", within=5)
    first_end = end_of(bg, task, within=40)
    bg.wait(30)
    runs = len(events(bg, "task.launched", task, source="probe"))
    failed = events(bg, "task.submit_failed", task, source="probe")
    bg.observe(
        "resubmit",
        "while_running",
        outcome="refused" if failed else ("queued" if runs > 1 else "dropped"),
        runs=runs,
        first_completed=int(first_end is not None and first_end.kind == "task.completed"),
    )


# -- Question 12: locked -----------------------------------------------------------------------


@pytest.mark.experiment(fact="B3")
def test_a_continued_task_runs_on_while_locked(app, bg):
    """Question 12: "The code a continued task runs seems to pause while the device is locked;
    later the task fails."

    facts B3 [M]: one report has a download saving data for 5+ min locked: recorded (how many
    progress reports came while locked, and how it ended).
    """
    task = app.task("continued", "q12-locked")
    app.launch(plan=continued_plan(task, work_s=WORK_S, progress={"every_s": 5}))
    app.tap("start")
    bg.expect("task.launched", task=task, source="probe", within=5)
    app.background()
    with bg.locked():
        mark = bg.mark()
        end = end_of(bg, task, within=WORK_S + 60)
        locked_reports = sum(
            1 for e in bg.timeline.events(mark) if e.matches("task.progress", task)
        )
    bg.observe("screen", "locked", outcome=outcome_of(end), progress_while_locked=locked_reports)


def test_protected_data_in_a_locked_continued_task(app, bg):
    """Question 12: the task's work fails while locked: data protection.

    facts B8 [H]: `WhenUnlocked` keychain items and `complete` files cannot be read while the
    phone is locked, whatever task is running.
    """
    task = app.task("continued", "q12-keychain")
    plan = continued_plan(task, work_s=WORK_S, progress={"every_s": 5})
    plan["after_launch"] = [
        {
            "at_s": 30,
            "do": [
                {"keychain": "when_unlocked"},
                {"file": {"op": "read", "protection": "complete"}},
            ],
        }
    ]
    app.launch(plan=plan)
    app.tap("start")
    bg.expect("task.launched", task=task, source="probe", within=5)
    app.background()
    with bg.locked():
        bg.expect("keychain.locked", source="probe", within=60)
        access = bg.expect("file.access", source="probe", within=5)
    assert access.attrs["ok"] is False


# -- Force quit --------------------------------------------------------------------------------


def test_force_quit_cancels_a_running_continued_task_without_its_expiration_handler(app, bg):
    """Question 10 (the card left after a force quit) and question 6 (unpredictable ends).

    facts B3 [H]: "The system cancels any running tasks if a person closes the app in the app
    switcher, but the app doesn't receive an indication of cancellation".
    """
    task = app.task("continued", "quit-1")
    app.launch(plan=continued_plan(task, work_s=300, progress={"every_s": 5}))
    app.tap("start")
    bg.expect("task.launched", task=task, source="probe", within=1)
    app.force_quit()
    bg.expect("task.canceled", task=task, source="dasd")
    bg.expect_none("task.expired", task=task, during=60)
    bg.expect_none("task.completed", task=task, during=1)


def test_force_quit_cancels_queued_continued_requests(app, bg):
    """Question 1 (queued, never launched): what becomes of a queued request.

    facts G8 [H]: "The system cancels queued BGContinuedProcessingTaskRequest objects if someone
    closes your app using the app switcher": nothing of the app runs after the swipe.
    """
    tasks = [app.task("continued", f"quit-queued-{i}") for i in range(4)]
    app.launch(
        plan={
            "register": tasks,
            "taps": {"start": [continued(t) for t in tasks]},
            "handler": {"work_s": 300, "progress": {"every_s": 5}},
        }
    )
    app.tap("start")
    bg.expect("task.launched", source="probe", within=5)
    app.force_quit()
    bg.expect_none("task.launched", source="probe", during=120, since=bg.mark())
