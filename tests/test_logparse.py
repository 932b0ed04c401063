"""logparse: real labelled lines, each message form, each container, the fast path, selection."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable
from datetime import UTC, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymobiledevice3.cli.syslog import format_json_line, format_line
from pymobiledevice3.services.os_trace import SyslogEntry, SyslogLabel, SyslogLogLevel

from harness.core import timeline_svg
from harness.core.events import KINDS, REASONS, Event, LogEntry
from harness.core.logparse import (
    NO_PID,
    NO_TIME,
    TRIGGERS,
    Selection,
    Since,
    UnknownKind,
    count_blocks,
    kinds_named,
    parse_blocks,
    parse_entry,
    parse_lines,
    parse_since,
    read_entries,
)
from tests import corpus_score
from tests.data import noise

DATA = Path(__file__).parent / "data"
CORPUS = DATA / "corpus"
LABELLED = [
    json.loads(line)
    for path in (CORPUS / "dev-lines.jsonl", DATA / "more-lines.jsonl")
    for line in path.open(encoding="utf-8")
]
FORMATS = {json.loads(line)["format"] for line in (CORPUS / "format-strings.jsonl").open("rb")}

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC).timestamp()
FRAMEWORK = {"subsystem": "com.apple.BackgroundTasks", "category": "Framework"}


def events(text: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    return [(e.kind, e.task, e.attrs) for e in parse_lines(text.split("\n"))]


def syslog(message: str, process: str = "BGProbe", **fields: Any) -> str:
    """`message` as pymobiledevice3 syslog live --label prints it (framework by default)."""
    fields = FRAMEWORK | fields
    fields.setdefault("image", "BackgroundTasks")
    return LogEntry(T0, process, 412, message, **fields).syslog_line()


def short(value: object) -> str | None:
    """A test id: the start of a line's message, on one line; the default for anything else."""
    if not isinstance(value, str):
        return None
    return value.rpartition(">: ")[2].replace("\n", "⏎")[:60]


def lines_of(text: str) -> list[str]:
    """`text` split as a file iterator splits it: at newlines, no empty line after the last."""
    lines = text.split("\n")
    return lines[:-1] if lines[-1] == "" else lines


def essence(found: Iterable[Event]) -> list[tuple[Any, ...]]:
    return [(e.kind, e.task, e.time, e.source, e.process, e.pid, e.attrs, e.raw) for e in found]


# -- The labelled lines ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "line", [d for d in LABELLED if not d["negative"]], ids=lambda d: short(d["text"])
)
def test_every_labelled_line_yields_its_kind_and_task(line: dict[str, Any]) -> None:
    assert [(e.kind, e.task) for e in parse_lines(line["text"].split("\n"))] == [
        (line["kind"], line["task"])
    ]


@pytest.mark.parametrize(
    "line", [d for d in LABELLED if d["negative"]], ids=lambda d: short(d["text"])
)
def test_no_negative_labelled_line_yields_a_task_event(line: dict[str, Any]) -> None:
    assert not [e for e in parse_lines(line["text"].split("\n")) if e.kind.startswith("task.")]


# -- The corpus of issue 12: real lines from public threads, a fifth held back -------------

ISSUE_LINES = corpus_score.load()


@pytest.mark.parametrize(
    "line", [d for d in ISSUE_LINES if not d["negative"]], ids=lambda d: short(d["text"])
)
def test_every_real_line_yields_its_event_with_the_reason_its_family_carries(
    line: dict[str, Any],
) -> None:
    got = [(e.kind, e.task, e.attrs) for e in parse_lines(line["text"].split("\n"))]
    assert corpus_score.found(line, checked=None), got  # every attr the label names


@pytest.mark.parametrize(
    "line", [d for d in ISSUE_LINES if d["negative"]], ids=lambda d: short(d["text"])
)
def test_no_real_look_alike_yields_a_task_event(line: dict[str, Any]) -> None:
    assert corpus_score.false_events(line) == 0


def test_every_reason_the_parser_gives_is_one_of_the_documented_reasons() -> None:
    reasons = {
        e.attrs["reason"]
        for line in ISSUE_LINES + LABELLED
        for e in parse_lines(line["text"].split("\n"))
        if e.kind in ("app.terminated", "task.expired") and "reason" in e.attrs
    }
    assert reasons <= REASONS
    assert {"watchdog", "file_lock", "memory", "cpu", "signal", "crash"} <= reasons


def test_the_held_back_fifth_is_read_with_recall_of_at_least_0_95() -> None:
    held = corpus_score.score(line for line in ISSUE_LINES if corpus_score.held_back(line))
    assert held["recall"] >= 0.95
    assert held["false_task_events"] == 0


def test_the_corpus_is_large_real_and_spread_over_eras_and_containers() -> None:
    negatives = [d for d in ISSUE_LINES if d["negative"]]
    assert len(ISSUE_LINES) >= 300
    assert len(negatives) >= len(ISSUE_LINES) / 4
    assert all(d["source"].startswith("https://") and d["era"] and d["container"]
               for d in ISSUE_LINES)  # fmt: skip
    eras = " ".join(d["era"] for d in ISSUE_LINES)
    for major in (13, 14, 15, 16, 17, 18, 26):  # Apple went from iOS 18 to 26
        assert f"iOS {major}" in eras
    containers = {d["container"].split(" (")[0] for d in ISSUE_LINES}
    assert {"Xcode console", "Console.app", "idevicesyslog", "crash report", "bare"} <= containers
    held = sum(map(corpus_score.held_back, ISSUE_LINES))
    assert 0.15 < held / len(ISSUE_LINES) < 0.25  # the split is by hash, about a fifth


# -- The iOS format strings, filled in ------------------------------------------------------

REFRESH = "<BGAppRefreshTask: com.x.refresh>"
EXPORT_REQUEST = (
    "<BGContinuedProcessingTaskRequest: com.x.refresh, (title: Export, subtitle: 3 files, "
    "resources: gpu, submissionStrategy: Fail)>"
)


@pytest.mark.parametrize(
    ("form", "argument", "kind", "attrs"),
    [
        ("registerForTaskWithIdentifier: %{public}@", "com.x.refresh", "task.registered", {}),
        ("_registerForTaskWithDynamicIdentifier: %{public}@", "com.x.refresh",
         "task.registered", {"dynamic": True}),
        ("Registration rejected; %@ is not advertised in the application's Info.plist",
         "com.x.refresh", "task.registration_error", {"reason": "not_permitted"}),
        ("Dynamic registration rejected; %@ is not a well-formed identifier for this "
         "application", "com.x.refresh", "task.registration_error",
         {"reason": "not_permitted", "dynamic": True}),
        ("%{public}@ is not advertised in the application's Info.plist", "com.x.refresh",
         "task.submit_failed", {"code": 3}),
        ("submitTaskRequest:completionHandler: %{public}@",
         "<BGAppRefreshTaskRequest: com.x.refresh, earliestBeginDate: (null)>",
         "task.submitted", {"type": "refresh"}),
        ("%{public}@ requested an unsupported set of resources: %{public}@", EXPORT_REQUEST,
         "task.submit_failed", {"code": 1, "type": "continued", "resources": EXPORT_REQUEST}),
        ("cancelTaskRequestWithIdentifier: %{public}@", "com.x.refresh", "task.canceled", {}),
        ("Simulating launch for task with identifier %{public}@", "com.x.refresh",
         "task.simulate_launch", {}),
        ("Simulating expiration for task with identifier %{public}@", "com.x.refresh",
         "task.simulate_expire", {}),
        ("No task request with identifier %{public}@ has been scheduled", "com.x.refresh",
         "task.simulate_rejected", {"reason": "no_pending_request"}),
        ("Task with identifier %{public}@ is already running", "com.x.refresh",
         "task.simulate_rejected", {"reason": "already_running"}),
        ("Task with identifier %{public}@ is not currently being simulated", "com.x.refresh",
         "task.simulate_rejected", {"reason": "not_simulated"}),
        ("No expiration handler for task: %{public}@", REFRESH, "task.simulate_rejected",
         {"reason": "no_expiration_handler", "type": "refresh"}),
        ("Running task: %{public}@", REFRESH, "task.launched", {"type": "refresh"}),
        ("Starting task: %{public}@", REFRESH, "task.launched",
         {"type": "refresh", "simulated": False}),
        ("Starting simulated task: %{public}@", REFRESH, "task.launched",
         {"type": "refresh", "simulated": True}),
        ("Expiring task: %{public}@", REFRESH, "task.expired", {"type": "refresh"}),
        ("Expiring simulated task: %{public}@", REFRESH, "task.expired",
         {"type": "refresh", "simulated": True}),
        ("Marking simulated task complete: %@", REFRESH, "task.completed",
         {"type": "refresh", "simulated": True}),
        ("Client didn't provide an expiration handler for task %{public}@, completing with NO "
         "success for them", REFRESH, "task.completed",
         {"type": "refresh", "success": False, "no_expiration_handler": True}),
        ("Launch handler for task with identifier %@ has already been registered",
         "com.x.refresh", "task.registration_error", {"reason": "duplicate"}),
        ("No launch handler registered for task with identifier %@", "com.x.refresh",
         "task.registration_error", {"reason": "no_handler"}),
        ("Handling launch from daemon for activities: %@",
         "{(\n    bgRefresh-com.x.refresh:6796B3\n)}", "task.launched",
         {"type": "refresh", "activity": "6796B3", "simulated": False}),
        ("Application launched for activities: %{public}@",
         "{(\n    bgRefresh-com.x.refresh:6796B3\n)}", "task.launched",
         {"type": "refresh", "activity": "6796B3", "simulated": False}),
        ("Calling handlers for activities: %{public}@",
         "{(\n    bgRefresh-com.x.refresh:6796B3\n)}", "task.launched",
         {"type": "refresh", "activity": "6796B3", "simulated": False}),
        ("Calling expiration handlers for activities: %{public}@",
         "{(\n    bgRefresh-com.x.refresh:6796B3\n)}", "task.expired",
         {"type": "refresh", "activity": "6796B3"}),
        ("Submitting task request activity: %@", "bgRefresh-com.x.refresh:6796B3",
         "task.submitted", {"type": "refresh", "activity": "6796B3"}),
    ],
)  # fmt: skip
def test_a_format_string_filled_in_is_recognised(
    form: str, argument: str, kind: str, attrs: dict[str, Any]
) -> None:
    assert form in FORMATS
    message = form.replace("%{public}@", argument, 1).replace("%@", argument, 1)
    if "%{public}@" in message:  # the second argument, when there is one
        message = message.replace("%{public}@", argument)
    assert events(syslog(message)) == [(kind, "com.x.refresh", attrs)]


