"""`bgharness trigger` / `expire`: the device's answer printed, on the virtual iPhone.

The virtual iPhone's apps live in the process that launched them, so these tests launch the
probe app through a Lab and hand that Lab to `simulate()`, as the argparse shell would build it.
The shell itself is tested where it answers before any app must run: bad input, app not running.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.core.debugger import simulate_launch_command
from harness.core.errors import UsageError
from harness.lab.lab import Lab
from harness.session.session import App, Session
from harness.surfaces.cli import debug, main
from harness.surfaces.cli.debug import format_answer, simulate
from tests.paths import PROBE_PLIST

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = "dev.bgharness.probe"
REFRESH = f"{BUNDLE}.refresh"
DEVICE = "virtual-iphone"


@pytest.fixture
def devices_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "devices.yaml"
    path.write_text(
        f"apps:\n  BGProbe:\n    path: {PROBE_PLIST}\n"
        f"devices:\n  - name: {DEVICE}\n    backend: virtual\n    tags: [virtual]\n"
    )
    return path


@pytest.fixture
def lab(devices_yaml: Path, tmp_path: Path):
    said: list[str] = []
    the_lab = Lab.load(devices_yaml, state_dir=tmp_path / "state", say=said.append)
    yield the_lab
    the_lab.close()


def launch(lab: Lab, plan: dict) -> int:
    """Install and launch the probe app on the virtual iPhone, in this process."""
    info = lab.install(DEVICE, "BGProbe")
    session = Session(lab.open(DEVICE), lab.journal)
    try:
        return App(session, info).launch(plan)
    finally:
        session.close()


PLAN = {
    "register": ["refresh"],
    "submit": [{"type": "refresh", "id": "refresh"}],
    "handler": {"work_s": 1},
}


def test_trigger_prints_the_answer_and_what_followed(lab):
    pid = launch(lab, PLAN)
    answer = simulate(lab, DEVICE, BUNDLE, REFRESH, "trigger")
    assert answer.received.kind == "task.simulate_launch" and answer.received.task == REFRESH
    assert answer.pid == pid
    kinds = [e.kind for e in answer.events if e.task == REFRESH]
    assert kinds.index("task.simulate_launch") < kinds.index("task.launched")
    assert "task.completed" in kinds, "a 1 s handler completes within the 3 s listened"
    lines = format_answer(answer)
    assert lines[0].startswith(f"{DEVICE}: triggered {REFRESH} in pid {pid}; the device answered")
    answer_line = next(line for line in lines if line.endswith("<- answer"))
    assert "task.simulate_launch" in answer_line and "+0.000" in answer_line
    assert any("task.launched" in line and "simulated=True" in line for line in lines)
    assert lines[-1] == "(listened 3 device seconds after the command)"


def test_a_rejection_is_the_devices_answer_not_an_error(lab):
    launch(lab, {"register": ["refresh"]})  # nothing submitted (facts A2)
    answer = simulate(lab, DEVICE, BUNDLE, REFRESH, "trigger", follow_s=1)
    assert answer.received.kind == "task.simulate_launch"
    rejected = [e for e in answer.events if e.kind == "task.simulate_rejected"]
    assert rejected and rejected[0].attrs["reason"] == "no_pending_request"
    assert "rejected: no_pending_request (submit a request for the task first" in "\n".join(
        format_answer(answer)
    )


def test_expire_after_trigger(lab):
    launch(lab, {**PLAN, "handler": {"work_s": 300}})  # with an expiration handler
    simulate(lab, DEVICE, BUNDLE, REFRESH, "trigger", follow_s=1)
    answer = simulate(lab, DEVICE, BUNDLE, REFRESH, "expire", follow_s=1)
    assert answer.received.kind == "task.simulate_expire"
    assert any(e.kind == "task.expired" and e.task == REFRESH for e in answer.events)
    assert format_answer(answer)[0].startswith(f"{DEVICE}: expired {REFRESH}")


def test_a_task_the_app_does_not_permit_gets_a_warning(lab):
    launch(lab, PLAN)
    said: list[str] = []
    answer = simulate(lab, DEVICE, BUNDLE, f"{BUNDLE}.unlisted", "trigger", say=said.append)
    assert any(
        "not in dev.bgharness.probe's BGTaskSchedulerPermittedIdentifiers" in s for s in said
    )
    assert answer.received.kind == "task.simulate_launch"


def test_an_app_the_inventory_does_not_list_is_still_triggered(lab, monkeypatch):
    """The user's own app, run from Xcode: known only by its bundle id."""
    launch(lab, PLAN)
    monkeypatch.setattr(debug, "_app_info", lambda lab, bundle_id: None)
    answer = simulate(lab, DEVICE, BUNDLE, REFRESH, "trigger", follow_s=0)
    assert answer.received.kind == "task.simulate_launch"


