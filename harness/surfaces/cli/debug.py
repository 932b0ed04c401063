"""`bgharness trigger` and `bgharness expire`: Apple's lldb recipe for one task, from a shell.

Each verb opens the device through the Lab (as a test run does), attaches the debugger bridge to
the running app, evaluates the simulate command built from the checked identifier, detaches,
and prints what the device logged in answer: the answer itself (`task.simulate_launch`,
`task.simulate_expire`) and what followed within `--follow` device seconds (`task.launched`,
or `task.simulate_rejected` with its reason). A rejection is the device's answer, not an error.

`simulate()` does the work and takes a `Lab`, so a caller that already holds the device (the
virtual iPhone's apps live only in the process that launched them) can call it directly.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from harness.core.debugger import check_task_id
from harness.core.errors import HarnessError, UsageError
from harness.core.events import Event
from harness.data.appbundle import AppInfo, read_app
from harness.data.state import state_dir
from harness.lab.lab import Lab
from harness.lab.lease import Holder, LeaseDir, Leases, default_lease_dir
from harness.session.session import App, Session

Action = Literal["trigger", "expire"]
# Device seconds to keep listening after the answer: the launch handler starts within
# milliseconds of a simulated launch on a phone (facts A2), an expiration as fast (facts A3).
FOLLOW_S = 3.0


@dataclass(frozen=True)
class RunningApp:
    """An app the inventory does not list (the user's own, run from Xcode): only its bundle id."""

    bundle_id: str


@dataclass(frozen=True)
class Answer:
    """What the device logged from the simulate command on: `received` is its answer."""

    device: str
    action: Action
    task: str
    pid: int
    received: Event
    events: tuple[Event, ...]
    follow_s: float


def simulate(
    lab: Lab,
    device_name: str,
    bundle_id: str,
    task: str,
    action: Action,
    *,
    follow_s: float = FOLLOW_S,
    say: Callable[[str], None] = lambda line: None,
) -> Answer:
    """Trigger or expire `task` in the running app `bundle_id` on the device; its answer.

    The identifier is checked before anything is opened, so nothing else reaches lldb.
    """
    check_task_id(task)
    if action not in ("trigger", "expire"):
        raise UsageError(f"unknown action {action!r}: trigger or expire")
    if follow_s < 0:
        raise UsageError(f"--follow must be 0 or more device seconds, not {follow_s:g}")
    device = lab.open(device_name)
    pid = device.pid(bundle_id)
    if pid is None:
        raise UsageError(_not_running(device_name, bundle_id, device.info().virtual))
    session = Session(device, lab.journal)
    try:
        info = _app_info(lab, bundle_id)
        if info is None:
            session.app = RunningApp(bundle_id)  # type: ignore[assignment]  # Session needs .bundle_id
        else:
            App(session, info)
            if not info.permits(task):
                say(
                    f"warning: {task} is not in {bundle_id}'s BGTaskSchedulerPermittedIdentifiers"
                    "; iOS holds no request for it, so expect task.simulate_rejected"
                )
        since = session.mark()
        received = session.trigger(task) if action == "trigger" else session.expire(task)
        session.wait(follow_s)
        events = tuple(session.timeline.events(since))
    finally:
        session.close()
    return Answer(device_name, action, task, pid, received, events, follow_s)


def _app_info(lab: Lab, bundle_id: str) -> AppInfo | None:
    """The inventory's app with this bundle id, read from its bundle, or None."""
    for entry in lab.inventory.apps.values():
        try:
            info = read_app(entry.path)
        except HarnessError:
            continue  # an app we cannot read is not the one asked for
        if info.bundle_id == bundle_id:
            return info
    return None


def _not_running(device: str, bundle_id: str, virtual: bool) -> str:
    fix = (
        "the virtual iPhone's apps live only in the process that launched them, so launch the "
        "app and call harness.surfaces.cli.debug.simulate() in that process (or use the `bg` "
        "fixture)"
        if virtual
        else "open it on the phone (or launch it with `app.launch` from a test) and try again"
    )
    return (
        f"{bundle_id} is not running on {device}: the debugger bridge attaches to the running "
        f"app; {fix}"
    )


# -- Printing -----------------------------------------------------------------------------------


def format_answer(answer: Answer) -> list[str]:
    """The answer as lines: a headline, then each event at device seconds from the answer."""
    origin = answer.received.time
    verb = "triggered" if answer.action == "trigger" else "expired"
    when = _utc(origin) if origin is not None else "-"
    lines = [
        f"{answer.device}: {verb} {answer.task} in pid {answer.pid}; the device answered "
        f"{answer.received.kind} at {when} UTC. What it logged (device seconds from the answer):"
    ]
    for event in answer.events:
        at = " " * 8
        if event.time is not None and origin is not None:
            at = f"{event.time - origin:+8.3f}"
        attrs = " ".join(f"{key}={value}" for key, value in sorted(event.attrs.items()))
        mark = "  <- answer" if event is answer.received else ""
        line = f"  {at}  {event.source:<12} {event.kind:<24} {event.task or '-'}  {attrs}"
        lines.append(line.rstrip() + mark)
    rejected = [e for e in answer.events if e.kind == "task.simulate_rejected"]
    if rejected:
        reason = rejected[0].attrs.get("reason", "unknown")
        lines.append(f"rejected: {reason} ({_REJECTED.get(reason, 'see the log above')})")
    unit = "second" if answer.follow_s == 1 else "seconds"
    lines.append(f"(listened {answer.follow_s:g} device {unit} after the command)")
    return lines


_REJECTED = {
    "no_pending_request": "submit a request for the task first; a simulated launch consumes it",
    "already_running": "the task is running; wait for it to complete, or expire it",
    "not_simulated": "only a task started by `bgharness trigger` can be expired this way",
    "no_expiration_handler": "the task set no expirationHandler, so it keeps running",
}


def _utc(time: float) -> str:
    return datetime.fromtimestamp(time, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


# -- The shell ----------------------------------------------------------------------------------


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def cmd_simulate(args: argparse.Namespace) -> None:
    """`bgharness trigger|expire`: build the Lab, simulate, print the answer."""
    check_task_id(args.task)  # before devices.yaml is even read
    # The device is held for the few seconds of the simulate, so a run using it says so at once.
    leases = Leases(LeaseDir(default_lease_dir()), Holder.this_process(), say=_stderr)
    lab = Lab.load(args.devices, state_dir=state_dir(args.devices), say=_stderr, leases=leases)
    try:
        answer = simulate(
            lab, args.device, args.app, args.task, args.verb, follow_s=args.follow, say=_stderr
        )
    finally:
        lab.close()
    if args.format == "jsonl":
        for event in answer.events:
            print(json.dumps(event.as_json(), ensure_ascii=False))
    else:
        print("\n".join(format_answer(answer)))


def register(verbs: argparse._SubParsersAction) -> None:
    helps = {
        "trigger": (
            "launch a background task now, through lldb (Apple's _simulateLaunch recipe)",
            "The app must be running, development-signed, and have submitted a request for "
            "the task.",
        ),
        "expire": (
            "expire a task started by `bgharness trigger`, through lldb",
            "Only a task started by a simulated launch can be expired this way (facts A3).",
        ),
    }
    for verb, (short, more) in helps.items():
        parser = verbs.add_parser(
            verb,
            help=short,
            description=f"{short[0].upper()}{short[1:]}, and print what the device logged in "
            f"answer. {more}",
        )
        parser.add_argument("task", metavar="TASK_ID", help="the task identifier, in full")
        parser.add_argument("--device", required=True, help="the device's name in devices.yaml")
        parser.add_argument("--app", required=True, metavar="BUNDLE_ID", help="the running app")
        parser.add_argument(
            "--devices", default="devices.yaml", metavar="PATH", help="the lab inventory"
        )
        parser.add_argument(
            "--follow",
            type=float,
            default=FOLLOW_S,
            metavar="SECONDS",
            help=f"device seconds to keep listening after the answer (default {FOLLOW_S:g})",
        )
        parser.add_argument(
            "--format",
            choices=("text", "jsonl"),
            default="text",
            help="lines for people (default) or one JSON event per line",
        )
        parser.set_defaults(run=cmd_simulate)