@pytest.mark.parametrize(
    ("prefix", "activity"),
    [
        ("Submitted Activity: <_DASActivity: bgRefresh-", "com.x.refresh:6796B3, Background,"),
        ('SUBMITTED <_DASActivity: "bgRefresh-', 'com.x.refresh:6796B3", Utility'),
        ("Submitted: <_DASActivity: ", "bgRefresh-com.x.refresh:6796B3, Background,"),
    ],
)
def test_dasd_submissions_apple_s_own_extractor_looks_for_are_recognised(
    prefix: str, activity: str
) -> None:
    assert prefix in FORMATS
    line = syslog(prefix + activity, process="dasd", **DASD_LABEL)
    assert events(line) == [
        ("task.submitted", "com.x.refresh", {"type": "refresh", "activity": "6796B3"})
    ]


# Format strings iOS logs around a task that are deliberately no event: each says something a
# recognised line already says (the launch, the expiry), or nothing about one task. The app's
# side of dasd (`Submitting task request activity`, `Application launched`/`Calling handlers
# for activities`, `Calling expiration handlers for activities`) is an event since issue 12:
# users paste those lines alone, from iOS versions whose other lines they did not copy.
NOT_EVENTS = [
    "Getting pending task requests",
    "Found pending activities: %{public}@",
    "Handling app launch",
    "Queued activities for expiration: %{public}@",
    "Calling expiration handlers for tasks: %{public}@",
    "Will expire activities: %{public}@",
    "Will expire BGTask activities: %@",
    "Activity: %@ blocked on policies: %@",
    "Acknowledging pause for task %{public}@",
    "Handling suspension for activities: %{public}@",
    "Task %{public}@ already completed, ignoring pause acknowledgement",
]


@pytest.mark.parametrize("form", NOT_EVENTS)
def test_a_format_string_that_is_no_event_yields_none(form: str) -> None:
    assert form in FORMATS
    argument = "{(\n    bgRefresh-com.x.refresh:6796B3\n)}" if "activities" in form else REFRESH
    assert events(syslog(form.replace("%{public}@", argument).replace("%@", argument))) == []


# -- Message forms and identifier normalisation ---------------------------------------------

DASD_LABEL = {"subsystem": "com.apple.duetactivityscheduler", "category": "lifecycle"}
DASD = {"process": "dasd", "image": "DuetActivityScheduler"} | DASD_LABEL
RB = {"process": "runningboardd", "subsystem": "com.apple.runningboard", "category": "process"}
RB |= {"image": "RunningBoard"}
REQUEST = "<BGAppRefreshTaskRequest: com.x.refresh, earliestBeginDate: 2026-01-05 09:15:00 +0000>"
PROCESSING_REQUEST = (
    "<BGProcessingTaskRequest: com.x.db, earliestBeginDate: (null), requiresExternalPower=1, "
    "requiresNetworkConnectivity=0>"
)
APP = "[app<com.x.app(3A0000C6-D07E-F7B7-7E90-D3593AD699FC)>:716]"


def crash_report(*fields: str) -> str:
    """A crash report's header fields around `fields`, as a `.crash` file lists them."""
    head = [
        "Incident Identifier: 6F0E1E9B-8D2D-4C1A-9A0D-3C0F7E1B2A44",
        "Hardware Model:      iPhone14,5",
        "Process:             BGProbe [1234]",
        "Identifier:          dev.bgharness.probe",
        "Version:             1.0 (1)",
        "",
    ]
    return "\n".join([*head, *fields, "Triggered by Thread:  0", "", "Thread 0 name:"])


CRASH = {"bundle": "dev.bgharness.probe", "pid": 1234, "name": "BGProbe"}


