"""The debugger bridge: one short lldb session that attaches, evaluates and detaches.

Apple's recipe (facts A1, A7) is typed into lldb by hand. `LldbBridge` types it for us into an
lldb process, one command at a time on its standard input: platform, `process connect`, the
module-load setting, `process attach`, then the caller's commands, then `process detach` and
`quit`. Each command is followed by `apropos <token>`, whose answer ("No commands found
pertaining to '<token>'") says the command is done; so every step has its own deadline and its
own output, and a failed step stops the session before the next one runs. (`lldb --batch` is
not used: with no process yet, its synchronous `process connect` waits forever for one.)

Never resident (facts A9): a session is attached only between `attach()` and `detach()`; a step that
outlives its deadline kills lldb's process group, which detaches it. Failures of the lab (lldb
missing or hung, debugserver or tunnel down) are `LldbFailure`, infra, and the connection ones
are retried; failures of the app (not debuggable, not running, no BackgroundTasks) are
`DebuggerError` and never retried. Both carry lldb's transcript and say the fix.

The bridge evaluates any one-line command it is given (the end-to-end test calls a C function);
what may reach it is decided above it: `Session` and `bgharness trigger` only ever pass the two
commands built by `harness.core.debugger` from a checked identifier.
"""

from __future__ import annotations

import codecs
import contextlib
import enum
import itertools
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from harness.core.address import Address, AddressError, parse_address
from harness.core.errors import DebuggerError, DebugUsageError, HarnessError, InfraError, UsageError

LLDB_ENV = "BGHARNESS_LLDB"
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_ATTEMPTS = 3
# lldb's own flags: no ~/.lldbinit (a user's init file must not change what we type), no colour.
LLDB_FLAGS = ("--no-lldbinit", "--no-use-colors")
# How long a killed lldb may take to be reaped, and a quitting one to exit by itself.
_REAP_S = 5.0

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_ERROR_LINE = re.compile(r"\s*error(:| \[[^\]]*\]:)", re.IGNORECASE)


# -- Errors -------------------------------------------------------------------------------------


class LldbFailure(InfraError):
    """lldb, or the debugserver it talks to, failed: the lab's fault, not the app's.

    `transcript` is what lldb printed (all attempts); `retry` says whether trying again may help
    (a tunnel or debugserver still coming up), so the bridge retries only those.
    """

    def __init__(self, message: str, transcript: str = "", *, retry: bool = False):
        self.transcript = transcript
        self.retry = retry
        super().__init__(message)


# -- Endpoints ----------------------------------------------------------------------------------


def parse_endpoint(text: str | Address) -> Address:
    """`HOST:PORT` or `[IPv6]:PORT` as an `Address` (harness.core.address: only host-name and
    address characters pass, so nothing but an address reaches lldb)."""
    try:
        return parse_address(str(text), what="the debugserver (where the backend's listens)")
    except AddressError as exc:
        raise AddressError(f"debugserver endpoint: {exc}") from None


def connect_url(endpoint: Address) -> str:
    """What `process connect` takes: IPv6 in brackets, as iOS 17+ tunnels need (facts A7)."""
    return f"connect://{endpoint}"


# -- What lldb's failures mean ------------------------------------------------------------------


class Step(enum.Enum):
    """The steps of one session, in order; a failure is read in the light of its step."""

    START = "start lldb"
    SETUP = "settings"
    PLATFORM = "platform select"
    CONNECT = "process connect"
    ATTACH = "process attach"
    EVALUATE = "evaluate"
    DETACH = "process detach"


class Fault(enum.Enum):
    APP = "app"  # DebuggerError: the app or its build; never retried
    LAB = "lab"  # LldbFailure: lldb or the lab; not retried
    FLAKY = "flaky"  # LldbFailure, retried: a tunnel or debugserver that may come up


