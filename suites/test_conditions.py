"""What the system weighs before it launches background work: power, Low Power Mode, the
Background App Refresh switch, force quit and reopening, app use (facts B1, B2, B6, G5, G6,
G9; seed questions 4 and 11). All organic: no debugger, the system schedules."""

import pytest

pytestmark = pytest.mark.device

REFRESH = {"register": ["refresh"], "submit": [{"type": "refresh", "id": "refresh"}]}


def processing(**request) -> dict:
    return {
        "register": ["processing"],
        "submit": [{"type": "processing", "id": "processing", **request}],
        "handler": {"work_s": 10},
    }


def test_background_app_refresh_off_refuses_submit_with_code_1(app, bg):
    """facts B1 [H], B6 [H], G5 [H]: with Background App Refresh off in Settings, submit fails
    with BGTaskSchedulerErrorCodeUnavailable (1), and dasd holds nothing."""
    with bg.refresh_off():
        app.launch(plan=REFRESH)
        bg.expect("task.submit_failed", task=app.task("refresh"), code=1, source="probe")
        bg.expect_none("task.submitted", task=app.task("refresh"), source="dasd", during=5)


@pytest.mark.soak
def test_processing_that_requires_power_waits_for_the_charger(app, bg):
    """facts B2 [H]: requiresExternalPower launches "only while the device is connected to
    external power" (asserted: not on battery); when it runs on the charger is dasd's choice,
    within the "next two days" at best."""
    task = app.task("processing")
    app.launch(plan=processing(requires_power=True))
    bg.expect("task.submitted", task=task, source="dasd")
    app.background()
    with bg.locked():
        with bg.on_battery():
            bg.expect_none("task.launched", task=task, during=6 * 3600)
        bg.expect("task.launched", task=task, simulated=False, within=48 * 3600)
        bg.expect("task.completed", task=task, success=True, within=60)


@pytest.mark.soak
@pytest.mark.experiment(fact="G5")
def test_refresh_under_low_power_mode(app, bg):
    """facts G5 [H]: Low Power Mode "reduces or affects ... Background app refresh"; [L] whether
    submit fails or is accepted and deferred is not documented. Both are recorded."""
    task = app.task("refresh")
    with bg.low_power():
        app.launch(plan=REFRESH)
        answer = bg.first_of(["task.submitted", "task.submit_failed"], task, within=10)
        if answer is None or answer.kind == "task.submit_failed":
            code = answer.attrs.get("code", 0) if answer else 0
            bg.observe("low_power_mode", True, outcome="refused", code=code)
            return
        app.background()
        launched = bg.first_of(["task.launched"], task, within=12 * 3600)
    outcome = "launched" if launched else "deferred"
    bg.observe("low_power_mode", True, outcome=outcome)


@pytest.mark.soak
@pytest.mark.experiment(fact="G6")
def test_processing_runtime_on_battery(app, bg):
    """facts G6 [H]: processing tasks run for "minutes" and there "isn't any specific time
    limit" (DTS); on battery the CPU monitor applies (B2 [H]). How long a long task runs before
    it is expired is recorded."""
    task = app.task("processing")
    app.launch(plan={**processing(), "handler": {"work_s": 3 * 3600, "progress": {"every_s": 60}}})
    bg.expect("task.submitted", task=task, source="dasd")
    app.background()
    with bg.locked(), bg.on_battery():
        launched = bg.first_of(["task.launched"], task, within=48 * 3600)
        if launched is None:
            bg.observe("power", "battery", outcome="not_launched")
            return
        end = bg.first_of(["task.expired", "task.completed", "app.terminated"], within=4 * 3600)
    outcome = "running" if end is None else end.kind.split(".")[1]
    ran = {} if end is None else {"ran_s": end.time - launched.time}
    bg.observe("power", "battery", outcome=outcome, **ran)


