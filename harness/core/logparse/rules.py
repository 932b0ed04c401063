"""The message forms: one `_Rule` per form, grouped by family, each with its trigger literals.

A rule names its event kind, the sender it is believed from, and the attrs a family carries.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.core.logparse.containers import number
from harness.core.logparse.endings import (
    _background_task_id,
    _crash_attrs,
    _exit_attrs,
    _expiration_attrs,
    _killed_attrs,
    _launchd_attrs,
    _reason_attrs,
)

# -- Task references ------------------------------------------------------------------------

_CLASS_TYPES = {
    "BGAppRefreshTask": "refresh",
    "BGProcessingTask": "processing",
    "BGContinuedProcessingTask": "continued",
}
_ACTIVITY_TYPES = {
    "Refresh": "refresh",
    "Processing": "processing",
    "ContinuedProcessing": "continued",
}

_DESCRIPTION = re.compile(r"<(?P<cls>BG[A-Za-z]+): (?P<id>[^\s,>]+)")
_ACTIVITY = re.compile(
    r"bg(?P<type>Refresh|Processing|ContinuedProcessing)-(?P<id>[^\s:,\"'<>()]+)"
    r"(?::(?P<activity>[0-9A-Fa-f]+))?"
)
_POWER = re.compile(r"requiresExternalPower=(\d)")
_NETWORK = re.compile(r"requiresNetworkConnectivity=(\d)")


def _identifier(text: str) -> str | None:
    """The identifier as logged; None where the log hides it (`<private>`, `<decode: …>`, …)."""
    return None if not text or text[0] in "<(" or "…" in text else text


def _ref(text: str) -> tuple[str | None, dict[str, Any]]:
    """A task named by description, dasd activity or bare identifier → (task, attrs)."""
    m = _DESCRIPTION.match(text) if text.startswith("<BG") else None
    if m:
        attrs: dict[str, Any] = {}
        cls, identifier = m.group("cls", "id")
        cls = cls.removesuffix("Request")
        if cls in _CLASS_TYPES:
            attrs["type"] = _CLASS_TYPES[cls]
        if "requires" in text:
            for key, pattern in (("requires_power", _POWER), ("requires_network", _NETWORK)):
                flag = pattern.search(text)
                if flag:
                    attrs[key] = flag[1] != "0"
        return _identifier(identifier), attrs
    m = _ACTIVITY.match(text) if text.startswith("bg") else None
    if m:
        attrs = {"type": _ACTIVITY_TYPES[m["type"]]}
        if m["activity"]:
            attrs["activity"] = m["activity"]
        return _identifier(m["id"]), attrs
    return _identifier(text), {}


# -- Messages -------------------------------------------------------------------------------

# What stands for a task in a message: a placeholder, a description `<BG…Task: id>`, an id.
_PLACEHOLDER = r"<decode: missing data>|<private>|\(null\)"
_REF = rf"(?P<ref>{_PLACEHOLDER}|<BG\w+: [^>]*>|[^\s<>(),'\"]+)"
_TASK = rf"(?P<ref>{_PLACEHOLDER}|<BG\w+: [^>]*>|…)"  # where the framework prints a description
_ACT = r"(?P<ref>bg(?:Refresh|Processing|ContinuedProcessing)-[^\s,\"<>()]+)"
_ACTS = ("bgRefresh-", "bgProcessing-", "bgContinuedProcessing-")  # what dasd's forms need
_RB_APP = r"\[app(?:lication)?<(?P<bundle>[^>(]+)(?:\([^)]*\))?>:(?P<pid>\d+)\]"
_DASD = frozenset({"", "dasd"})
_KERNEL = frozenset({"", "kernel"})
_BARE = frozenset({""})  # bare text only: only a header names a process

# Attrs taken from a pattern's named groups other than `ref`; str unless converted here.
_CONVERT: dict[str, Callable[[str], Any]] = {
    "code": number,
    "pid": number,
    "id": number,
    "priority": number,
    "signal": number,
    "cards": number,
    "percent": number,
    "success": lambda flag: flag != "0",
    "dynamic": lambda _: True,
}

_More = Callable[[re.Match[str], str], "dict[str, Any] | None"]


@dataclass(frozen=True, slots=True)
class _Rule:
    """One message form: the literal `triggers` that admit it, and what it means."""

    triggers: tuple[str, ...]
    pattern: re.Pattern[str]
    kind: str
    source: str  # who says it when the record does not name its sender
    processes: frozenset[str] | None  # only from these processes ("" = bare text), or any
    attrs: Mapping[str, Any] = field(default_factory=dict)
    per_activity: bool = False  # one event per dasd activity in `ref` (an NSSet of them)
    more: _More | None = None  # more attrs from the whole message; None from it: not this form
    groups: tuple[tuple[str, Callable[[str], Any] | None], ...] = ()  # attrs from groups
    has_ref: bool = False  # the pattern names the task in group `ref`


def _rule(
    triggers: str | tuple[str, ...],
    pattern: str,
    kind: str,
    source: str = "framework",
    processes: frozenset[str] | None = None,
    per_activity: bool = False,
    more: _More | None = None,
    **attrs: Any,
) -> _Rule:
    triggers = (triggers,) if isinstance(triggers, str) else triggers
    for trigger in triggers:
        assert trigger, "a rule needs a trigger literal"
    compiled = re.compile(pattern, re.DOTALL)
    names = [n for n in compiled.groupindex if n not in ("ref", "context") and n[0] != "_"]
    groups = tuple((name, _CONVERT.get(name)) for name in names)
    has_ref = "ref" in compiled.groupindex
    return _Rule(
        triggers, compiled, kind, source, processes, attrs, per_activity, more, groups, has_ref
    )


_RULES = (
    # BackgroundTasks.framework in the app (the BGTaskScheduler.mm format strings).
    _rule(("ForTaskWithIdentifier: ", "ForTaskWithDynamicIdentifier: "),
          rf"(?<!\w )registerForTaskWith(?P<dynamic>Dynamic)?Identifier: {_REF}",
          "task.registered"),
    _rule("egistration rejected; ", rf"\bRegistration rejected; {_REF} is not advertised",
          "task.registration_error", reason="not_permitted"),
    _rule("egistration rejected; ",
          rf"Dynamic registration rejected; {_REF} is not a well-formed identifier",
          "task.registration_error", reason="not_permitted", dynamic=True),
    _rule("application's Info.plist",
          rf"{_REF} is not advertised in the application's Info\.plist", "task.submit_failed",
          code=3),
    _rule("for task with identifier ",
          rf"Launch handler for task with identifier {_REF} has already been registered",
          "task.registration_error", reason="duplicate"),
    _rule("for task with identifier ",
          rf"No launch handler registered for task with identifier {_REF}",
          "task.registration_error", reason="no_handler"),
    _rule("for task with identifier ", rf"Simulating launch for task with identifier {_REF}",
          "task.simulate_launch"),
    _rule("for task with identifier ",
          rf"Simulating expiration for task with identifier {_REF}", "task.simulate_expire"),
    _rule("registered before",
          r"All launch handlers must be registered before application finishes launching",
          "task.registration_error", reason="too_late"),
    _rule("TaskRequest:", rf"submitTaskRequest:(?:completionHandler:)? {_REF}",
          "task.submitted"),
    _rule("Error submitting task request: ",
          rf"Error submitting task request: {_REF}, error: "
          r"(?:.*?BGTaskSchedulerErrorDomain Code=(?P<code>\d+))?",
          "task.submit_failed"),
    _rule("BGTaskSchedulerErrorDomain",
          r"BGTaskSchedulerErrorDomain(?: Code=| error )(?P<code>\d+)", "task.submit_failed",
          source="app"),
    _rule("requested an unsupported set of resources",
          rf"{_REF} requested an unsupported set of resources: (?P<resources>[^\n]*)",
          "task.submit_failed", code=1),
    _rule("TaskRequestWithIdentifier: ", rf"cancelTaskRequestWithIdentifier: {_REF}",
          "task.canceled"),
    _rule("AllTaskRequests", r"\AcancelAllTaskRequests\s*\Z", "task.canceled", all=True),
    _rule("No task request with identifier ",
          rf"No task request with identifier {_REF} has been scheduled",
          "task.simulate_rejected", reason="no_pending_request"),
    _rule("Task with identifier ", rf"Task with identifier {_REF} is already running",
          "task.simulate_rejected", reason="already_running"),
    _rule("Task with identifier ",
          rf"Task with identifier {_REF} is not currently being simulated",
          "task.simulate_rejected", reason="not_simulated"),
    _rule("No expiration handler for task: ", rf"No expiration handler for task: {_TASK}",
          "task.simulate_rejected", reason="no_expiration_handler"),
    _rule("Running task: ", rf"Running task: {_TASK}", "task.launched"),
    _rule("Starting simulated task: ", rf"Starting simulated task: {_TASK}", "task.launched",
          simulated=True),
    _rule("Starting task: ", rf"Starting task: {_TASK}", "task.launched", simulated=False),
    _rule("Handling launch from daemon for activities: ",
          r"Handling launch from daemon for activities: (?P<ref>.*)", "task.launched",
          per_activity=True, simulated=False),
    # The app's side of dasd (DuetActivityScheduler in the app process), in every iOS version.
    _rule(_ACTS, rf"Submitting task request activity: {_ACT}", "task.submitted"),
    _rule(_ACTS, r"(?:Application launched|Calling handlers) for activities: (?P<ref>.*)",
          "task.launched", per_activity=True, simulated=False),
    _rule(_ACTS, rf"Complete task request activity: {_ACT}", "task.completed"),
    # Expirations that carry the system's reason (dasd's event, the framework's request), and
    # the framework calling the handlers, by activity where it names them.
    _rule("ActivityExpirationEvent(",
          rf"ActivityExpirationEvent\((?:[^)]*?{_ACT})?[^)]*?reasons: (?P<_reasons>\d+)",
          "task.expired", source="dasd", more=_expiration_attrs),
    _rule("_BGTaskExpirationRequest",
          rf"_BGTaskExpirationRequest:? (?:[^\n]*?{_ACT})?[^\n]*?reason: (?P<_code>\d+)",
          "task.expired", more=_expiration_attrs),
    _rule("Calling expiration handlers",
          r"Calling expiration handlers(?: for activities: (?P<ref>.*)|\s*\Z)", "task.expired",
          per_activity=True),
    _rule("Expiring simulated task: ", rf"Expiring simulated task: {_TASK}", "task.expired",
          simulated=True),
    _rule("Expiring task: ", rf"Expiring task: {_TASK}", "task.expired"),
    _rule("Marking simulated task complete: ", rf"Marking simulated task complete: {_TASK}",
          "task.completed", simulated=True),
    _rule("Marking task ", rf"Marking task {_TASK} complete with success: (?P<success>\d)",
          "task.completed"),
    _rule("Client didn't provide an expiration handler for task ",
          rf"Client didn't provide an expiration handler for task {_REF}, completing with NO",
          "task.completed", success=False, no_expiration_handler=True),
    # dasd. Submissions and cancellations of system activities are not ours: bg… only.
    _rule(_ACTS,
          rf"\b(?:Submitted|SUBMITTED)(?: [Aa]ctivity)?:? (?:<_DASActivity: \"?)?{_ACT}"
          r"(?: at priority (?P<priority>\d+))?",
          "task.submitted", source="dasd", processes=_DASD),
    _rule(_ACTS, rf"\bCANCELED:? (?:<_DASActivity: \"?)?{_ACT}", "task.canceled",
          source="dasd", processes=_DASD),
    _rule(_ACTS, rf"\bCOMPLETED:? (?:<_DASActivity: \"?)?{_ACT}", "task.completed",
          source="dasd", processes=_DASD),
    # The virtual iPhone's Live Activity cards (iOS's own lines for them are not known).
    _rule(" cards=", r"\Acard (?P<ref>\S+): (?P<state>\w+) cards=(?P<cards>\d+)"
          r"(?: percent=(?P<percent>\d+))?", "task.card", source="virtual",
          processes=frozenset({"bgharness-virtual"})),
    _rule("NO LONGER RUNNING ", rf"NO LONGER RUNNING (?:{_ACT}|\S)", "task.no_longer_running",
          source="dasd", processes=_DASD),
    # SpringBoard, RunningBoard (assertiond before iOS 14), the kernel, crash reports.
    _rule("SBWorkspaceTerminateApplication: ",
          r"SBWorkspaceTerminateApplication: (?P<bundle>[^\s:]+): \"killed from app switcher\"",
          "app.terminated", source="springboard", reason="user_force_quit"),
    _rule("Removing assertions for terminated process: ",
          rf"Removing assertions for terminated process: {_RB_APP}", "app.terminated",
          source="runningboard"),
    _rule("Executing launch request for app",
          r"Executing launch request for app(?:lication)?<(?P<bundle>[^>(]+)", "app.launched",
          source="runningboard"),
    _rule("] Suspending task.", rf"{_RB_APP} Suspending task\.", "app.suspended",
          source="runningboard"),
    _rule("] Resuming task.", rf"{_RB_APP} Resuming task\.", "app.resumed",
          source="runningboard"),
    _rule("<RBSProcessExitContext|",
          r"(?:Process exited|exited with context):? [^\n]*?<RBSProcessExitContext\|"
          r"(?P<context>[^\n]*)", "app.terminated", source="runningboard", more=_exit_attrs),
    # backboardd (iOS 7), SpringBoard, assertiond (iOS 8-13), crash reports: one watchdog kill.
    _rule("assertions beyond permitted time", r"has active assertions beyond permitted time",
          "app.terminated", source="runningboard", more=_killed_attrs),
    _rule("wakes in ", r"BKUnsuspendLimit [^\n]*exceeded \d+ wakes in \d+ sec",
          "app.terminated", source="runningboard", more=_killed_attrs),
    _rule("termination reported by launchd",
          rf"{_RB_APP} termination reported by launchd \((?P<_ns>\d+), (?P<_code>\d+)",
          "app.terminated", source="runningboard", more=_launchd_attrs),
    _rule("suspended with locked system files",
          rf"{_RB_APP} suspended with locked system files", "app.terminated",
          source="runningboard", reason="file_lock"),
    _rule(": running-suspended",
          r"Calculated state for app(?:lication)?<(?P<bundle>[^>(]+)[^>]*>: running-suspended",
          "app.suspended", source="runningboard"),
    _rule("Service exited ",
          r"\((?P<name>[^\[\]()\n]+)\[(?P<pid>\d+)\]\): Service exited due to SIG\w+"
          r"(?: \| sent by (?P<sender>[^\s\[]+))?", "app.terminated", source="launchd",
          more=_reason_attrs),
    # Xcode's debugger, the kernel's resource monitors, crash reporters' summaries.
    _rule("Terminated due to ",
          r"Message from debugger: Terminated due to (?:signal (?P<signal>\d+)|memory issue)",
          "app.terminated", source="lldb", more=_reason_attrs),
    _rule("CPU usage trigger", r"\(FATAL\) CPU usage trigger", "app.terminated",
          source="kernel", more=_killed_attrs),
    _rule("Process killed", r"(?m)^[ \t]*Action taken:[ \t]+Process killed", "app.terminated",
          source="app", processes=_BARE, more=_reason_attrs),
    _rule("killing_",
          r"\bkilling_\w+ (?:pid (?P<pid>\d+) )?\[(?P<name>[^\]\n]+)\](?: \((?P<cause>[\w-]+))?",
          "app.terminated", source="kernel", processes=_KERNEL, reason="memory"),
    _rule("MB (fatal)",
          r"(?P<name>[^\s\[\]>]+)\[(?P<pid>\d+)\] exceeded mem limit: [^\n]*\(fatal\)",
          "app.terminated", source="kernel", processes=_KERNEL, reason="memory"),
    _rule("exceeding jetsam memory limits",
          r"terminated for exceeding jetsam memory limits", "app.terminated", source="kernel",
          reason="memory"),
    _rule("(finishTask:", r"\A<BKProcessAssertion: [^>]*\(finishTask:\d+s\)",
          "app.terminated", source="runningboard", reason="watchdog"),
    _rule("memorystatus: kill",
          r"memorystatus: killing_\w+ (?:pid (?P<pid>\d+) )?\[(?P<name>[^\]\n]+)\]"
          r"(?: \((?P<cause>[\w-]+))?", "app.terminated", source="kernel",
          processes=_KERNEL, reason="memory"),
    _rule("memorystatus: kill",
          r"memorystatus: killing largest compressed process (?P<name>\S+) \[(?P<pid>\d+)\]",
          "app.terminated", source="kernel", processes=_KERNEL, reason="memory"),
    _rule(("Exception Type:", "Termination Reason:"),
          r"(?m)^[ \t]*(?:> ?)?(?:Exception Type|Termination Reason):", "app.terminated",
          source="app", processes=_BARE, more=_crash_attrs),
    # UIKit background time (beginBackgroundTask) in the app.
    _rule("Background Task ",
          r"Background Task (?P<id>\d+) \(\"(?P<name>.*?)\"\), was created over 30 seconds ago",
          "bgtime.overdue", source="app"),
    _rule("Background task still not",
          r"Background task still not\s+ended after expiration handlers were called"
          r"(?:.*?taskID = (?P<id>\d+),\s*taskName = (?P<name>.*?),\s*creationTime)?",
          "bgtime.expired_not_ended", source="app"),
    _rule(("Can't end BackgroundTask: ", "Can't endBackgroundTask: "),
          r"Can't end(?: |(?P<_old>))BackgroundTask: no background task exists with identifier "
          r"(?P<_id>[0-9a-fA-F]+)(?P<_hex> \(0x)?", "bgtime.end_error", source="app",
          more=_background_task_id),
    # Background URLSession, keychain, GPU.
    _rule("BackgroundSession <",
          r"BackgroundSession <(?P<session>[^>]+)> connection to background transfer daemon "
          r"(?P<state>interrupted|invalidated)",
          "urlsession.disconnected", source="app"),
    _rule("Lost connection to background transfer service",
          r"(?:NSURLErrorDomain Code=(?P<code>-?\d+) \")?Lost connection to background transfer "
          r"service", "urlsession.disconnected", source="app"),
    _rule("completion handler was never called",
          r"handleEventsForBackgroundURLSession:completionHandler: but the completion handler "
          r"was never called", "urlsession.misuse", source="app",
          problem="completion_not_called"),
    _rule("A background URLSession with identifier ",
          r"A background URLSession with identifier (?P<session>\S+) already exists",
          "urlsession.misuse", source="app", problem="duplicate_session"),
    _rule("Completion handler blocks are not supported in background sessions",
          r"Completion handler blocks are not supported in background sessions",
          "urlsession.misuse", source="app", problem="completion_handler"),
    _rule(("User interaction is not allowed", "InteractionNotAllowed", "-25308"),
          r"User interaction is not allowed|errSecInteractionNotAllowed|(?<!\d)-25308(?!\d)",
          "keychain.locked", source="app"),
    _rule(("BackgroundExecutionNotPermitted", "ork from background)"),
          r"BackgroundExecutionNotPermitted|"
          r"Insufficient Permission \(to submit GPU [Ww]ork from background\)",
          "gpu.denied", source="app"),
    # lldb's own output: a transcript, not a device record.
    _rule("error: ", r"\A[ \t]*(?P<message>error: [^\n]*)", "debugger.error", source="lldb",
          processes=_BARE),
    _rule("Couldn't resolve the class", r"(?P<message>[^\n]*Couldn't resolve the class[^\n]*)",
          "debugger.error", source="lldb", processes=_BARE),
)  # fmt: skip

_BY_TRIGGER: dict[str, list[_Rule]] = {}
for _r in _RULES:
    for _t in _r.triggers:
        _BY_TRIGGER.setdefault(_t, []).append(_r)