def test_an_injected_identifier_is_refused_before_the_device_is_opened(lab, monkeypatch):
    opened: list[str] = []
    monkeypatch.setattr(lab, "open", lambda name: opened.append(name))
    with pytest.raises(UsageError, match="is not a task identifier"):
        simulate(lab, DEVICE, BUNDLE, 'x"]; process kill; ["', "trigger")
    assert opened == []


def test_an_app_that_is_not_running_says_how_to_run_it(lab):
    with pytest.raises(UsageError, match=r"dev.bgharness.probe is not running on virtual-iphone"):
        simulate(lab, DEVICE, BUNDLE, REFRESH, "trigger")


# -- The shell ---------------------------------------------------------------------------------


def test_the_shell_refuses_an_injected_identifier(devices_yaml, capsys):
    code = main(["trigger", "--devices", str(devices_yaml), "--device", DEVICE, "--app", BUNDLE,
                 'x"]; process kill; ["'])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("bgharness: ") and "is not a task identifier" in err


def test_the_shell_says_the_app_is_not_running(devices_yaml, tmp_path, monkeypatch, capsys):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    states = []
    load = Lab.load

    def spy(devices, state_dir, **kwargs):
        states.append(state_dir)
        return load(devices, state_dir=state_dir, **kwargs)

    monkeypatch.setattr(Lab, "load", spy)
    code = main(["expire", "--devices", str(devices_yaml), "--device", DEVICE, "--app", BUNDLE,
                 REFRESH])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "is not running on virtual-iphone" in err and "simulate()" in err
    # The state folder (the journal the plugin reads too) is next to devices.yaml, wherever the
    # command was started; before, `trigger`/`expire` used the current directory's.
    assert states == [tmp_path / "reports" / ".state"]


def test_the_shell_names_an_unknown_device(devices_yaml, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code = main(["trigger", "--devices", str(devices_yaml), "--device", "nope", "--app", BUNDLE,
                 REFRESH])  # fmt: skip
    assert code == 2 and "nope" in capsys.readouterr().err


def test_the_shell_prints_jsonl(lab, monkeypatch, capsys):
    """The argparse shell with the Lab it would build swapped for one whose app runs."""
    launch(lab, PLAN)
    monkeypatch.setattr(Lab, "load", classmethod(lambda cls, *a, **k: lab))
    monkeypatch.setattr(lab, "close", lambda: None)  # the fixture closes it
    code = main(["trigger", "--device", DEVICE, "--app", BUNDLE, "--format", "jsonl",
                 "--follow", "1", REFRESH])  # fmt: skip
    assert code == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["kind"] == "task.simulate_launch" and events[0]["task"] == REFRESH
    assert any(e["kind"] == "task.launched" for e in events)


def test_the_virtual_debugger_saw_exactly_the_built_command(lab, monkeypatch):
    launch(lab, PLAN)
    device = lab.open(DEVICE)
    seen: list[str] = []
    real = device.debugger

    def spy(pid):
        session = real(pid)
        evaluate = session.evaluate
        session.evaluate = lambda command: seen.append(command) or evaluate(command)
        return session

    monkeypatch.setattr(device, "debugger", spy)
    simulate(lab, DEVICE, BUNDLE, REFRESH, "trigger", follow_s=0)
    assert seen == [simulate_launch_command(REFRESH)]