@pytest.mark.parametrize(
    ("line", "kind", "task", "attrs"),
    [
        # dasd activities: bg<Type>-<identifier>:<hex>
        (syslog("Submitted: bgRefresh-com.x.refresh:6796B3 at priority 10", **DASD),
         "task.submitted", "com.x.refresh",
         {"type": "refresh", "activity": "6796B3", "priority": 10}),
        (syslog("SUBMITTED: bgProcessing-com.x.db:0A1B2C at priority 10", **DASD),
         "task.submitted", "com.x.db",
         {"type": "processing", "activity": "0A1B2C", "priority": 10}),
        ("SUBMITTED bgContinuedProcessing-com.x.export:C0FFEE at priority 90", "task.submitted",
         "com.x.export", {"type": "continued", "activity": "C0FFEE", "priority": 90}),
        (syslog("CANCELED: bgRefresh-com.x.refresh:6796B3 at priority 10", **DASD),
         "task.canceled", "com.x.refresh", {"type": "refresh", "activity": "6796B3"}),
        ("CANCELED bgContinuedProcessing-com.x.export", "task.canceled", "com.x.export",
         {"type": "continued"}),
        (syslog("NO LONGER RUNNING bgRefresh-com.x.refresh:6796B3 ...Tasks running in group "
                "[com.apple.dasd.default] are 1!", **DASD),
         "task.no_longer_running", "com.x.refresh", {"type": "refresh", "activity": "6796B3"}),
        # task and request descriptions
        (syslog("Running task: <BGProcessingTask: com.x.db>"), "task.launched", "com.x.db",
         {"type": "processing"}),
        (syslog("Running task: <BGContinuedProcessingTask: com.x.export (Exporting 3 files)>"),
         "task.launched", "com.x.export", {"type": "continued"}),
        (syslog(f"submitTaskRequest: {REQUEST}"), "task.submitted", "com.x.refresh",
         {"type": "refresh"}),
        (syslog(f"submitTaskRequest: {PROCESSING_REQUEST}"), "task.submitted", "com.x.db",
         {"type": "processing", "requires_power": True, "requires_network": False}),
        (syslog("Marking task <BGAppRefreshTask: com.x.refresh> complete with success: 1"),
         "task.completed", "com.x.refresh", {"type": "refresh", "success": True}),
        (syslog("Marking task <BGProcessingTask: com.x.db> complete with success: 0"),
         "task.completed", "com.x.db", {"type": "processing", "success": False}),
        (syslog("com.x.export requested an unsupported set of resources: gpu"),
         "task.submit_failed", "com.x.export", {"code": 1, "resources": "gpu"}),
        # identifiers the log hides
        (syslog("Starting simulated task: <decode: missing data>"), "task.launched", None,
         {"simulated": True}),
        (syslog("No task request with identifier <decode: missing data> has been scheduled"),
         "task.simulate_rejected", None, {"reason": "no_pending_request"}),
        (syslog("Marking simulated task complete: <private>"), "task.completed", None,
         {"simulated": True}),
        # submission errors
        (syslog(f'Error submitting task request: {REQUEST}, error: Error Domain='
                f'BGTaskSchedulerErrorDomain Code=3 "(null)" UserInfo={{Unrecognized '
                f'Identifier=com.x.refresh}}'),
         "task.submit_failed", "com.x.refresh", {"type": "refresh", "code": 3}),
        (syslog('Could not schedule: Error Domain=BGTaskSchedulerErrorDomain Code=2 "(null)"',
                subsystem="com.x.app", category="bg", image="BGProbe.debug.dylib"),
         "task.submit_failed", None, {"code": 2}),
        ("The operation couldn't be completed. (BGTaskSchedulerErrorDomain error 4.)",
         "task.submit_failed", None, {"code": 4}),
        (syslog("cancelAllTaskRequests"), "task.canceled", None, {"all": True}),
        ("*** Terminating app due to uncaught exception 'NSInternalInconsistencyException', "
         "reason: 'No launch handler registered for task with identifier com.x.refresh'",
         "task.registration_error", "com.x.refresh", {"reason": "no_handler"}),
        ("*** Terminating app due to uncaught exception 'NSInternalInconsistencyException', "
         "reason: 'All launch handlers must be registered before application finishes "
         "launching'", "task.registration_error", None, {"reason": "too_late"}),
        # the handler launch NSSet: one event per activity
        (syslog("Handling launch from daemon for activities: {(\n    bgRefresh-com.x.refresh:"
                "6796B3,\n    bgProcessing-com.x.db:0A1B2C\n)}", image="DuetActivityScheduler"),
         "task.launched", "com.x.refresh",
         {"type": "refresh", "activity": "6796B3", "simulated": False}),
        # SpringBoard, RunningBoard, the kernel: processes start, stop and end
        (syslog('SBWorkspaceTerminateApplication: com.x.app: "killed from app switcher"',
                process="SpringBoard", subsystem="com.apple.SpringBoard", category="Workspace",
                image="SpringBoard"),
         "app.terminated", None, {"bundle": "com.x.app", "reason": "user_force_quit"}),
        (syslog("Removing assertions for terminated process: [application<com.x.app>:716]",
                **RB),
         "app.terminated", None, {"bundle": "com.x.app", "pid": 716}),
        (syslog(f"Removing assertions for terminated process: {APP}", **RB),
         "app.terminated", None, {"bundle": "com.x.app", "pid": 716}),
        (syslog("Executing launch request for app<com.x.app(3A0000C6-D07E-F7B7-7E90-D3593AD6"
                "99FC)> (DAS background launch)", **RB),
         "app.launched", None, {"bundle": "com.x.app"}),
        (syslog(f"{APP} Suspending task.", **RB), "app.suspended", None,
         {"bundle": "com.x.app", "pid": 716}),
        (syslog(f"{APP} Resuming task.", **RB), "app.resumed", None,
         {"bundle": "com.x.app", "pid": 716}),
        (syslog(f"{APP} Process exited: <RBSProcessExitContext| voluntary>.", **RB),
         "app.terminated", None, {"bundle": "com.x.app", "pid": 716, "exit": "voluntary"}),
        (syslog(f"{APP} exited with context <RBSProcessExitContext| status:<RBSProcessExitStatus"
                "| domain:jetsam(1) code:per-process-limit(7)>>", **RB),
         "app.terminated", None, {"bundle": "com.x.app", "pid": 716, "reason": "memory",
                                  "status": "domain:jetsam(1) code:per-process-limit(7)"}),
        (syslog(f"{APP} Process exited: <RBSProcessExitContext| specific, status:<RBSProcess"
                "ExitStatus| domain:signal(2) code:SIGKILL(9)>>.", **RB),
         "app.terminated", None, {"bundle": "com.x.app", "pid": 716, "reason": "signal",
                                  "status": "domain:signal(2) code:SIGKILL(9)"}),
        (syslog(f"{APP} Process exited: <RBSProcessExitContext| specific, status:<RBSProcess"
                "ExitStatus| domain:frontboard(10) code:0x8badf00d>>.", **RB),
         "app.terminated", None, {"bundle": "com.x.app", "pid": 716, "reason": "watchdog",
                                  "status": "domain:frontboard(10) code:0x8badf00d"}),
        (syslog("memorystatus: killing_specific_process pid 999 [BGProbe] (per-process-limit 10 "
                "3s rf:- type:app) 80010KB - memorystatus_available_pages: 4534",
                process="kernel", subsystem="com.apple.xnu", category="memorystatus",
                image="kernel"),
         "app.terminated", None, {"reason": "memory", "pid": 999, "name": "BGProbe",
                                  "cause": "per-process-limit"}),
        ("memorystatus: killing largest compressed process BGProbe [1234] 2048 MB",
         "app.terminated", None, {"reason": "memory", "pid": 1234, "name": "BGProbe"}),
        # crash reports: the fields of one report are one record
        ("Termination Reason: RUNNINGBOARD 0xdead10cc", "app.terminated", None,
         {"reason": "file_lock", "termination": "RUNNINGBOARD 0xdead10cc"}),
        (crash_report("Exception Type:  EXC_CRASH (SIGKILL)",
                      "Exception Codes: 0x0000000000000000, 0x0000000000000000",
                      "Termination Reason: FRONTBOARD 2343432205 <RBSTerminateContext| "
                      "domain:10 code:0x8BADF00D explanation:scene-update watchdog "
                      "transgression>"),
         "app.terminated", None,
         CRASH | {"reason": "watchdog", "exception": "EXC_CRASH (SIGKILL)",
                  "termination": "FRONTBOARD 2343432205 <RBSTerminateContext| domain:10 "
                                 "code:0x8BADF00D explanation:scene-update watchdog "
                                 "transgression>"}),
        (crash_report("Exception Type:  EXC_CRASH (SIGKILL)",
                      "Termination Reason: Namespace RUNNINGBOARD, Code 3735883980"),
         "app.terminated", None,
         CRASH | {"reason": "file_lock", "exception": "EXC_CRASH (SIGKILL)",
                  "termination": "Namespace RUNNINGBOARD, Code 3735883980"}),
        (crash_report("Exception Type:  EXC_BAD_ACCESS (SIGSEGV)",
                      "Exception Subtype: KERN_INVALID_ADDRESS at 0x0000000000000010",
                      "Termination Reason: SIGNAL 11 Segmentation fault: 11"),
         "app.terminated", None,
         CRASH | {"reason": "crash", "exception": "EXC_BAD_ACCESS (SIGSEGV)",
                  "termination": "SIGNAL 11 Segmentation fault: 11"}),
        (crash_report("Exception Type:  EXC_RESOURCE", "Exception Subtype: CPU_FATAL",
                      "Exception Message: (Limit 80%) Observed 89% over 60 secs"),
         "app.terminated", None, CRASH | {"reason": "cpu", "exception": "EXC_RESOURCE"}),
        (crash_report("Exception Type:  EXC_CRASH (SIGKILL)",
                      "Termination Reason: Namespace JETSAM, Code 7 per-process-limit"),
         "app.terminated", None,
         CRASH | {"reason": "memory", "exception": "EXC_CRASH (SIGKILL)",
                  "termination": "Namespace JETSAM, Code 7 per-process-limit"}),
        (crash_report("Exception Type:  EXC_CRASH (SIGKILL)"), "app.terminated", None,
         CRASH | {"reason": "signal", "exception": "EXC_CRASH (SIGKILL)"}),
        # the probe app
        (syslog('bgprobe {"event": "task.progress", "task": "com.x.export", "completed": 3, '
                '"total": 10}', subsystem="dev.bgharness.probe", category="lifecycle",
                image="BGProbe.debug.dylib"),
         "task.progress", "com.x.export", {"completed": 3, "total": 10}),
        # the rest of the vocabulary
        ("A background URLSession with identifier com.x.bg already exists!", "urlsession.misuse",
         None, {"session": "com.x.bg", "problem": "duplicate_session"}),
        ("SecItemCopyMatching failed: -25308", "keychain.locked", None, {}),
        ("Keychain read failed: errSecInteractionNotAllowed", "keychain.locked", None, {}),
        ("error: <user expression 0>:1:9: use of undeclared identifier 'BGTaskScheduler'",
         "debugger.error", None,
         {"message": "error: <user expression 0>:1:9: use of undeclared identifier "
                     "'BGTaskScheduler'"}),
        ("(lldb) error: Execution was interrupted, reason: signal SIGSTOP.", "debugger.error",
         None, {"message": "error: Execution was interrupted, reason: signal SIGSTOP."}),
        ("Error [IRForTarget]: Couldn't resolve the class for an Objective-C static method call",
         "debugger.error", None,
         {"message": "Error [IRForTarget]: Couldn't resolve the class for an Objective-C static "
                     "method call"}),
    ],
    ids=short,
)  # fmt: skip
def test_message_form(line: str, kind: str, task: str | None, attrs: dict[str, Any]) -> None:
    assert events(line)[0] == (kind, task, attrs)


