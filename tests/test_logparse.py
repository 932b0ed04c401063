"""logparse: real labelled lines, each message form, each container, and text it must survive."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.events import KINDS, LogEntry
from harness.logparse import NO_PID, NO_TIME, parse_entry, parse_lines, read_entries

CORPUS = Path(__file__).parent / "data" / "corpus"
DEV_LINES = [json.loads(line) for line in (CORPUS / "dev-lines.jsonl").open(encoding="utf-8")]
FORMATS = {json.loads(line)["format"] for line in (CORPUS / "format-strings.jsonl").open("rb")}

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC).timestamp()


def events(text: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    return [(e.kind, e.task, e.attrs) for e in parse_lines(text.split("\n"))]


def syslog(message: str, process: str = "BGProbe", **fields: Any) -> str:
    """`message` as pymobiledevice3 syslog live --label prints it (framework by default)."""
    fields = {"subsystem": "com.apple.BackgroundTasks", "category": "Framework"} | fields
    fields.setdefault("image", "BackgroundTasks")
    return LogEntry(T0, process, 412, message, **fields).syslog_line()


def short(value: object) -> str | None:
    """A test id: the start of a line's message, on one line; the default for anything else."""
    if not isinstance(value, str):
        return None
    return value.rpartition(">: ")[2].replace("\n", "⏎")[:60]


# -- The corpus -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line", [d for d in DEV_LINES if not d["negative"]], ids=lambda d: short(d["text"])
)
def test_every_labelled_corpus_line_yields_its_kind_and_task(line: dict[str, Any]) -> None:
    assert [(e.kind, e.task) for e in parse_lines(line["text"].split("\n"))] == [
        (line["kind"], line["task"])
    ]


@pytest.mark.parametrize(
    "line", [d for d in DEV_LINES if d["negative"]], ids=lambda d: short(d["text"])
)
def test_no_negative_corpus_line_yields_a_task_event(line: dict[str, Any]) -> None:
    assert not [e for e in parse_lines(line["text"].split("\n")) if e.kind.startswith("task.")]


# -- The iOS format strings, filled in ------------------------------------------------------

REFRESH = "<BGAppRefreshTask: com.x.refresh>"


@pytest.mark.parametrize(
    ("form", "argument", "kind", "attrs"),
    [
        ("registerForTaskWithIdentifier: %{public}@", "com.x.refresh", "task.registered", {}),
        ("Registration rejected; %@ is not advertised in the application's Info.plist",
         "com.x.refresh", "task.registration_error", {"reason": "not_permitted"}),
        ("%{public}@ is not advertised in the application's Info.plist", "com.x.refresh",
         "task.submit_failed", {"code": 3}),
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
    ],
)  # fmt: skip
def test_a_format_string_filled_in_is_recognised(
    form: str, argument: str, kind: str, attrs: dict[str, Any]
) -> None:
    assert form in FORMATS
    message = form.replace("%{public}@", argument).replace("%@", argument)
    assert events(syslog(message)) == [(kind, "com.x.refresh", attrs)]


# -- Message forms and identifier normalisation ---------------------------------------------

