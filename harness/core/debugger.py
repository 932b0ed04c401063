"""The debugger bridge's words: Apple's two simulate commands, and the identifiers they carry.

Apple's recipe (facts A1) stops the app in lldb and evaluates one of two private selectors.
Both backends receive exactly these strings, so the virtual iPhone checks the same text a real
lldb would run. An identifier is checked before it is put in a command: nothing but the
characters a task identifier can hold reaches lldb. The real lldb is driven by harness.device.lldb.
"""

from __future__ import annotations

import re
from types import TracebackType
from typing import Protocol

from harness.core.errors import UsageError

TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,126}")

_COMMAND = (
    "e -l objc -- (void)[[BGTaskScheduler sharedScheduler] "
    '_simulate{action}ForTaskWithIdentifier:@"{task}"]'
)
_COMMAND_RE = re.compile(
    r"e -l objc -- \(void\)\[\[BGTaskScheduler sharedScheduler\] "
    r'_simulate(?P<action>Launch|Expiration)ForTaskWithIdentifier:@"(?P<task>[^"]*)"\]'
)


def check_task_id(task: str) -> str:
    """Return `task` if it is a well-formed task identifier; otherwise say why not."""
    if not isinstance(task, str) or not TASK_ID.fullmatch(task):
        raise UsageError(
            f"{task!r} is not a task identifier: use letters, digits, '.', '-' and '_' only "
            "(at most 127), as in BGTaskSchedulerPermittedIdentifiers"
        )
    return task


def simulate_launch_command(task: str) -> str:
    """The lldb command that asks BackgroundTasks to launch `task` now (facts A2)."""
    return _COMMAND.format(action="Launch", task=check_task_id(task))


def simulate_expiration_command(task: str) -> str:
    """The lldb command that asks BackgroundTasks to expire a simulated `task` (facts A3)."""
    return _COMMAND.format(action="Expiration", task=check_task_id(task))


def parse_simulate_command(command: str) -> tuple[str, str] | None:
    """("launch" | "expiration", task) for one of the two commands, else None."""
    m = _COMMAND_RE.fullmatch(command.strip())
    if not m or not TASK_ID.fullmatch(m["task"]):
        return None
    return m["action"].lower(), m["task"]


class DebugSession(Protocol):
    """An attached debugger: evaluate, then detach. Never left attached (facts A9).

    `Device.debugger(pid)` returns one already attached; `Session` uses it as a context manager,
    so leaving the block detaches, whatever happened inside it.
    """

    def __enter__(self) -> DebugSession: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Detach."""

    def evaluate(self, command: str) -> str:
        """Run one lldb command in the stopped app; lldb's output (empty on success)."""

    def detach(self) -> None:
        """Let the app run again; harmless to call twice."""