@dataclass(frozen=True)
class Rule:
    """lldb printed `pattern` during one of `steps`: this is what it means and the fix."""

    steps: frozenset[Step]
    pattern: re.Pattern[str]
    fault: Fault
    message: str  # str.format: device, pid, endpoint, command, error (lldb's error lines)


def _rule(steps: set[Step], pattern: str, fault: Fault, message: str) -> Rule:
    return Rule(frozenset(steps), re.compile(pattern, re.IGNORECASE), fault, message)


_CONNECTING = {Step.PLATFORM, Step.CONNECT, Step.ATTACH}

# First match wins; the last rules catch whatever lldb says that the others do not know.
RULES: tuple[Rule, ...] = (
    _rule(
        {Step.EVALUATE},
        r"undeclared identifier 'BGTaskScheduler'|couldn't resolve the class"
        r"|could not be prepared to run in the target",
        Fault.APP,
        "{device}: lldb cannot find BGTaskScheduler in pid {pid} ({error}): the app does not "
        "link BackgroundTasks.framework (link it in the app target; a framework only a "
        "dependency uses may not be loaded yet), or the device's iOS is older than 13",
    ),
    _rule(
        {Step.ATTACH},
        r"not allowed to attach|failed to get the task for process|operation not permitted"
        r"|permission denied",
        Fault.APP,
        "{device}: not allowed to attach to pid {pid} ({error}): install a development-signed "
        "build (Xcode Debug/Development signing, with the get-task-allow entitlement; App Store, "
        "TestFlight and Ad Hoc builds cannot be debugged), and make sure no other debugger, "
        "such as Xcode, is attached to the app",
    ),
    _rule(
        {Step.ATTACH},
        r"no such process|process not found|unable to find process|could not find process"
        r"|cannot get process architecture|invalid pid",
        Fault.APP,
        "{device}: there is no process {pid} to attach to ({error}): the app is not running "
        "(launch it first, and take its pid from the device)",
    ),
    _rule(
        {Step.CONNECT},
        r"connection refused|failed to connect port|failed to connect|connection reset",
        Fault.FLAKY,
        "{device}: lldb could not connect to the debugserver at {endpoint} ({error}): the "
        "debugserver or the tunnel to the phone is not up (iOS 17+: is `pymobiledevice3 "
        "remote tunneld` running? below 17: is usbmuxd forwarding?); start it and try again",
    ),
    _rule(
        _CONNECTING,
        r"handshake packet|timed out|timeout|lost connection|connection (was )?closed",
        Fault.FLAKY,
        "{device}: the debugserver at {endpoint} does not answer ({error}): the tunnel is up "
        "but debugserver is not serving it; restart the debugserver (and the tunnel), "
        "then try again",
    ),
    _rule(
        {Step.PLATFORM},
        r"unable to find a plug-in for the platform",
        Fault.LAB,
        "{device}: this lldb has no such platform ({error}): use Xcode's lldb (`xcrun lldb`), "
        f"or set {LLDB_ENV} to an lldb that has it",
    ),
    _rule(
        {Step.ATTACH},
        r".",
        Fault.APP,
        "{device}: lldb could not attach to pid {pid} ({error}): is the app running, and is "
        "it a development-signed build (get-task-allow)?",
    ),
    _rule(
        {Step.EVALUATE},
        r".",
        Fault.APP,
        "{device}: lldb could not evaluate `{command}` in pid {pid} ({error})",
    ),
    _rule(
        {Step.START, Step.SETUP, Step.PLATFORM, Step.CONNECT, Step.DETACH},
        r".",
        Fault.LAB,
        "{device}: lldb failed at `{command}` ({error}); its transcript is attached",
    ),
)