def test_every_activity_of_a_launch_gets_its_event() -> None:
    line = syslog("Handling launch from daemon for activities: {(\n    bgRefresh-com.x.a:1,\n"
                  "    bgProcessing-com.x.b:2\n)}")  # fmt: skip
    assert [(kind, task) for kind, task, _ in events(line)] == [
        ("task.launched", "com.x.a"),
        ("task.launched", "com.x.b"),
    ]


@pytest.mark.parametrize(
    "line",
    [
        'bgprobe {"event": "task.exploded", "task": "com.x.refresh"}',
        'bgprobe {"event": "task.launched", "task": ',
        'bgprobe ["task.launched"]',
        'bgprobe {"event": ["task.launched"]}',
        'bgprobe {"event": "task.launched", "task": 7}',
    ],
)
def test_a_malformed_probe_report_yields_nothing(line: str) -> None:
    assert events(line) == []


# -- Every kind, from iOS's own lines and from the probe ------------------------------------

# One line iOS itself writes for each kind; None where iOS writes none and only the probe
# reports it (progress of a continued task is KVO on the task, never logged).
SYSTEM_LINES: dict[str, str | None] = {
    "task.registered": syslog("registerForTaskWithIdentifier: com.x.refresh"),
    "task.registration_error": syslog("Registration rejected; com.x.refresh is not advertised "
                                      "in the application's Info.plist"),
    "task.submitted": syslog("Submitted: bgRefresh-com.x.refresh:6796B3 at priority 10", **DASD),
    "task.submit_failed": syslog("com.x.refresh is not advertised in the application's "
                                 "Info.plist"),
    "task.canceled": syslog("CANCELED: bgRefresh-com.x.refresh:6796B3 at priority 10", **DASD),
    "task.simulate_launch": syslog("Simulating launch for task with identifier com.x.refresh"),
    "task.simulate_expire": syslog("Simulating expiration for task with identifier "
                                   "com.x.refresh"),
    "task.simulate_rejected": syslog("Task with identifier com.x.refresh is already running"),
    "task.launched": syslog(f"Running task: {REFRESH}"),
    "task.progress": None,
    "task.expired": syslog(f"Expiring task: {REFRESH}"),
    "task.completed": syslog(f"Marking task {REFRESH} complete with success: 1"),
    "task.no_longer_running": syslog("NO LONGER RUNNING bgRefresh-com.x.refresh:6796B3", **DASD),
    "task.card": None,  # the virtual iPhone's own line; iOS's is not known
    "app.launched": syslog("Executing launch request for app<com.x.app(3A0000C6)> (DAS)", **RB),
    "app.suspended": syslog(f"{APP} Suspending task.", **RB),
    "app.resumed": syslog(f"{APP} Resuming task.", **RB),
    "app.terminated": syslog(f"{APP} Process exited: <RBSProcessExitContext| voluntary>.", **RB),
    "bgtime.overdue": '[BackgroundTask] Background Task 5 ("RNBackgroundTimer"), was created '
                      "over 30 seconds ago. In applications running in the background, this "
                      "creates a risk of termination.",
    "bgtime.expired_not_ended": "Background task still not ended after expiration handlers "
                                "were called: <_UIBackgroundTaskInfo: 0x2802cddc0>: taskID = "
                                "261, taskName = Called by X, creationTime = 123280",
    "bgtime.end_error": "Can't end BackgroundTask: no background task exists with identifier 3 "
                        "(0x3), or it may have already been ended.",
    "urlsession.disconnected": "BackgroundSession <C80785BD-8961-43DE-BF2F-6CE61F974981> "
                               "connection to background transfer daemon interrupted",
    "urlsession.misuse": "Completion handler blocks are not supported in background sessions. "
                         "Use a delegate instead.",
    "keychain.locked": "Failure in SecureStorage.get() - User interaction is not allowed",
    "gpu.denied": "Execution of the command buffer was aborted due to an error during "
                  "execution. Insufficient Permission (to submit GPU Work from background)",
    "debugger.error": "error: The expression could not be prepared to run in the target",
    # Written only by the probe app (harness.core.events.PROBE_EVENTS): no system line.
    **{k: None for k in ("app.tapped", "plan.rejected", "task.cancel_requested",
                         "keychain.read", "file.access", "bgtime.began", "bgtime.ended",
                         "bgtime.expired", "upload.started", "upload.finished",
                         "memory.allocated", "gpu.work", "cpu.started", "cpu.finished")},
}  # fmt: skip


def test_the_system_lines_name_every_kind() -> None:
    assert set(SYSTEM_LINES) == KINDS


@pytest.mark.parametrize(
    ("kind", "line"), [(k, v) for k, v in sorted(SYSTEM_LINES.items()) if v], ids=str
)
def test_every_kind_is_recognised_from_a_line_ios_writes(kind: str, line: str) -> None:
    (event,) = parse_lines(line.split("\n"))
    assert (event.kind, event.source != "probe") == (kind, True)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_every_kind_is_recognised_from_the_probe(kind: str) -> None:
    report = json.dumps({"event": kind, "task": "com.x.refresh", "n": 1}, sort_keys=True)
    line = syslog(f"bgprobe {report}", subsystem="dev.bgharness.probe", category="lifecycle")
    (event,) = parse_lines([line])
    assert (event.kind, event.task, event.source, event.attrs) == (
        kind, "com.x.refresh", "probe", {"n": 1}
    )  # fmt: skip


# -- Noise ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "[BGTASK] Perform bg fetch com.example.bgRefresh",
        syslog("Running task: upload photos", subsystem="com.x.app", category="sync",
               image="BGProbe.debug.dylib"),
        syslog("SUBMITTED: com.apple.CacheDelete.daily:1A2B3C at priority 30", **DASD),
        syslog("Submitted: bgRefresh-com.x.refresh:6796B3 at priority 10", subsystem="com.x.app",
               category="bg", image="BGProbe.debug.dylib"),
        syslog("Getting pending task requests"),
        syslog("Found pending activities: {(\n    bgRefresh-com.x.refresh:6796B3\n)}"),
        syslog("Acquiring assertion targeting [app<com.x.app(ABC)>:900] from originator "
               "[daemon<com.apple.dasd>:120] with description <RBSAssertionDescriptor| \"DAS "
               "DYLD3 Closure Generation\" ID:33-120-1234 target:900>", **RB),
        syslog("error: could not open cache", process="BGProbe", subsystem="com.x.app",
               category="db", image="BGProbe.debug.dylib"),
        syslog("Received memory warning.", subsystem="com.apple.UIKit", category="Application",
               image="UIKitCore"),
        syslog("memorystatus: BGProbe [412] exceeded mem limit: ActiveSoft 1536 MB (non-fatal)",
               process="kernel", subsystem="", category="", image="kernel"),
        syslog("[xpcservice<com.apple.WebKit.WebContent([app<com.x.app>:12])>:99] Suspending "
               "task.", **RB),
        syslog("[xpcservice<com.apple.x>:99] Process exited: <RBSProcessExitContext| "
               "voluntary>.", **RB),
        syslog("Task with identifier com.x.refresh done", subsystem="com.x.app", category="bg",
               image="BGProbe.debug.dylib"),
        "[TSBackgroundFetch handleBGAppRefreshTask] com.transistorsoft.fetch",
        crash_report("Exception Type:  EXC_RESOURCE", "Exception Subtype: WAKEUPS",
                     "Exception Message: (Limit 150/sec) Observed 350/sec over 300 secs"),
    ],
    ids=short,
)  # fmt: skip
def test_noise_yields_no_task_event(line: str) -> None:
    assert not [kind for kind, _, _ in events(line) if kind.startswith(("task.", "app."))]


def test_an_apps_own_line_naming_a_task_is_no_event() -> None:
    own = {"subsystem": "com.x.app", "category": "bg", "image": "BGProbe.debug.dylib"}
    for message in noise.SHAPES:
        line = syslog(message.format_map(noise.FILLER), **own)
        assert not [kind for kind, _, _ in events(line) if kind.startswith("task.")], line