@pytest.mark.soak
@pytest.mark.experiment(fact="G9")
def test_refresh_after_force_quit_and_after_the_user_opens_the_app_again(app, bg):
    """Seed question 4: "Does a refresh task (BGAppRefreshTask) still run after the user
    force-quits the app in the app switcher? ... how predictable is it?"

    facts B1 [H], G9 [H]: after a force quit the system launches no background work until the
    user opens the app (asserted over 12 hours). After the user opens it, [M] the block lifts;
    whether the request made before the force quit survives is [L]: recorded, with the delay.
    """
    task = app.task("refresh")
    app.launch(plan={**REFRESH, "handler": {"work_s": 5}})
    bg.expect("task.submitted", task=task, source="dasd")
    app.background()
    app.force_quit()
    bg.expect("app.terminated", reason="user_force_quit", within=10)
    bg.expect_none("task.launched", task=task, during=12 * 3600)
    bg.mark()
    app.launch(plan={"cancel_all": False, "register": ["refresh"], "handler": {"work_s": 5}})
    opened = bg.clock.now()
    app.background()
    launched = bg.first_of(["task.launched"], task, within=24 * 3600)
    if launched is None:
        bg.observe("reopened", True, outcome="not_launched", waited_s=24 * 3600.0)
        return
    bg.observe("reopened", True, outcome="launched", delay_s=launched.time - opened)


@pytest.mark.soak
@pytest.mark.experiment(fact="B2")
def test_processing_after_force_quit(app, bg):
    """facts B2 [H], G9 [H] (DTS): a processing request "may still run" after a force quit, an
    intentional exception, with shorter runtime. "May", so it is recorded, never asserted."""
    task = app.task("processing")
    app.launch(plan=processing())
    submitted = bg.expect("task.submitted", task=task, source="dasd")
    app.background()
    app.force_quit()
    bg.expect("app.terminated", reason="user_force_quit", within=10)
    with bg.locked():
        launched = bg.first_of(["task.launched"], task, within=48 * 3600)
    if launched is None:
        bg.observe("force_quit", True, outcome="not_launched", waited_s=48 * 3600.0)
        return
    bg.observe("force_quit", True, outcome="launched", delay_s=launched.time - submitted.time)


@pytest.mark.soak
@pytest.mark.experiment(fact="B2")
def test_a_processing_task_days_after_the_last_use(app, bg):
    """Seed question 11: "can it keep working for days or weeks without the user opening the
    app?"

    facts B2 [H]: the system runs a processing request within two days "as long as the user has
    used your app within the past week"; what it does after a week unused is not said. The
    request asks to begin 8 days on; whether it still runs is recorded.
    """
    task = app.task("processing")
    app.launch(plan=processing(earliest_begin_s=8 * 24 * 3600))
    submitted = bg.expect("task.submitted", task=task, source="dasd")
    app.background()
    with bg.locked():
        launched = bg.first_of(["task.launched"], task, within=10 * 24 * 3600)
    if launched is None:
        bg.observe("unused_days", 8, outcome="not_launched", waited_s=10 * 24 * 3600.0)
        return
    bg.observe("unused_days", 8, outcome="launched", delay_s=launched.time - submitted.time)


EARLIEST_S = 3 * 3600


@pytest.mark.soak
@pytest.mark.experiment(fact="B1")
def test_refresh_launch_delays_over_a_week(app, bg):
    """Why is it inconsistent across devices? A refresh request that resubmits itself every
    time it runs, left alone for 7 days with no debugger: each submit → launch delay is recorded
    (facts B1 [H]: "not earlier than" earliestBeginDate, otherwise the system's choice), and
    `bgharness observations` shows the distribution per device, iOS version and night.
    """
    task = app.task("refresh")
    app.launch(
        plan={
            "register": ["refresh"],
            "submit": [{"type": "refresh", "id": "refresh", "earliest_begin_s": EARLIEST_S}],
            "handler": {"work_s": 5, "resubmit": "on_start"},
        }
    )
    bg.expect("task.submitted", task=task, source="dasd")
    app.background()
    end = bg.clock.now() + 7 * 24 * 3600
    launches = 0
    while (left := end - bg.clock.now()) > 0:
        submitted = bg.timeline.events(bg.started)
        last = [e for e in submitted if e.matches("task.submitted", task, source="dasd")][-1]
        bg.mark()
        launched = bg.first_of(["task.launched"], task, within=left)
        if launched is None:
            break
        launches += 1
        day = int((launched.time - bg.started.time) // 86400)
        delay = launched.time - last.time
        bg.observe("earliest_begin_s", EARLIEST_S, outcome="launched", delay_s=delay, day=day)
    if launches == 0:
        bg.observe("earliest_begin_s", EARLIEST_S, outcome="not_launched", waited_s=7 * 86400.0)
