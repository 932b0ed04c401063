"""How processes end: the `reason` of an `app.terminated` or `task.expired`, by family.

The words crash reports, exit statuses, the kernel and the daemons use for one cause, in any
iOS version, land on one reason: memory, watchdog, cpu, signal, user_force_quit, …
"""

from __future__ import annotations

import re
from typing import Any

from harness.core.logparse.containers import number

# -- How processes end ----------------------------------------------------------------------

# `app.terminated` reasons, from the words a crash report, an exit status, the kernel, a
# daemon or Xcode uses: one reason per cause, whichever iOS version wrote it. The first that
# matches wins: a watchdog kill is also an EXC_CRASH (SIGKILL), a codesigning kill a SIGKILL.
_REASONS = (
    ("watchdog", re.compile(r"0x8badf00d|\b2343432205\b|watchdog transgression|"
                            r"has active assertions beyond permitted time", re.IGNORECASE)),
    ("file_lock", re.compile(r"0xdead10cc|\b3735883980\b|suspended with locked system files",
                             re.IGNORECASE)),
    ("memory", re.compile(r"\bjetsam|JETSAM|per-process-limit|RESOURCE_TYPE_MEMORY|"
                          r"EXC_RESOURCE[^\n]*\n?[^\n]*MEMORY|exceeded mem limit|"
                          r"Terminated due to memory issue|\bmemorystatus: kill")),
    ("cpu", re.compile(r"CPU_FATAL|RESOURCE_TYPE_CPU[^\n]*FATAL|\(FATAL\) CPU usage trigger|"
                       r"Event:\s+cpu usage|cpu time over|exceeded \d+ wakes in \d+ sec")),
    ("codesigning", re.compile(r"CODESIGNING")),
    ("signal", re.compile(r"SIGKILL|SIGTERM|SIGQUIT|Killed: 9|\bSIGNAL,? (?:Code )?(?:9|15)\b|"
                          r"Terminated due to signal (?:9|15|3)\b")),
    ("crash", re.compile(r"EXC_BAD_ACCESS|EXC_BREAKPOINT|EXC_BAD_INSTRUCTION|EXC_ARITHMETIC|"
                         r"EXC_GUARD|EXC_CRASH|SIG(?:SEGV|ABRT|BUS|ILL|TRAP|FPE|SYS|PIPE)|"
                         r"Abort trap|Segmentation fault|Bus error|Illegal instruction|"
                         r"Terminated due to signal \d+")),
)  # fmt: skip
_NOT_FATAL = re.compile(r"EXC_RESOURCE")  # a resource report that names no kill: app lives on


def _termination_reason(text: str) -> str | None:
    return next((reason for reason, pattern in _REASONS if pattern.search(text)), None)


def _reason_attrs(_: re.Match[str], message: str) -> dict[str, Any]:
    """`reason` from the whole message, for the forms whose words name the cause."""
    reason = _termination_reason(message)
    return {} if reason is None else {"reason": reason}


# launchd's exit reason namespaces (xnu sys/reason.h: OS_REASON_JETSAM 1, OS_REASON_SIGNAL 2,
# OS_REASON_CODESIGNING 3), as RunningBoard reports them: `termination reported by launchd
# (namespace, code, status)`. Uncertain: read from xnu, seen once in a pasted log.
_SIGNALS_KILLED = frozenset({3, 9, 15})


def _launchd_attrs(m: re.Match[str], _: str) -> dict[str, Any]:
    namespace, code = number(m["_ns"]), number(m["_code"])
    attrs: dict[str, Any] = {"exit_reason": f"{namespace}, {code}"}
    if namespace == 1:
        attrs["reason"] = "memory"
    elif namespace == 2:
        attrs["reason"] = "signal" if code in _SIGNALS_KILLED else "crash"
    elif namespace == 3:
        attrs["reason"] = "codesigning"
    return attrs


# `task.expired` reasons: dasd and the framework print a reason code with an expiration; the
# one seen so far (`reasons: 1048576`, `reason: 2`) came with the user's Stop of a continued
# task's Live Activity (facts B3, [M], uncertain: one observation). Unknown codes stay codes.
_EXPIRATION_CODES = {1048576: "user_stop"}  # dasd's ActivityExpirationEvent `reasons`
_REQUEST_CODES = {2: "user_stop"}  # _BGTaskExpirationRequest `reason`