def render(draw: st.DrawFn, sender: noise.Sender, message: str, when: float) -> str:
    """`message` from `sender` in a container drawn at random (bare text included)."""
    stamp = datetime.fromtimestamp(when, UTC)
    iso = stamp.strftime("%Y-%m-%d %H:%M:%S.%f")
    pid = 97 if sender.process == "dasd" else 412
    label = f"[{sender.subsystem}:{sender.category}] " if sender.subsystem else ""
    return draw(st.sampled_from([
        LogEntry(when, sender.process, pid, message, sender.subsystem, sender.category,
                 image=sender.image).syslog_line(),
        f"{iso}+0000 {sender.process}[{pid}:1a2b] {message}",
        f"{iso}-0500 0x1a2b     Default     0x0     {pid}    0    {sender.process}: "
        f"({sender.image}) {label}{message}",
        f"{iso[:-3]} Df {sender.process}[{pid}:1a2b] {label}{message}",
        f"{iso}-0500  localhost {sender.process}[{pid}]: {message}",
        f"Jan  5 09:00:00 iPhone {sender.process}({sender.image})[{pid}] <Notice>: {message}",
        f"default\t{iso[11:]}+0100\t{sender.process}\t{message}",
        f"default\t{iso} +0100\t{sender.process}\t{sender.subsystem}\t{message}",
        message,
    ]))  # fmt: skip


@st.composite
def noise_lines(draw: st.DrawFn) -> str:
    rng = draw(st.randoms(use_true_random=False))
    return render(draw, noise.noise_sender(rng), noise.noise_message(rng), T0)


@settings(deadline=None)  # a busy machine is slow, not wrong (issue 15)
@given(st.lists(noise_lines(), max_size=8))
def test_random_noise_yields_no_task_event(lines: list[str]) -> None:
    text = "\n".join(lines)
    assert not [e for e in parse_lines(lines_of(text)) if e.kind.startswith("task.")]
    assert not [e for e in parse_blocks([text.encode()]) if e.kind.startswith("task.")]


# -- Who said it ----------------------------------------------------------------------------

RUNNING = "Running task: <BGAppRefreshTask: com.x.refresh>"


@pytest.mark.parametrize(
    ("line", "source"),
    [
        (syslog(RUNNING), "framework"),
        (syslog(RUNNING, subsystem="", category="", image="BackgroundTasks"), "framework"),
        (syslog(RUNNING, image=""), "framework"),
        (RUNNING, "framework"),
        (f"2019-06-18 23:36:54.523814+0800 NetNewsWire[5127:695645] {RUNNING}", "framework"),
        (syslog(RUNNING, subsystem="com.x.app", category="bg", image="BGProbe.debug.dylib"),
         "app"),
        (syslog(RUNNING, subsystem="dev.bgharness.probe", category="lifecycle"), "probe"),
        (syslog("CANCELED: bgRefresh-com.x.refresh:1", **DASD), "dasd"),
        ("dasd  [duetactivityscheduler] CANCELED: bgRefresh-com.x.refresh:1", "dasd"),
        ("default\t14:55:03.994262+0100\trunningboardd\tRemoving assertions for terminated "
         "process: [application<com.x.app>:716]", "runningboard"),
        ("error: The expression could not be prepared to run in the target", "lldb"),
        ("memorystatus: killing_top_process pid 901 [node] jetsam_reason->osr_code: 2",
         "kernel"),
        ("2026-10-06 00:18:48.912 Df SpringBoard[80966:a1da12] [com.apple.FrontBoard:Process] "
         "[app<com.x>:85886] Process exited: <RBSProcessExitContext| voluntary>.",
         "springboard"),
    ],
    ids=short,
)  # fmt: skip
def test_source_is_who_said_it(line: str, source: str) -> None:
    assert [e.source for e in parse_lines(line.split("\n"))] == [source]


@pytest.mark.parametrize(
    "line",
    [
        syslog("error: The expression could not be prepared to run in the target",
               process="lldb", subsystem="", category="", image=""),
        '{"message": "error: boom", "filename": "/usr/bin/lldb", "pid": 1}',
        syslog("Termination Reason: RUNNINGBOARD 0xdead10cc", process="ReportCrash"),
        syslog("memorystatus: killing_top_process pid 901 [node]", process="BGProbe"),
        syslog("NO LONGER RUNNING bgRefresh-com.x.refresh:1", process="BGProbe"),
    ],
    ids=short,
)  # fmt: skip
def test_a_form_counts_only_from_its_sender(line: str) -> None:
    """lldb's output and crash reports are bare text; dasd and kernel forms are theirs."""
    assert events(line) == []


def test_an_event_carries_its_record() -> None:
    line = syslog(RUNNING)
    (event,) = parse_lines([line + "\n"])
    assert (event.time, event.process, event.pid, event.raw) == (T0, "BGProbe", 412, line)
    (event,) = parse_entry(LogEntry(T0, "BGProbe", 412, RUNNING, image="BackgroundTasks"))
    assert event.raw == LogEntry(T0, "BGProbe", 412, RUNNING, image="BackgroundTasks").syslog_line()


def test_a_record_without_time_or_pid_gives_an_event_without_them() -> None:
    (event,) = parse_lines([RUNNING])
    assert (event.time, event.pid, event.process) == (None, None, "")


# -- Containers -----------------------------------------------------------------------------


def at(*args: int, offset: timedelta = timedelta(0)) -> float:
    return datetime(*args, tzinfo=timezone(offset)).timestamp()