DASD = {"process": "dasd", "subsystem": "com.apple.duetactivityscheduler", "category": "lifecycle"}
DASD |= {"image": "DuetActivityScheduler"}
REQUEST = "<BGAppRefreshTaskRequest: com.x.refresh, earliestBeginDate: 2026-01-05 09:15:00 +0000>"
PROCESSING_REQUEST = (
    "<BGProcessingTaskRequest: com.x.db, earliestBeginDate: (null), requiresExternalPower=1, "
    "requiresNetworkConnectivity=0>"
)


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
        # process ends
        (syslog('SBWorkspaceTerminateApplication: com.x.app: "killed from app switcher"',
                process="SpringBoard", subsystem="com.apple.SpringBoard", category="Workspace",
                image="SpringBoard"),
         "app.terminated", None, {"bundle": "com.x.app", "reason": "user_force_quit"}),
        (syslog("Removing assertions for terminated process: [application<com.x.app>:716]",
                process="runningboardd", subsystem="com.apple.runningboard", category="process",
                image="RunningBoard"),
         "app.terminated", None, {"bundle": "com.x.app", "pid": 716}),
        ("Termination Reason: RUNNINGBOARD 0xdead10cc", "app.terminated", None,
         {"reason": "file_lock"}),
        # the probe app
        (syslog('bgprobe {"event": "task.progress", "task": "com.x.export", "completed": 3, '
                '"total": 10}', subsystem="dev.bgharness.probe", category="lifecycle",
                image="BGProbe.debug.dylib"),
         "task.progress", "com.x.export", {"completed": 3, "total": 10}),
        # the rest of the vocabulary
        ("A background URLSession with identifier com.x.bg already exists!", "urlsession.misuse",
         None, {"session": "com.x.bg", "problem": "duplicate_session"}),
        ("SecItemCopyMatching failed: -25308", "keychain.locked", None, {}),
        ("error: <user expression 0>:1:9: use of undeclared identifier 'BGTaskScheduler'",
         "debugger.error", None,
         {"message": "error: <user expression 0>:1:9: use of undeclared identifier "
                     "'BGTaskScheduler'"}),
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
               "DYLD3 Closure Generation\" ID:33-120-1234 target:900>", process="runningboardd",
               subsystem="com.apple.runningboard", category="assertion", image="RunningBoard"),
        syslog("error: could not open cache", process="BGProbe", subsystem="com.x.app",
               category="db", image="BGProbe.debug.dylib"),
    ],
    ids=short,
)  # fmt: skip
def test_noise_yields_no_task_event(line: str) -> None:
    assert not [kind for kind, _, _ in events(line) if kind.startswith("task.")]


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
    ],
    ids=short,
)  # fmt: skip
def test_source_is_who_said_it(line: str, source: str) -> None:
    assert [e.source for e in parse_lines(line.split("\n"))] == [source]


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
         '"filename": 3, "image_name": null}',
         LogEntry(NO_TIME, "", NO_PID, "x")),
        ("2019-06-18 23:36:54.523814+0800 Schedule Background Task New[5127:695645] x",
         LogEntry(at(2019, 6, 18, 23, 36, 54, 523814, offset=timedelta(hours=8)),
                  "Schedule Background Task New", 5127, "x")),
        ("2016-01-05 11:18:22.211 Jambuster[1110:505246] x",
         LogEntry(at(2016, 1, 5, 11, 18, 22, 211000), "Jambuster", 1110, "x")),
        ("2026-03-15 14:14:19.737128-0500 0x18538    Default     0x0                  120    8  "
         "  dasd: [com.apple.duetactivityscheduler:lifecycle(activityGroup)] x",
         LogEntry(at(2026, 3, 15, 14, 14, 19, 737128, offset=timedelta(hours=-5)), "dasd", 120,
                  "x", "com.apple.duetactivityscheduler", "lifecycle(activityGroup)")),
        ("2026-03-15 14:14:19.737128-0500 0x18538    Error       0x0                  1      0  "
         "  launchd: (libxpc.dylib) x",
         LogEntry(at(2026, 3, 15, 14, 14, 19, 737128, offset=timedelta(hours=-5)), "launchd", 1,
                  "x", level="ERROR", image="libxpc.dylib")),
        ("Nov 12 12:24:37 iPad runningboardd(RunningBoard)[31] <Notice>: x",
         LogEntry(at(2000, 11, 12, 12, 24, 37), "runningboardd", 31, "x",
                  image="RunningBoard")),
        ("09:30:54.355540+0200\tRunner\tx",
         LogEntry(at(2000, 1, 1, 9, 30, 54, 355540, offset=timedelta(hours=2)), "Runner", NO_PID,
                  "x")),
        ("error\t08:00:54.677141-0600\tMyApp\tCFNetwork\tx",
         LogEntry(at(2000, 1, 1, 8, 0, 54, 677141, offset=timedelta(hours=-6)), "MyApp", NO_PID,
                  "x", level="ERROR")),
        ("[TSBackgroundFetch performFetchWithCompletionHandler]",
         LogEntry(NO_TIME, "", NO_PID, "[TSBackgroundFetch performFetchWithCompletionHandler]")),
    ],
    ids=short,
)  # fmt: skip
def test_container(line: str, entry: LogEntry) -> None:
    assert list(read_entries([line])) == [entry]


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


def test_a_json_record_takes_the_lines_after_it() -> None:
    (entry,) = read_entries(['{"message": "Error: {", "pid": 9}', "  Code=3", "}"])
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
MESSAGE = st.text(st.characters(blacklist_characters="]\r", blacklist_categories=("Cs",)))


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


@given(st.lists(log_entries(), max_size=5))
def test_syslog_lines_round_trip(entries: list[LogEntry]) -> None:
    text = "\n".join(e.syslog_line() for e in entries)
    assert list(read_entries(text.split("\n") if entries else [])) == entries


# -- Robustness -----------------------------------------------------------------------------

HEADERS = [
    syslog("").removesuffix(" [com.apple.BackgroundTasks][Framework]"),
    "2019-06-18 23:36:54.523814+0800 NetNewsWire[5127:695645] ",
    "2026-03-15 14:14:19.737128-0500 0x1    Default     0x0    120    8    dasd: ",
    "Nov 12 12:24:37 iPad runningboardd(RunningBoard)[31] <Notice>: ",
    "default\t16:31:49.595983+0200\trunningboardd\t",
    '{"message": "',
    "bgprobe ",
    "Running task: <BG",
    "SUBMITTED bgRefresh-",
    "Handling launch from daemon for activities: {(",
    "Marking task ",
    "error: ",
]
LINES = st.lists(st.one_of(st.text(), st.builds(str.__add__, st.sampled_from(HEADERS), st.text())))


@given(LINES)
def test_arbitrary_text_never_raises(lines: list[str]) -> None:
    for event in parse_lines(lines):
        assert event.kind in KINDS


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)
JSON_KEYS = ["pid", "timestamp", "level", "image_name", "filename", "label", "event", "task"]


@given(st.dictionaries(st.sampled_from(JSON_KEYS), JSON), st.sampled_from(["", "bgprobe "]))
def test_any_json_record_or_probe_report_never_raises(fields: dict[str, Any], prefix: str) -> None:
    report = json.dumps(fields)
    line = json.dumps({**fields, "message": prefix + report})
    for event in parse_lines([line, prefix + report]):
        assert event.kind in KINDS


@given(LINES)
def test_parse_lines_is_parse_entry_over_read_entries(lines: list[str]) -> None:
    def essence(events: Any) -> list[tuple[Any, ...]]:
        return [(e.kind, e.task, e.time, e.source, e.process, e.pid, e.attrs) for e in events]

    by_entry = [event for entry in read_entries(lines) for event in parse_entry(entry)]
    assert essence(parse_lines(lines)) == essence(by_entry)