def error_lines(output: str) -> list[str]:
    """lldb's `error:` lines in a step's output (none when the step went well).

    lldb says what failed over several: `error: expression failed to parse:` and then
    `error: <user expression 0>:1:9: use of undeclared identifier 'BGTaskScheduler'`; older ones
    `Error [IRForTarget]: Couldn't resolve the class ...` (facts A4). An `error:` inside a line
    (Debian's `SDK Path: error: unable to locate SDK` after `platform select remote-ios`) is no
    failure.
    """
    return [line.strip() for line in output.splitlines() if _ERROR_LINE.match(line)]


def diagnose(step: Step, output: str, context: dict[str, object]) -> HarnessError | None:
    """The error a step's output means (None if it has no `error:` line); pure."""
    lines = error_lines(output)
    if not lines:
        return None
    said = " / ".join(lines)
    for rule in RULES:
        if step in rule.steps and rule.pattern.search(said):
            message = rule.message.format(error=said, **context)
            if rule.fault is Fault.APP:
                return DebugUsageError(message)
            return LldbFailure(message, retry=rule.fault is Fault.FLAKY)
    raise AssertionError("RULES ends with a catch-all for every step")  # pragma: no cover


# -- The lldb process ---------------------------------------------------------------------------


def lldb_command(lldb: str | None = None) -> list[str]:
    """The argv that starts lldb: `lldb` given, else $BGHARNESS_LLDB, else the platform's own.

    macOS: `xcrun lldb` (Xcode's, which knows remote-ios). Elsewhere `lldb`, or the newest
    `lldb-NN` on PATH (Debian installs both).
    """
    chosen = lldb or os.environ.get(LLDB_ENV)
    if chosen:
        return shlex.split(chosen)
    if sys.platform == "darwin":
        return ["xcrun", "lldb"]
    if shutil.which("lldb"):
        return ["lldb"]
    versions = sorted(
        (int(m[1]), name)
        for folder in os.environ.get("PATH", "").split(os.pathsep)
        if os.path.isdir(folder)
        for name in os.listdir(folder)
        if (m := re.fullmatch(r"lldb-(\d+)", name))
    )
    return [versions[-1][1]] if versions else ["lldb"]


class _StepTimeout(Exception):
    pass


class _Exited(Exception):
    pass