@pytest.mark.parametrize(
    ("line", "entry"),
    [
        ("2026-11-25 14:39:32.123456 dasd{DuetActivityScheduler}[412] <NOTICE>: Submitted",
         LogEntry(at(2026, 11, 25, 14, 39, 32, 123456), "dasd", 412, "Submitted",
                  image="DuetActivityScheduler")),
        ("2026-11-25 14:39:32.123456 dasd{DuetActivityScheduler+0x1234}[412] <NOTICE>: "
         "Submitted [com.apple.duetactivityscheduler][scheduler]",
         LogEntry(at(2026, 11, 25, 14, 39, 32, 123456), "dasd", 412, "Submitted",
                  "com.apple.duetactivityscheduler", "scheduler", image="DuetActivityScheduler")),
        ("2026-11-25 14:39:32 launchd{}[1] <ERROR>: x",
         LogEntry(at(2026, 11, 25, 14, 39, 32), "launchd", 1, "x", level="ERROR")),
        ("\x1b[32m2026-11-25 14:39:32.123456\x1b[0m \x1b[35mdasd\x1b[0m{\x1b[35mDuetActivity"
         "Scheduler\x1b[0m}[\x1b[36m412\x1b[0m] <\x1b[37mNOTICE\x1b[0m>: \x1b[37mSubmitted"
         "\x1b[0m \x1b[36m[com.apple.duetactivityscheduler][scheduler]\x1b[0m",
         LogEntry(at(2026, 11, 25, 14, 39, 32, 123456), "dasd", 412, "Submitted",
                  "com.apple.duetactivityscheduler", "scheduler", image="DuetActivityScheduler")),
        ('{"pid": 412, "procid": 412, "timestamp": "2026-11-25T14:39:32.123456", "level": '
         '"NOTICE", "image_name": "/System/Library/PrivateFrameworks/DuetActivityScheduler.'
         'framework/DuetActivityScheduler", "image_offset": 4660, "filename": "/usr/libexec/'
         'dasd", "message": "Submitted", "label": {"subsystem": "com.apple.'
         'duetactivityscheduler", "category": "scheduler"}}',
         LogEntry(at(2026, 11, 25, 14, 39, 32, 123456), "dasd", 412, "Submitted",
                  "com.apple.duetactivityscheduler", "scheduler", image="DuetActivityScheduler")),
        ('{"pid": 1, "timestamp": "2026-11-25T14:39:32+03:00", "level": 16, "image_name": "", '
         '"filename": "/sbin/launchd", "message": "x", "label": null}',
         LogEntry(at(2026, 11, 25, 14, 39, 32, offset=timedelta(hours=3)), "launchd", 1, "x",
                  level="ERROR")),
        ('{"message": "x", "pid": "7", "level": [], "label": "no", "timestamp": 5, '
         '"filename": "/bin/x", "image_name": null}',
         LogEntry(NO_TIME, "x", NO_PID, "x")),
        ('{"message": "x", "pid": 7, "filename": 3}',  # no process file: not syslog live's
         LogEntry(NO_TIME, "", NO_PID, '{"message": "x", "pid": 7, "filename": 3}')),
        ("2019-06-18 23:36:54.523814+0800 Schedule Background Task New[5127:695645] x",
         LogEntry(at(2019, 6, 18, 23, 36, 54, 523814, offset=timedelta(hours=8)),
                  "Schedule Background Task New", 5127, "x")),
        ("2016-01-05 11:18:22.211 Jambuster[1110:505246] x",
         LogEntry(at(2016, 1, 5, 11, 18, 22, 211000), "Jambuster", 1110, "x")),
        ("(lldb) 2019-10-19 17:00:14.615646+0300 App[48148:1564536] x",
         LogEntry(at(2019, 10, 19, 17, 0, 14, 615646, offset=timedelta(hours=3)), "App", 48148,
                  "x")),
        ("2026-03-15 14:14:19.737128-0500 0x18538    Default     0x0                  120    8  "
         "  dasd: [com.apple.duetactivityscheduler:lifecycle(activityGroup)] x",
         LogEntry(at(2026, 3, 15, 14, 14, 19, 737128, offset=timedelta(hours=-5)), "dasd", 120,
                  "x", "com.apple.duetactivityscheduler", "lifecycle(activityGroup)")),
        ("2026-03-15 14:14:19.737128-0500 0x18538    Error       0x0                  1      0  "
         "  launchd: (libxpc.dylib) x",
         LogEntry(at(2026, 3, 15, 14, 14, 19, 737128, offset=timedelta(hours=-5)), "launchd", 1,
                  "x", level="ERROR", image="libxpc.dylib")),
        ("2026-10-06 00:18:48.912 Df SpringBoard[80966:a1da12] [com.apple.FrontBoard:Process] x",
         LogEntry(at(2026, 10, 6, 0, 18, 48, 912000), "SpringBoard", 80966, "x",
                  "com.apple.FrontBoard", "Process")),
        ("2026-10-09 09:06:13.144 A  Tideline[10112:19172] (libsystem_containermanager.dylib) x",
         LogEntry(at(2026, 10, 9, 9, 6, 13, 144000), "Tideline", 10112, "x", level="ACTIVITY",
                  image="libsystem_containermanager.dylib")),
        ("2026-08-17 16:32:00.001 E  My App[4242:714e3fa] [com.example.nimbus:net] x",
         LogEntry(at(2026, 8, 17, 16, 32, 0, 1000), "My App", 4242, "x", "com.example.nimbus",
                  "net", "ERROR")),
        ("2022-11-14 13:21:14.972345-0800  localhost My App[59972]: (libffi.dylib) x",
         LogEntry(at(2022, 11, 14, 13, 21, 14, 972345, offset=timedelta(hours=-8)), "My App",
                  59972, "x", image="libffi.dylib")),
        ("Nov 12 12:24:37 iPad runningboardd(RunningBoard)[31] <Notice>: x",
         LogEntry(at(2000, 11, 12, 12, 24, 37), "runningboardd", 31, "x",
                  image="RunningBoard")),
        ("    Mar  4 10:35:59 iPhone SpringBoard[57] <Error>: x",
         LogEntry(at(2000, 3, 4, 10, 35, 59), "SpringBoard", 57, "x", level="ERROR")),
        ("09:30:54.355540+0200\tRunner\tx",
         LogEntry(at(2000, 1, 1, 9, 30, 54, 355540, offset=timedelta(hours=2)), "Runner", NO_PID,
                  "x")),
        ("error\t08:00:54.677141-0600\tMyApp\tCFNetwork\tx",
         LogEntry(at(2000, 1, 1, 8, 0, 54, 677141, offset=timedelta(hours=-6)), "MyApp", NO_PID,
                  "x", level="ERROR")),
        ("default\t2025-01-25 13:16:11.060132 -0500\trunningboardd\tcom.apple.runningboard\tttl"
         "\tx",
         LogEntry(at(2025, 1, 25, 13, 16, 11, 60132, offset=timedelta(hours=-5)),
                  "runningboardd", NO_PID, "x")),
        ("info\t2025-01-25 13:16:11.062002 -05:00\tCommCenter\tx",
         LogEntry(at(2025, 1, 25, 13, 16, 11, 62002, offset=timedelta(hours=-5)), "CommCenter",
                  NO_PID, "x", level="INFO")),
        ("[TSBackgroundFetch performFetchWithCompletionHandler]",
         LogEntry(NO_TIME, "", NO_PID, "[TSBackgroundFetch performFetchWithCompletionHandler]")),
        ("2026-01-05 09:00:00.000000 BGProbe{BackgroundTasks}[412] <NOTICE>: x\r",
         LogEntry(T0, "BGProbe", 412, "x", image="BackgroundTasks")),
    ],
    ids=short,
)  # fmt: skip
def test_container(line: str, entry: LogEntry) -> None:
    assert list(read_entries([line])) == [entry]


SAMPLE = SyslogEntry(
    pid=412,
    timestamp=datetime(2026, 1, 5, 9, 0, 0, 123456),
    level=SyslogLogLevel.NOTICE,
    image_name="/System/Library/Frameworks/BackgroundTasks.framework/BackgroundTasks",
    image_offset=0x1C2F4,
    filename="/private/var/containers/Bundle/Application/UUID/BGProbe.app/BGProbe",
    message=f"Running task: {REFRESH}",
    label=SyslogLabel(category="Framework", subsystem="com.apple.BackgroundTasks"),
)


@pytest.mark.parametrize(
    "line",
    [
        format_line(SAMPLE, include_label=True, image_offset=False, color=False),
        format_line(SAMPLE, include_label=False, image_offset=False, color=False),
        format_line(SAMPLE, include_label=True, image_offset=True, color=False),
        format_line(SAMPLE, include_label=True, image_offset=True, color=True),
        format_json_line(SAMPLE),
    ],
    ids=["label", "no label", "image offset", "colours", "json"],
)
def test_pymobiledevice3s_own_syslog_live_lines_are_read(line: str) -> None:
    (event,) = parse_lines([line])
    assert (event.kind, event.task, event.process, event.pid, event.source) == (
        "task.launched", "com.x.refresh", "BGProbe", 412, "framework"
    )  # fmt: skip
    assert event.time == at(2026, 1, 5, 9, 0, 0, 123456)


# -- Records over several lines -------------------------------------------------------------


def test_lines_without_a_header_continue_the_record() -> None:
    log = [
        "2026-01-05 09:00:00.000000 BGProbe{DuetActivityScheduler}[412] <NOTICE>: Handling "
        "launch from daemon for activities: {(\n",
        "    bgRefresh-com.x.refresh:6796B3\n",
        ")} [com.apple.duetactivityscheduler][client]\n",
        "2026-01-05 09:00:00.500000 BGProbe{BackgroundTasks}[412] <NOTICE>: next\n",
    ]
    first, second = read_entries(log)
    assert first.message == (
        "Handling launch from daemon for activities: {(\n    bgRefresh-com.x.refresh:6796B3\n)}"
    )
    assert (first.subsystem, first.category) == ("com.apple.duetactivityscheduler", "client")
    assert second.message == "next"


def test_after_a_bare_line_only_an_indented_or_closing_line_continues() -> None:
    transcript = [
        "Simulating launch for task with identifier com.x.refresh",
        "Starting simulated task: <decode: missing data>",
        "Handling launch from daemon for activities: {(",
        "    bgRefresh-com.x.refresh:6796B3",
        ")}",
        "Marking simulated task complete: <BGAppRefreshTask: com.x.refresh>",
    ]
    assert [e.kind for e in parse_lines(transcript)] == [
        "task.simulate_launch",
        "task.launched",
        "task.launched",
        "task.completed",
    ]
    assert len(list(read_entries(transcript))) == 4


def test_an_indented_paste_keeps_its_lines_apart_and_its_bodies_joined() -> None:
    pasted = [
        "    Simulating launch for task with identifier com.x.refresh",
        "    Handling launch from daemon for activities: {(",
        "        bgRefresh-com.x.refresh:6796B3",
        "    )}",
        "    Marking simulated task complete: <BGAppRefreshTask: com.x.refresh>",
    ]
    assert [e.kind for e in parse_lines(pasted)] == [
        "task.simulate_launch",
        "task.launched",
        "task.completed",
    ]


def test_an_nserror_is_joined_while_its_braces_are_open() -> None:
    pasted = [
        'Could not schedule: Error Domain=BGTaskSchedulerErrorDomain Code=1 "(null)" UserInfo={',
        "requestedResources=gpu, supportedResources=default}",
        "Simulating launch for task with identifier com.x.refresh",
    ]
    first, _ = read_entries(pasted)
    assert first.message == "\n".join(pasted[:2])
    assert [e.kind for e in parse_lines(pasted)] == ["task.submit_failed", "task.simulate_launch"]


