"""How processes end: the `reason` of an `app.terminated` or `task.expired`, by family.

The words crash reports, exit statuses, the kernel and the daemons use for one cause, in any
iOS version, land on one reason: memory, watchdog, cpu, signal, user_force_quit, …
"""

from __future__ import annotations

import re
from typing import Any

# -- How processes end ----------------------------------------------------------------------

# `app.terminated` reasons, from the words a crash report, an exit status or the kernel uses.
# The first that matches wins: a watchdog kill is also an EXC_CRASH (SIGKILL).
_REASONS = (
    ("watchdog", re.compile(r"0x8badf00d|\b2343432205\b", re.IGNORECASE)),
    ("file_lock", re.compile(r"0xdead10cc|\b3735883980\b", re.IGNORECASE)),
    ("memory", re.compile(r"\bjetsam|JETSAM|per-process-limit|RESOURCE_TYPE_MEMORY|"
                          r"EXC_RESOURCE[^\n]*\n?[^\n]*MEMORY")),
    ("cpu", re.compile(r"CPU_FATAL|RESOURCE_TYPE_CPU[^\n]*FATAL")),
    ("signal", re.compile(r"SIGKILL|SIGTERM|SIGQUIT|Killed: 9|\bSIGNAL,? (?:Code )?(?:9|15)\b")),
    ("crash", re.compile(r"EXC_BAD_ACCESS|EXC_BREAKPOINT|EXC_BAD_INSTRUCTION|EXC_ARITHMETIC|"
                         r"EXC_GUARD|EXC_CRASH|SIG(?:SEGV|ABRT|BUS|ILL|TRAP|FPE|SYS|PIPE)|"
                         r"Abort trap|Segmentation fault|Bus error|Illegal instruction")),
)  # fmt: skip
_NOT_FATAL = re.compile(r"EXC_RESOURCE")  # a resource report that names no kill: app lives on


def _termination_reason(text: str) -> str | None:
    return next((reason for reason, pattern in _REASONS if pattern.search(text)), None)


_CRASH_LINE = re.compile(r"^[ \t]*([A-Za-z/ ]+?):[ \t]*(\S[^\n]*)$", re.MULTILINE)
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
        attrs["name"], attrs["pid"] = process["name"], int(process["pid"])
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
    attrs: dict[str, Any] = {"bundle": app["bundle"], "pid": int(app["pid"])}
    reason = _termination_reason(context)
    if reason:
        attrs["reason"] = reason
    elif "voluntary" in context:
        attrs["exit"] = "voluntary"
    status = _EXIT_STATUS.search(context)
    if status:
        attrs["status"] = status["status"]
    return attrs
