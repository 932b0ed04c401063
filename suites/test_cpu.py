"""The CPU monitor and processing tasks: does a processing task that keeps a core busy get
killed, and does `requiresExternalPower` protect it? (facts B2, G6; issue 11.) All organic: no
debugger, the system schedules, the phone locked (idle)."""

from contextlib import nullcontext

import pytest

pytestmark = [pytest.mark.device, pytest.mark.soak]

BURN_S, PERCENT = 120, 100


def burning(**request) -> dict:
    """A processing task that busy-loops PERCENT % of a core for BURN_S, then works on a little."""
    return {
        "register": ["processing"],
        "submit": [{"type": "processing", "id": "processing", **request}],
        "handler": {
            "work_s": BURN_S + 60,
            "do": [{"cpu": {"seconds": BURN_S, "percent": PERCENT}}],
        },
    }


def test_requires_external_power_turns_the_cpu_monitor_off(app, bg):
    """facts B2 [H], G6 [H]: `requiresExternalPower` "will also disable the CPU Monitor" while
    the phone is plugged in, so a task burning a whole core for two minutes on the charger is
    never killed for CPU (asserted). Whether it then completes is dasd's (G6 [H]: the expiration
    handler may come before the full time): recorded."""
    task = app.task("processing")
    app.launch(plan=burning(requires_power=True))
    bg.expect("task.submitted", task=task, source="dasd")
    app.background()
    with bg.locked():
        launched = bg.expect("task.launched", task=task, simulated=False, within=48 * 3600)
        bg.expect("cpu.started", task=task, percent=PERCENT, within=10)
        bg.expect_none("app.terminated", reason="cpu", during=BURN_S + 10)
        end = bg.first_of(["task.completed", "task.expired", "app.terminated"], within=120)
    outcome = "running" if end is None else end.kind.split(".")[1]
    ran = {} if end is None else {"ran_s": end.time - launched.time}
    bg.observe("requires_power", True, outcome=outcome, **ran)


POWER = ("battery", "charger")


@pytest.mark.experiment(fact="G6")
@pytest.mark.parametrize("power", POWER)
def test_a_processing_task_burning_cpu(app, bg, power):
    """facts G6 [M]: the CPU monitor kills a non-frontmost app on battery over 80 % CPU for 60 s
    (a `cpu_resource_fatal` report, 48 s of CPU); [L] it may not apply on AC power. Neither is
    asserted: whether the task is killed, and after how long, is recorded per power source. On
    a phone the battery case needs a switchable hub (otherwise it skips with the reason)."""
    task = app.task("processing")
    app.launch(plan=burning())
    bg.expect("task.submitted", task=task, source="dasd")
    app.background()
    with bg.locked(), bg.on_battery() if power == "battery" else nullcontext():
        launched = bg.first_of(["task.launched"], task, within=48 * 3600)
        if launched is None:
            bg.observe("power", power, outcome="not_launched")
            return
        started = bg.expect("cpu.started", task=task, within=10)
        end = bg.first_of(["app.terminated", "cpu.finished"], within=BURN_S + 60)
    if end is None:
        bg.observe("power", power, outcome="no_end")
        return
    killed = end.kind == "app.terminated"
    reason = end.attrs.get("reason", "unknown") if killed else ""
    outcome = f"killed_{reason}" if killed else "survived"
    bg.observe("power", power, outcome=outcome, after_s=end.time - started.time)