class LldbProcess:
    """One lldb process driven through its standard input; `run` is one command, with a deadline.

    Output (stdout and stderr, in order) is read by a thread into one transcript. The process is
    started in a new session, so `kill` reaches lldb and what it started in its group.
    """

    def __init__(self, argv: list[str]):
        self.argv = argv
        self._text = ""
        self._notes: list[str] = []
        self._eof = False
        self._cond = threading.Condition()
        self._tokens = itertools.count(1)
        self._salt = secrets.token_hex(3)
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def transcript(self) -> str:
        with self._cond:
            return self._text + "".join(f"\n[bgharness] {note}" for note in self._notes)

    def note(self, text: str) -> None:
        """Add bgharness's own line to the transcript (a kill, a retry)."""
        with self._cond:
            self._notes.append(text)

    def start(self) -> None:
        self._proc = subprocess.Popen(
            [*self.argv, *LLDB_FLAGS],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            bufsize=0,
        )
        self._reader = threading.Thread(
            target=self._read, name=f"bgharness-lldb-{self._proc.pid}", daemon=True
        )
        self._reader.start()

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        fd = self._proc.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                chunk = b""
            with self._cond:
                self._text += decoder.decode(chunk, final=not chunk).replace("\r\n", "\n")
                if not chunk:
                    self._eof = True
                self._cond.notify_all()
            if not chunk:
                return

    def run(self, command: str, timeout: float) -> str:
        """Type `command`; its output once lldb has answered the marker after it.

        Raises `_StepTimeout` after `timeout` seconds, `_Exited` if lldb ends first.
        """
        token = f"bghsync{next(self._tokens)}x{self._salt}"
        answer = f"'{token}'"
        with self._cond:
            start = len(self._text)
        self._write(f"{command}\napropos {token}\n")
        deadline = time.monotonic() + timeout
        with self._cond:
            while (end := self._text.find(answer, start)) < 0:
                if self._eof:
                    raise _Exited
                left = deadline - time.monotonic()
                if left <= 0:
                    raise _StepTimeout
                self._cond.wait(left)
            segment = self._text[start:end]
        segment = segment[: segment.rfind("\n") + 1]  # the marker's answer line starts here
        echoes = {f"(lldb) {command}", f"(lldb) apropos {token}"}
        return "\n".join(line for line in segment.splitlines() if line.strip() not in echoes)

    def _write(self, text: str) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        # If lldb is gone, `run` sees the end of its output and says so.
        with contextlib.suppress(OSError, ValueError):
            self._proc.stdin.write(text.encode())

    def quit(self, timeout: float) -> bool:
        """Ask lldb to quit and wait for it; False if it had to be killed."""
        if self._proc is None or self._proc.poll() is not None:
            return True
        self._write("quit\n")
        assert self._proc.stdin is not None
        with contextlib.suppress(OSError, ValueError):
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill(f"lldb did not quit within {timeout:g} s")
            return False
        self._join()
        return True

    def kill(self, why: str) -> None:
        """SIGKILL lldb's process group and reap lldb; harmless if it is already gone."""
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self.note(f"killed lldb (pid {self._proc.pid}): {why}")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
        try:
            self._proc.wait(_REAP_S)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not ignorable
            self.note(f"lldb (pid {self._proc.pid}) survived SIGKILL for {_REAP_S:g} s")
        self._join()

    def _join(self) -> None:
        if self._proc is None:
            return
        if self._proc.stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                self._proc.stdin.close()
        if self._reader is not None:
            self._reader.join(_REAP_S)
            if self._reader.is_alive():
                # Something lldb started still holds its output open; never close a file
                # another thread is reading. The pipe goes when that process does.
                return
        if self._proc.stdout is not None:
            with contextlib.suppress(OSError):
                self._proc.stdout.close()


# -- Sessions -----------------------------------------------------------------------------------


class State(enum.Enum):
    NEW = "new"
    ATTACHED = "attached"
    DETACHED = "detached"