def test_a_stray_brace_does_not_swallow_the_log() -> None:
    lines = ["bgprobe {"] + ["noise"] * 60 + ["Simulating launch for task with identifier x.y"]
    assert [e.kind for e in parse_lines(lines)] == ["task.simulate_launch"]


def test_a_crash_reports_fields_are_one_record() -> None:
    report = crash_report(
        "Exception Type:  EXC_CRASH (SIGKILL)", "Termination Reason: RUNNINGBOARD 0xdead10cc"
    )
    (event,) = parse_lines(report.split("\n"))
    assert event.attrs["reason"] == "file_lock"
    assert event.raw.startswith("Incident Identifier:")
    assert event.raw.endswith("Triggered by Thread:  0\n")


def test_a_json_record_takes_the_lines_after_it() -> None:
    record = '{"message": "Error: {", "pid": 9, "filename": "/bin/x"}'
    (entry,) = read_entries([record, "  Code=3", "}"])
    assert (entry.message, entry.pid, entry.time) == ("Error: {\n  Code=3\n}", 9, NO_TIME)


# -- Round trip: LogEntry.syslog_line → read_entries ----------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        LogEntry(T0, "dasd", 120, "CANCELED: bgRefresh-com.x.refresh:6796B3 at priority 10"),
        LogEntry(T0 + 0.000001, "BGProbe", 412, RUNNING, "com.apple.BackgroundTasks",
                 "Framework", "DEBUG", "BackgroundTasks"),
        LogEntry(T0 + 12.5, "Schedule Background Task New", 0, "a [b] message [c]", "sub", ""),
        LogEntry(T0, "BGProbe", 412, "Handling launch from daemon for activities: {(\n    "
                 "bgRefresh-com.x.refresh:6796B3\n)}", "com.apple.BackgroundTasks", "Framework"),
        LogEntry(T0, "BGProbe", 412, "two lines\n\nwith a blank one\n", image="libc++.1.dylib"),
        LogEntry(T0, "kernel", 0, "", level="FAULT"),
    ],
    ids=lambda entry: short(entry.message) or "empty",
)  # fmt: skip
def test_syslog_line_round_trips(entry: LogEntry) -> None:
    assert list(read_entries(entry.syslog_line().split("\n"))) == [entry]


NAME = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ._-", min_size=1)
MESSAGE = st.text(st.characters(blacklist_characters="]\r\x1b", blacklist_categories=("Cs",)))


@st.composite
def log_entries(draw: st.DrawFn) -> LogEntry:
    subsystem = draw(st.one_of(st.just(""), NAME))
    return LogEntry(
        time=draw(st.integers(946_684_800_000_000, 4_102_444_800_000_000)) / 1e6,
        process=draw(NAME),
        pid=draw(st.integers(0, 99_999)),
        message=draw(MESSAGE),
        subsystem=subsystem,
        category=draw(NAME) if subsystem else "",
        level=draw(st.sampled_from(["NOTICE", "INFO", "DEBUG", "ERROR", "FAULT"])),
        image=draw(st.one_of(st.just(""), NAME)),
    )


@settings(deadline=None)  # a busy machine is slow, not wrong (issue 15)
@given(st.lists(log_entries(), max_size=5))
def test_syslog_lines_round_trip(entries: list[LogEntry]) -> None:
    text = "\n".join(e.syslog_line() for e in entries)
    assert list(read_entries(text.split("\n") if entries else [])) == entries


# -- Robustness -----------------------------------------------------------------------------

HEADERS = [
    syslog("").removesuffix(" [com.apple.BackgroundTasks][Framework]"),
    "2019-06-18 23:36:54.523814+0800 NetNewsWire[5127:695645] ",
    "2026-03-15 14:14:19.737128-0500 0x1    Default     0x0    120    8    dasd: ",
    "2026-10-06 00:18:48.912 Df SpringBoard[80966:a1da12] ",
    "Nov 12 12:24:37 iPad runningboardd(RunningBoard)[31] <Notice>: ",
    "default\t16:31:49.595983+0200\trunningboardd\t",
    '{"filename": "/usr/libexec/dasd", "message": "',
    "(lldb) ",
    "    ",
    "\x1b[32m",
    "bgprobe ",
    "Running task: <BG",
    "SUBMITTED bgRefresh-",
    "Handling launch from daemon for activities: {(",
    "Marking task ",
    "error: ",
    "Exception Type: ",
    "[app<com.x>:1] Process exited: <RBSProcessExitContext|",
    "memorystatus: killing_top_process pid ",
]
LINES = st.lists(st.one_of(st.text(), st.builds(str.__add__, st.sampled_from(HEADERS), st.text())))


@settings(deadline=None)  # a busy machine is slow, not wrong (issue 15)
@given(LINES)
def test_arbitrary_text_never_raises(lines: list[str]) -> None:
    for event in parse_lines(lines):
        assert event.kind in KINDS


@settings(deadline=None)  # a busy machine is slow, not wrong (issue 15)
@given(st.binary(), st.integers(1, 64))
def test_arbitrary_bytes_never_raise(data: bytes, size: int) -> None:
    blocks = [data[i : i + size] for i in range(0, len(data), size)]
    assert count_blocks(blocks) == len(list(parse_blocks(blocks)))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
JSON_KEYS = ["pid", "timestamp", "level", "image_name", "filename", "label", "event", "task"]


@settings(deadline=None)  # a busy machine is slow, not wrong (issue 15)
@given(st.dictionaries(st.sampled_from(JSON_KEYS), JSON), st.sampled_from(["", "bgprobe "]))
def test_any_json_record_or_probe_report_never_raises(fields: dict[str, Any], prefix: str) -> None:
    report = json.dumps(fields)
    line = json.dumps({**fields, "message": prefix + report})
    for event in parse_lines([line, prefix + report]):
        assert event.kind in KINDS


@settings(deadline=None)  # a busy machine is slow, not wrong (issue 15)
@given(LINES)
def test_parse_lines_is_parse_entry_over_read_entries(lines: list[str]) -> None:
    def light(found: Iterable[Event]) -> list[tuple[Any, ...]]:
        return [(e.kind, e.task, e.time, e.source, e.process, e.pid, e.attrs) for e in found]

    by_entry = [event for entry in read_entries(lines) for event in parse_entry(entry)]
    assert light(parse_lines(lines)) == light(by_entry)


# -- The fast path gives the line path's events ---------------------------------------------

# Relevant records as iOS writes them, some over several lines, some only meaningful as bare
# text, some that hide their bytes from a plain scan (colour codes, JSON escapes).
RELEVANT = [
    syslog(RUNNING),
    syslog("Submitted: bgRefresh-com.x.refresh:6796B3 at priority 10", **DASD),
    syslog("NO LONGER RUNNING com.apple.x:1A2B3C", **DASD),
    syslog('bgprobe {"event": "task.completed", "success": true, "task": "com.x.refresh"}',
           subsystem="dev.bgharness.probe", category="lifecycle"),
    syslog("Handling launch from daemon for activities: {(\n    bgRefresh-com.x.a:1,\n    "
           "bgProcessing-com.x.b:2\n)}"),
    syslog(f"{APP} Suspending task.", **RB),
    syslog(f"{APP} Process exited: <RBSProcessExitContext| voluntary>.", **RB),
    syslog("<BKNewProcess: 0x11bd3c9c0; com.x.app; pid: 3445; hostpid: -1> has active "
           "assertions beyond permitted time:", **RB),
    syslog("User interaction is not allowed", subsystem="com.x.app", category="kc"),
    syslog("SecItemCopyMatching: -25308", subsystem="com.x.app", category="kc"),
    syslog("x requested an unsupported set of resources: gpu"),
    syslog("x is not advertised in the application's Info.plist"),
    "error: The expression could not be prepared to run in the target",
    "(lldb) error: use of undeclared identifier 'BGTaskScheduler'",
    "   Termination Reason: RUNNINGBOARD 0xdead10cc",
    crash_report("Exception Type:  EXC_CRASH (SIGKILL)"),
    "Error [IRForTarget]: Couldn't resolve the class for an Objective-C static method call",
    format_line(SAMPLE, include_label=True, image_offset=True, color=True),
    '{"filename": "/x/BGProbe", "message": "\\u0052unning task: <BGAppRefreshTask: x.y>"}',
    syslog("Running \x1b[1;4mtask\x1b[0m: <BGAppRefreshTask: com.x.highlighted>"),
    '{"filename": "/x/BGProbe", "message": "Running task: <BGAppRefreshTask: com.x.r>"}',
    f"default\t09:30:54.356447+0200\tRunner\tBackgroundTasks\t{RUNNING}",
    f"    Mar  4 10:35:59 iPhone Runner(BackgroundTasks)[57] <Notice>: {RUNNING}",
    "Simulating launch for task with identifier com.x.refresh",
    '{"event": "task.launched"}',
]  # fmt: skip