def _expiration_attrs(m: re.Match[str], _: str) -> dict[str, Any]:
    groups = m.groupdict()
    code, table = (
        (groups["_reasons"], _EXPIRATION_CODES)
        if groups.get("_reasons")
        else (groups.get("_code"), _REQUEST_CODES)
    )
    if not code:
        return {}
    attrs: dict[str, Any] = {"reason_code": number(code)}
    if attrs["reason_code"] in table:
        attrs["reason"] = table[attrs["reason_code"]]
    return attrs


_CRASH_LINE = re.compile(r"^[ \t]*(?:> ?)?([A-Za-z/ ]+?):[ \t]*(\S[^\n]*)$", re.MULTILINE)
_CRASH_PROCESS = re.compile(r"(?P<name>.+?) \[(?P<pid>\d+)\]")


def _crash_attrs(_: re.Match[str], message: str) -> dict[str, Any] | None:
    """A crash report's fields → reason, bundle, pid; None for a non-fatal resource report."""
    fields: dict[str, str] = {}
    for name, value in _CRASH_LINE.findall(message):
        fields.setdefault(name, value.strip())
    summary = "\n".join(
        fields.get(name, "")
        for name in ("Exception Type", "Exception Subtype", "Exception Codes",
                     "Termination Reason", "Termination Signal", "Termination Description")
    )  # fmt: skip
    reason = _termination_reason(summary)
    if reason is None and _NOT_FATAL.search(summary):
        return None
    attrs: dict[str, Any] = {} if reason is None else {"reason": reason}
    for key, name in (("exception", "Exception Type"), ("termination", "Termination Reason")):
        if name in fields:
            attrs[key] = fields[name]
    process = _CRASH_PROCESS.match(fields.get("Process", ""))
    if process:
        attrs["name"], attrs["pid"] = process["name"], number(process["pid"])
    if "Identifier" in fields:
        attrs["bundle"] = fields["Identifier"]
    return attrs


_APP_PROCESS = re.compile(r"\bapp(?:lication)?<(?P<bundle>[^>(]+)(?:\([^)]*\))?>:(?P<pid>\d+)")
_EXIT_STATUS = re.compile(r"status:<RBSProcessExitStatus\| (?P<status>[^>]*)>")


def _exit_attrs(m: re.Match[str], message: str) -> dict[str, Any] | None:
    """An RBS exit context → reason (or `exit: voluntary`), bundle, pid; None if not an app's."""
    app = _APP_PROCESS.search(message)
    if app is None:
        return None
    context = m["context"]
    attrs: dict[str, Any] = {"bundle": app["bundle"], "pid": number(app["pid"])}
    reason = _termination_reason(context)
    if reason:
        attrs["reason"] = reason
    elif "voluntary" in context:
        attrs["exit"] = "voluntary"
    status = _EXIT_STATUS.search(context)
    if status:
        attrs["status"] = status["status"]
    return attrs


# Who a daemon's or the kernel's termination line names, in the forms of its eras.
_WHO = (
    re.compile(r"<BKNewProcess: [^;]*; (?:(?P<bundle>[\w.-]+)|[^;]*); pid: (?P<pid>\d+)"),
    re.compile(r"\bapp(?:lication)?<(?P<bundle>[^>(]+)(?:\([^)]*\))?>:(?P<pid>\d+)"),
    re.compile(r"(?P<name>[\w.-]+)\[(?P<pid>\d+)\](?= (?:has active|exceeded|used))"),
    re.compile(r"(?P<name>[\w.-]+):(?P<pid>\d+) has active"),
)


def _who(text: str) -> dict[str, Any]:
    for pattern in _WHO:
        m = pattern.search(text)
        if m:
            return {k: number(v) if k == "pid" else v for k, v in m.groupdict().items() if v}
    return {}


def _killed_attrs(_: re.Match[str], message: str) -> dict[str, Any]:
    """`reason` from the message's words and who was killed, as the line names them."""
    return {**_who(message), **_reason_attrs(_, message)}


def _background_task_id(m: re.Match[str], _: str) -> dict[str, Any]:
    """UIKit's identifier: decimal with its hex beside it, hex alone in the older spelling."""
    token = m["_id"]
    if len(token) > 16:  # no identifier UIKit hands out is that long
        return {"id": token}
    hex_alone = m["_hex"] is None and m["_old"] is not None
    return {"id": int(token, 16 if hex_alone else 10)}