class LldbSession:
    """One attach: `evaluate` while attached, then `detach` (also on leaving a `with` block).

    Created by `LldbBridge.attach`, which has already connected and attached it. Honours
    `harness.core.debugger.DebugSession`.
    """

    def __init__(self, bridge: LldbBridge, pid: int):
        self.bridge = bridge
        self.pid = pid
        self.state = State.NEW
        self.lldb_version = ""
        # How long each step that lldb answered took (seconds): where the time of a trigger goes.
        self.timings: list[tuple[Step, float]] = []
        self._lldb = LldbProcess(bridge.argv())

    # -- Lifecycle ----------------------------------------------------------------------------

    def open(self) -> None:
        """Start lldb, connect, attach; on any failure lldb is gone and the error says why."""
        self._require("open", State.NEW)
        bridge = self.bridge
        steps: list[tuple[Step, str]] = [
            (Step.SETUP, "settings set auto-confirm true"),
            (Step.SETUP, "settings set target.memory-module-load-level minimal"),
        ]
        if bridge.endpoint is not None:
            if bridge.platform:
                steps.append((Step.PLATFORM, f"platform select {bridge.platform}"))
            steps.append((Step.CONNECT, f"process connect {connect_url(bridge.endpoint)}"))
        steps.append((Step.ATTACH, f"process attach --pid {self.pid}"))
        try:
            try:
                self._lldb.start()
            except OSError as exc:
                raise LldbFailure(
                    f"{bridge.device}: cannot start lldb ({shlex.join(self._lldb.argv)}: "
                    f"{exc.strerror or exc}): install it (Debian: `apt-get install -y lldb`; "
                    f"macOS: Xcode), or set {LLDB_ENV} to the lldb to run"
                ) from None
            answer = self._step(Step.START, "version")
            self.lldb_version = next(
                (line for line in answer.splitlines() if line.lower().startswith("lldb")),
                answer.strip(),
            )
            for step, command in steps:
                self._step(step, command)
        except HarnessError:
            self._lldb.kill("the session failed before it was attached")
            self.state = State.DETACHED
            raise
        self.state = State.ATTACHED

    def __enter__(self) -> LldbSession:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # An error already on its way out is the one to report; a failed detach then only
        # leaves its note in the transcript (lldb is killed either way, so not attached).
        self._detach(report=exc_type is None)

    # -- DebugSession -------------------------------------------------------------------------

    def evaluate(self, command: str) -> str:
        """Run one lldb command in the stopped app; lldb's output (empty when a (void) call works).

        Never retried: a simulate call is not idempotent (facts A2: it consumes the request).
        """
        self._require("evaluate", State.ATTACHED)
        if not isinstance(command, str) or not command.strip() or _CONTROL.search(command):
            raise UsageError(
                f"{self.bridge.device}: the debugger bridge evaluates one command on one line; "
                f"{command!r} is empty or holds a line break or control character"
            )
        try:
            return self._step(Step.EVALUATE, command)
        except DebuggerError:
            self._detach(report=False)  # lldb still answers: detach properly, then report
            raise
        except HarnessError:
            self.state = State.DETACHED  # lldb hung or died and was killed, which detached it
            raise

    def detach(self) -> None:
        """Let the app run again and end lldb; harmless to call twice."""
        self._detach(report=True)

    @property
    def transcript(self) -> str:
        """Everything lldb printed in this session, with bgharness's notes."""
        return self._lldb.transcript

    # -- Inside -------------------------------------------------------------------------------

    def _detach(self, report: bool) -> None:
        if self.state is not State.ATTACHED:
            return
        self.state = State.DETACHED
        try:
            self._step(Step.DETACH, "process detach")
        except HarnessError as exc:
            self._lldb.kill(f"detach failed: {exc}")
            if report:
                raise
            return
        if not self._lldb.quit(self.bridge.timeout) and report:
            raise LldbFailure(
                f"{self.bridge.device}: lldb detached from pid {self.pid} but did not quit "
                f"within {self.bridge.timeout:g} s; it was killed",
                self.transcript,
            )

    def _step(self, step: Step, command: str) -> str:
        """Run one command with the bridge's deadline; its output, or the error it means."""
        bridge = self.bridge
        where = f"`{command}` ({step.value})"
        started = time.monotonic()
        try:
            output = self._lldb.run(command, bridge.timeout)
            self.timings.append((step, time.monotonic() - started))
        except _StepTimeout:
            self._lldb.kill(f"no answer to {where} within {bridge.timeout:g} s")
            raise LldbFailure(
                f"{bridge.device}: lldb hung: no answer to {where} within {bridge.timeout:g} s; "
                f"killed it. {_HUNG_FIX[step]}",
                self.transcript,
                retry=step in _RETRY_ON_HANG,
            ) from None
        except _Exited:
            self._lldb.kill("lldb ended by itself")
            raise LldbFailure(
                f"{bridge.device}: lldb exited during {where}; see its transcript",
                self.transcript,
            ) from None
        context = {
            "device": bridge.device,
            "pid": self.pid,
            "endpoint": bridge.endpoint if bridge.endpoint else "(local)",
            "command": command,
        }
        error = diagnose(step, output, context)
        if step is Step.ATTACH and re.search(rf"^Process {self.pid} stopped", output, re.M):
            error = None  # attached; an `error:` about some module's symbols is not fatal
        if error is not None:
            if isinstance(error, LldbFailure | DebuggerError):
                error.transcript = self.transcript
            raise error
        return output

    def _require(self, method: str, *states: State) -> None:
        if self.state not in states:
            wanted = " or ".join(s.value for s in states)
            again = ": attach again" if self.state is State.DETACHED else ""
            raise DebugUsageError(
                f"{self.bridge.device}: {method}() called on the debugger session for pid "
                f"{self.pid} in state {self.state.value}; it needs state {wanted}{again}"
            )