@st.composite
def mixed_logs(draw: st.DrawFn) -> str:
    parts = draw(
        st.lists(
            st.one_of(
                noise_lines(),
                st.sampled_from(RELEVANT),
                st.builds(str.__add__, st.sampled_from(HEADERS), st.text(max_size=20)),
                st.sampled_from(["", "    indented", ")}", "}", "Process: x [1]", "\r"]),
            ),
            max_size=25,
        )
    )
    return draw(st.sampled_from(["\n", "\r\n"])).join(parts) + draw(st.sampled_from(["", "\n"]))


def cut(data: bytes, positions: list[int]) -> list[bytes]:
    points = sorted({p % (len(data) + 1) for p in positions})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


@settings(max_examples=300, deadline=None)  # a busy machine is slow, not wrong (issue 15)
@given(mixed_logs(), st.lists(st.integers(0, 10_000), max_size=6))
def test_the_fast_path_gives_the_line_paths_events(text: str, positions: list[int]) -> None:
    blocks = cut(text.encode(), positions)
    expected = essence(parse_lines(lines_of(text)))
    assert essence(parse_blocks(blocks)) == expected
    assert count_blocks(blocks) == len(expected)


@settings(deadline=None)  # a busy machine is slow, not wrong (issue 15)
@given(
    mixed_logs(),
    st.sampled_from([None, "task.", "app.terminated"]),
    st.sampled_from([None, "com.x.refresh"]),
    st.sampled_from([None, "09:00", "10:00"]),
)
def test_counting_gives_the_number_of_events_selected(
    text: str, kind: str | None, task: str | None, since: str | None
) -> None:
    selection = Selection(
        kinds_named([kind]) if kind else None, task, parse_since(since) if since else Since()
    )
    events = list(selection.select(parse_lines(lines_of(text))))
    assert count_blocks([text.encode()], selection) == len(events)


def test_the_fast_path_reads_a_big_mixed_log_like_the_line_path() -> None:
    rng = random.Random(3)
    lines = []
    for n in range(20_000):
        if rng.random() < 0.03:
            lines.append(rng.choice(RELEVANT))
        else:
            sender = noise.noise_sender(rng)
            message = noise.noise_message(rng)
            lines.append(LogEntry(T0 + n, sender.process, 1, message, sender.subsystem,
                                  sender.category, image=sender.image).syslog_line())  # fmt: skip
    text = "\n".join(lines) + "\n"
    data = text.encode()
    blocks = [data[i : i + 65_536] for i in range(0, len(data), 65_536)]
    expected = essence(parse_lines(lines_of(text)))
    assert len(expected) > 300
    assert essence(parse_blocks(blocks)) == expected


def test_a_dense_block_is_read_whole_with_the_same_events() -> None:
    dense = [RELEVANT[n % len(RELEVANT)] for n in range(2_000)]  # 64 KB and more of hits
    sparse = [LogEntry(T0, "x", 1, f"noise {n}").syslog_line() for n in range(5_000)]
    text = "\n".join([*dense, *sparse, RELEVANT[0]]) + "\n"
    assert len(text) > 1 << 17
    expected = essence(parse_lines(lines_of(text)))
    assert essence(parse_blocks([text.encode()])) == expected
    assert count_blocks([text.encode()]) == len(expected)


def test_every_trigger_is_found_by_the_fast_path() -> None:
    for trigger in TRIGGERS:
        message = f"... {trigger} ..."
        line = syslog(message)
        blocks = [(line + "\n").encode()]
        assert list(parse_blocks(blocks)) == list(parse_lines([line])), trigger


# -- Choosing events ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "kinds"),
    [
        (["task.launched"], {"task.launched"}),
        (
            ["app."],
            {"app.launched", "app.suspended", "app.resumed", "app.terminated", "app.tapped"},
        ),
        (
            ["bgtime"],
            {
                "bgtime.overdue",
                "bgtime.expired_not_ended",
                "bgtime.end_error",
                "bgtime.began",
                "bgtime.ended",
                "bgtime.expired",
            },
        ),
        (["debugger.error", "gpu"], {"debugger.error", "gpu.denied", "gpu.work"}),
    ],
)
def test_kinds_are_named_or_a_family(names: list[str], kinds: set[str]) -> None:
    assert kinds_named(names) == kinds


@pytest.mark.parametrize("name", ["task.launch", "tasks.", "launched", ""])
def test_an_unknown_kind_is_an_error(name: str) -> None:
    with pytest.raises(UnknownKind):
        kinds_named([name])


@pytest.mark.parametrize(
    ("text", "since"),
    [
        ("2026-01-05T09:00:00", Since(at=T0)),
        ("2026-01-05 10:00:00+01:00", Since(at=T0)),
        ("2026-01-05T09:00:00Z", Since(at=T0)),
        ("09:30", Since(clock=time(9, 30, tzinfo=UTC))),
        ("9:30:15.5", Since(clock=time(9, 30, 15, 500000, tzinfo=UTC))),
        ("09:30+0200", Since(clock=time(9, 30, tzinfo=timezone(timedelta(hours=2))))),
    ],
)
def test_since_is_a_moment_or_a_time_of_day(text: str, since: Since) -> None:
    assert parse_since(text) == since


@pytest.mark.parametrize("text", ["yesterday", "25:00", "2026-13-01", "09:30 pm", ""])
def test_since_rejects_what_is_no_time(text: str) -> None:
    with pytest.raises(ValueError):
        parse_since(text)


def timed(hour: float | None, kind: str = "task.launched", task: str = "a") -> Event:
    return Event(kind, task, None if hour is None else T0 + hour * 3600, "probe")


def test_selection_picks_kinds_task_and_time() -> None:
    log = [timed(0), timed(1, "task.completed"), timed(2, task="b"), timed(None), timed(3)]
    pick = Selection(frozenset({"task.launched"}), "a", parse_since("2026-01-05T09:30:00"))
    assert list(pick.select(log)) == [log[4]]
    assert list(Selection().select(log)) == log


def test_a_time_of_day_is_on_the_date_of_the_first_timed_event() -> None:
    log = [timed(None), timed(-9 - 24), timed(-1), timed(0)]  # the day before, 00:00 and 08:00
    assert list(Selection(since=parse_since("07:00")).select(log)) == [log[2], log[3]]
    assert list(Selection(since=parse_since("09:00+02:00")).select(log)) == [log[2], log[3]]


def test_the_timeline_shows_the_reason_the_system_gave_for_an_expiration() -> None:
    # dasd's expiration event, as the owner's iPhone logged it (tests/data/corpus, iOS 27),
    # in a Console.app copy's columns.
    line = "default\t19:19:48.380000+0800\tdasd\tActivityExpirationEvent(… reasons: 1048576)"
    (expired,) = parse_lines([line])
    assert (expired.kind, expired.attrs) == (
        "task.expired",
        {"reason_code": 1048576, "reason": "user_stop"},
    )
    svg = timeline_svg.render([expired], start=expired.time - 1, end=expired.time + 1)
    assert '<text class="reason"' in svg and ">user_stop</text>" in svg


def test_dasd_expiration_reasons_and_the_virtual_iphones_cards() -> None:
    """facts B3 [M]: a user Stop's dasd reason; the virtual iPhone's Live Activity card lines."""
    task = "dev.bgharness.probe.continued.export-1"
    dasd = {"subsystem": "com.apple.duetactivityscheduler", "category": "lifecycle", "image": ""}
    model = {"subsystem": "dev.bgharness.virtual", "category": "model", "image": "bgharness"}
    text = "\n".join(
        [
            syslog(
                f"ActivityExpirationEvent(bgContinuedProcessing-{task} reasons: 1048576)",
                "dasd",
                **dasd,
            ),
            syslog(f"card {task}: prompt cards=1 percent=16", "bgharness-virtual", **model),
            syslog(f"card {task}: failed cards=2", "bgharness-virtual", **model),
            syslog(f"card {task}: failed cards=2", "BGProbe", **model),  # not the model's
        ]
    )
    assert events(text) == [
        (
            "task.expired",
            task,
            {"type": "continued", "reason_code": 1048576, "reason": "user_stop"},
        ),
        ("task.card", task, {"state": "prompt", "cards": 1, "percent": 16}),
        ("task.card", task, {"state": "failed", "cards": 2}),
    ]