# Hangs worth another try: the tunnel or debugserver may still be coming up. An lldb that hangs
# by itself is broken, not flaky; a hang while evaluating is not retried (the call may have run),
# nor one while detaching (lldb was killed, which detached it).
_RETRY_ON_HANG = frozenset({Step.CONNECT, Step.ATTACH})
_BROKEN_LLDB = (
    f"Is this lldb a working one (`lldb --version`)? {LLDB_ENV} chooses another; a larger "
    "timeout helps where its first start is slow."
)
_HUNG_FIX = {
    Step.START: _BROKEN_LLDB,
    Step.SETUP: _BROKEN_LLDB,
    Step.PLATFORM: _BROKEN_LLDB,
    Step.CONNECT: "The debugserver or the tunnel is not answering: restart them.",
    Step.ATTACH: "The debugserver did not attach: is the device locked up, or the app hung?",
    Step.EVALUATE: "The expression did not return: the app may be deadlocked on its main "
    "thread; lldb was killed, which detached it.",
    Step.DETACH: "lldb was killed, which detached it.",
}


# -- The bridge ---------------------------------------------------------------------------------


class LldbBridge:
    """Where and how to attach lldb for one device; `attach(pid)` gives an attached session.

    `endpoint` is the debugserver (gdb-remote) the backend started, `HOST:PORT` or
    `[IPv6]:PORT`; None attaches by pid on this host (the tests). `platform` is selected before
    connecting (`remote-ios` for iPhones; None selects none). `lldb` is the command to run
    (default: `lldb_command()`). `timeout` bounds every step; `attempts` bounds the retries of
    a flaky connection. The constructor does no I/O.
    """

    def __init__(
        self,
        endpoint: str | Address | None,
        *,
        platform: str | None = "remote-ios",
        lldb: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        device: str = "device",
        attempts: int = DEFAULT_ATTEMPTS,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.endpoint = parse_endpoint(endpoint) if endpoint is not None else None
        if platform is not None and not re.fullmatch(r"[A-Za-z0-9_-]+", platform):
            raise UsageError(f"{platform!r} is not an lldb platform name (e.g. remote-ios)")
        if timeout <= 0 or attempts < 1:
            raise UsageError("the lldb bridge needs timeout > 0 and attempts >= 1")
        self.platform = platform
        self.lldb = lldb
        self.timeout = timeout
        self.device = device
        self.attempts = attempts
        self.backoff = backoff
        self._sleep = sleep

    def argv(self) -> list[str]:
        return lldb_command(self.lldb)

    def attach(self, pid: int) -> LldbSession:
        """An attached session on `pid` (use it as a context manager: it always detaches).

        Connection failures and hangs before the attach are retried (`attempts`, exponential
        backoff); what the app's build or state causes is raised at once.
        """
        if isinstance(pid, bool) or not isinstance(pid, int) or pid <= 0:
            raise UsageError(f"{self.device}: {pid!r} is not a process id")
        transcripts: list[str] = []
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff, max=8 * self.backoff),
            retry=retry_if_exception(lambda exc: isinstance(exc, LldbFailure) and exc.retry),
            sleep=self._sleep,
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                session = LldbSession(self, pid)
                try:
                    session.open()
                except (LldbFailure, DebuggerError) as exc:
                    number = attempt.retry_state.attempt_number
                    transcripts.append(
                        f"--- attempt {number} of {self.attempts}: {exc}\n{session.transcript}"
                    )
                    exc.transcript = "\n".join(transcripts)
                    raise
        return session

    def __repr__(self) -> str:
        where = self.endpoint or "local"
        return f"LldbBridge({where}, platform={self.platform!r}, device={self.device!r})"
