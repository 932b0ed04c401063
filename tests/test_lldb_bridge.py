"""The lldb bridge: what it types, what lldb's answers mean, timeouts, retries, and real lldb.

Most tests drive a scripted stand-in (tests/fixtures/fake_lldb.py), so they run anywhere. The
`lldb` ones attach the real lldb to a tiny C program (tests/fixtures/bgh_fixture.c), by pid and
through `lldb-server gdbserver` on localhost, as the harness attaches to an iPhone app through
its debugserver; they skip, with the reason, where lldb or a C compiler is missing.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.core.clock import WallClock
from harness.core.debugger import simulate_expiration_command, simulate_launch_command
from harness.core.errors import DebuggerError, DebugUsageError, InfraError, UsageError
from harness.core.events import LogEntry
from harness.data.inventory import Address
from harness.data.journal import Journal
from harness.device.lldb import (
    LLDB_ENV,
    RULES,
    LldbBridge,
    LldbFailure,
    State,
    Step,
    connect_url,
    diagnose,
    error_lines,
    lldb_command,
    parse_endpoint,
)
from harness.device.logstream import QueueLogStream
from harness.session.session import Session
from tests.fixtures import native

FAKE = Path(__file__).parent / "fixtures" / "fake_lldb.py"
INJECTED = 'x"]; process kill; ["'


# -- A scripted lldb ------------------------------------------------------------------------------


class FakeLldb:
    """Runs tests/fixtures/fake_lldb.py as lldb; `commands` is what reached it, per start."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
        self.log = tmp_path / "fake-lldb.jsonl"
        self.rules: list[tuple[str, str]] = []
        self.command = shlex.join([sys.executable, str(FAKE)])
        self.slept: list[float] = []  # the bridge's backoff sleeps, instead of sleeping
        self._monkeypatch = monkeypatch
        self._write()

    def on(self, pattern: str, action: str) -> FakeLldb:
        self.rules.append((pattern, action))
        self._write()
        return self

    def clear(self) -> None:
        self.rules.clear()
        self._write()

    def _write(self) -> None:
        config = {"log": str(self.log), "rules": self.rules}
        self._monkeypatch.setenv("BGH_FAKE_LLDB", json.dumps(config))

    def records(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines()]

    def starts(self) -> list[int]:
        return [r["pid"] for r in self.records() if "pid" in r]

    def commands(self) -> list[str]:
        """Every command typed, without the bridge's `apropos` markers."""
        return [
            r["command"]
            for r in self.records()
            if "command" in r and not r["command"].startswith("apropos ")
        ]

    def bridge(self, endpoint: str | None = "[fd00::1]:58783", **options) -> LldbBridge:
        options = {"timeout": 5.0, "device": "iphone-test", "sleep": self.slept.append, **options}
        return LldbBridge(endpoint, lldb=self.command, **options)


@pytest.fixture
def fake(tmp_path, monkeypatch):
    return FakeLldb(tmp_path, monkeypatch)


def no_retry(seconds: float) -> None:
    raise AssertionError(f"the bridge was about to retry (after {seconds} s)")


def gone(pid: int, within: float = 5.0) -> bool:
    """True once `pid` is no longer a live process (reaped, or a zombie nobody reaps)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            return True
        if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def lldb_children() -> set[int]:
    """Running (not zombie) lldb processes this test process started; other runs' are not ours."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, parent = fields[0], int(fields[1])
        if comm.startswith("lldb") and state not in ("Z", "X") and parent == os.getpid():
            found.add(int(entry.name))
    return found


def no_such_pid() -> int:
    """A pid that names no process: a child's, once reaped."""
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


# -- What the bridge types --------------------------------------------------------------------


def test_one_short_session_in_apples_order(fake):
    command = simulate_launch_command("dev.bgharness.probe.refresh")
    with fake.bridge().attach(412) as session:
        assert session.state is State.ATTACHED
        assert session.evaluate(command) == ""  # facts A4: a (void) call prints nothing
    assert session.state is State.DETACHED
    assert fake.commands() == [
        "version",
        "settings set auto-confirm true",
        "settings set target.memory-module-load-level minimal",
        "platform select remote-ios",
        "process connect connect://[fd00::1]:58783",  # iOS 17+ tunnels: IPv6 in brackets (facts A7)
        "process attach --pid 412",
        command,
        "process detach",
        "quit",
    ]
    assert session.lldb_version == "lldb version 0.0.0-fake"


def test_local_attach_selects_no_platform_and_connects_nowhere(fake):
    with fake.bridge(None).attach(7) as session:
        session.evaluate("expr -- 1")
    assert "platform select remote-ios" not in fake.commands()
    assert not any(c.startswith("process connect") for c in fake.commands())
    assert fake.records()[0]["argv"] == ["--no-lldbinit", "--no-use-colors"]


def test_evaluate_returns_lldbs_output_without_the_echo_or_the_marker(fake):
    fake.on(r"^expr -- bgh_fixture_ping\(\)$", "(int) $0 = 1")
    with fake.bridge().attach(412) as session:
        assert session.evaluate("expr -- bgh_fixture_ping()") == "(int) $0 = 1"
    assert "(int) $0 = 1" in session.transcript


def test_detach_is_idempotent_and_evaluate_after_it_names_the_state(fake):
    session = fake.bridge().attach(412)
    session.detach()
    session.detach()
    with pytest.raises(DebuggerError, match=r"evaluate\(\) .* in state detached; .*attach again"):
        session.evaluate(simulate_launch_command("a.b"))
    assert fake.commands().count("process detach") == 1


def test_an_error_in_the_block_is_the_one_raised_and_lldb_still_detaches(fake):
    with pytest.raises(KeyError), fake.bridge().attach(412):
        raise KeyError("the test's own error")
    assert fake.commands()[-2:] == ["process detach", "quit"]


def test_evaluate_refuses_a_second_line_so_nothing_rides_along(fake):
    with fake.bridge().attach(412) as session:
        for sneaky in ("expr -- 1\nprocess kill", "expr -- 1\rprocess kill", "", "  "):
            with pytest.raises(UsageError, match="one command on one line"):
                session.evaluate(sneaky)
    assert "process kill" not in " ".join(fake.commands())


@pytest.mark.parametrize(
    ("text", "address", "url"),
    [
        ("127.0.0.1:1234", Address("127.0.0.1", 1234), "connect://127.0.0.1:1234"),
        ("[fd7b:e2f::1]:58783", Address("fd7b:e2f::1", 58783), "connect://[fd7b:e2f::1]:58783"),
        ("lab-mac.local:9", Address("lab-mac.local", 9), "connect://lab-mac.local:9"),
        (Address("::1", 5), Address("::1", 5), "connect://[::1]:5"),
    ],
)
def test_endpoints(text, address, url):
    assert parse_endpoint(text) == address
    assert connect_url(parse_endpoint(text)) == url


@pytest.mark.parametrize(
    "text",
    [
        "localhost",
        "host:0",
        "host:65536",
        "a;process kill:1",
        'a"b:1',
        "[::1]:x",
        ":1",
        "fd7b:e2f::1:58783",
    ],  # IPv6 goes in brackets: without them the port is a guess
)
def test_an_endpoint_that_is_not_an_address_is_refused(text):
    with pytest.raises(UsageError, match="endpoint"):
        LldbBridge(text)


def test_lldb_command_precedence(monkeypatch):
    monkeypatch.setenv(LLDB_ENV, "/opt/llvm/bin/lldb -S /dev/null")
    assert lldb_command("xcrun lldb") == ["xcrun", "lldb"]
    assert lldb_command() == ["/opt/llvm/bin/lldb", "-S", "/dev/null"]
    monkeypatch.delenv(LLDB_ENV)
    monkeypatch.setattr(sys, "platform", "darwin")
    assert lldb_command() == ["xcrun", "lldb"]


def test_bad_pids_never_start_lldb(fake):
    for pid in (0, -1, True, "412"):
        with pytest.raises(UsageError, match="is not a process id"):
            fake.bridge().attach(pid)
    assert fake.starts() == []


# -- What lldb's failures mean -------------------------------------------------------------------

CONTEXT = {"device": "iphone-15", "pid": 412, "endpoint": "[fd00::1]:58783", "command": "e"}


@pytest.mark.parametrize(
    ("step", "output", "kind", "says"),
    [
        (
            Step.EVALUATE,
            "error: expression failed to parse:\n"
            "error: <user expression 0>:1:9: use of undeclared identifier 'BGTaskScheduler'",
            DebugUsageError,
            "does not link BackgroundTasks.framework",
        ),
        (
            Step.EVALUATE,
            "Error [IRForTarget]: Couldn't resolve the class for an Objective-C static method "
            "call\nerror: The expression could not be prepared to run in the target",
            DebugUsageError,
            "older than 13",
        ),
        (
            Step.ATTACH,
            "error: attach failed: Not allowed to attach to process.  Look in the console "
            "messages (Console.app), near the debugserver entries",
            DebugUsageError,
            "development-signed build",
        ),
        (
            Step.ATTACH,
            "error: attach failed: Failed to get the task for process 412",
            DebugUsageError,
            "get-task-allow",
        ),
        (
            Step.ATTACH,
            "error: attach failed: Operation not permitted",
            DebugUsageError,
            "no other debugger",
        ),
        (
            Step.ATTACH,
            "error: attach failed: Cannot get process architecture",
            DebugUsageError,
            "no process 412 to attach to",
        ),
        (Step.ATTACH, "error: attach failed: no such process.", DebugUsageError, "launch it first"),
        (Step.CONNECT, "error: Failed to connect port", LldbFailure, "tunnel to the phone is not"),
        (Step.CONNECT, "error: Connection refused", LldbFailure, "pymobiledevice3 remote tunneld"),
        (
            Step.CONNECT,
            "error: failed to get reply to handshake packet within timeout of 0.0 seconds",
            LldbFailure,
            "does not answer",
        ),
        (
            Step.PLATFORM,
            'error: unable to find a plug-in for the platform named "remote-ios"',
            LldbFailure,
            "xcrun lldb",
        ),
        (Step.ATTACH, "error: attach failed: something new", DebugUsageError, "is the app running"),
        (Step.EVALUATE, "error: no member named 'x'", DebugUsageError, "could not evaluate `e`"),
        (Step.SETUP, "error: invalid value", LldbFailure, "lldb failed at `e`"),
        (Step.DETACH, "error: invalid process", LldbFailure, "lldb failed at `e`"),
    ],
)
def test_lldbs_failures_say_the_fix(step, output, kind, says):
    error = diagnose(step, output, CONTEXT)
    assert type(error) is kind
    message = str(error)
    assert message.startswith("iphone-15: ") and says in message
    assert error_lines(output)[-1] in message, "lldb's own words are kept"
    retry = getattr(error, "retry", False)
    assert retry == (step is Step.CONNECT), "only the connection is worth another try"
    assert error.infra == (kind is LldbFailure)


@pytest.mark.parametrize(
    "output",
    [
        "",
        "Process 412 stopped\n* thread #1, stop reason = signal SIGSTOP",
        "  Platform: remote-ios\n Connected: no\n  SDK Path: error: unable to locate SDK",
        "ModuleNotFoundError: No module named 'lldb.embedded_interpreter'",
    ],
)
def test_output_without_an_error_line_is_success(output):
    assert diagnose(Step.ATTACH, output, CONTEXT) is None


def test_an_attach_that_stopped_the_process_is_attached_whatever_else_lldb_says(fake):
    fake.on(
        r"^process attach ",
        "error: unable to load symbols for libswiftCore.dylib\nProcess 412 stopped",
    )
    with fake.bridge().attach(412) as session:
        assert session.state is State.ATTACHED
    assert "unable to load symbols" in session.transcript


def test_every_step_has_a_catch_all():
    for step in Step:
        assert any(step in rule.steps and rule.pattern.pattern == "." for rule in RULES), step


# -- Retries, timeouts, kills ----------------------------------------------------------------------


def test_a_refused_connection_is_retried_with_backoff_then_reported_with_every_attempt(fake):
    fake.on(r"^process connect ", "error: Failed to connect port")
    with pytest.raises(LldbFailure) as info:
        fake.bridge(attempts=3).attach(412)
    assert len(fake.starts()) == 3 and fake.slept == [0.5, 1.0]
    assert info.value.infra and info.value.retry
    assert "debugserver or the tunnel to the phone is not up" in str(info.value)
    transcript = info.value.transcript
    assert [f"attempt {n} of 3" in transcript for n in (1, 2, 3)] == [True] * 3
    assert transcript.count("\nerror: Failed to connect port") == 3  # lldb's own lines
    assert "process attach" not in fake.commands(), "no attach without a connection"
    assert all(gone(pid) for pid in fake.starts())


def test_a_connection_that_comes_up_on_the_second_try_attaches(fake):
    fake.on(r"^process connect ", "error: Failed to connect port")
    # The tunnel comes up while the bridge backs off.
    with fake.bridge(sleep=lambda seconds: fake.clear()).attach(412) as session:
        session.evaluate("expr -- 1")
    assert len(fake.starts()) == 2 and session.state is State.DETACHED


def test_the_apps_faults_are_never_retried(fake):
    fake.on(r"^process attach ", "error: attach failed: Not allowed to attach to process.")
    with pytest.raises(DebuggerError, match="development-signed") as info:
        fake.bridge(attempts=5).attach(412)
    assert len(fake.starts()) == 1 and fake.slept == []
    assert not info.value.infra
    assert "Not allowed to attach" in info.value.transcript


def test_a_hung_connect_is_killed_retried_and_infra(fake):
    fake.on(r"^process connect ", "@hang")
    started = time.monotonic()
    with pytest.raises(LldbFailure, match=r"lldb hung: no answer to `process connect") as info:
        fake.bridge(timeout=0.5, attempts=2).attach(412)
    assert time.monotonic() - started < 10
    assert info.value.infra and len(fake.starts()) == 2
    assert info.value.transcript.count("[bgharness] killed lldb (pid") == 2
    assert all(gone(pid) for pid in fake.starts()), "no hung lldb left behind"


def test_an_lldb_that_hangs_by_itself_is_broken_not_flaky(fake):
    fake.on(r"^version$", "@hang")
    with pytest.raises(LldbFailure, match=r"no answer to `version` .*working one") as info:
        fake.bridge(timeout=0.5, attempts=3).attach(412)
    assert not info.value.retry and len(fake.starts()) == 1 and fake.slept == []


def test_a_hung_evaluate_is_killed_not_retried_and_the_session_is_over(fake):
    fake.on(r"^expr ", "@hang")
    session = fake.bridge(timeout=0.5, attempts=3).attach(412)
    with pytest.raises(LldbFailure, match=r"no answer to `expr -- 1` \(evaluate\)") as info:
        session.evaluate("expr -- 1")
    assert not info.value.retry and session.state is State.DETACHED
    assert "killed it" in str(info.value) and "deadlocked" in str(info.value)
    assert len(fake.starts()) == 1 and gone(fake.starts()[0])
    session.detach()  # harmless: lldb is gone, so nothing is attached


def test_lldb_that_dies_is_infra_with_its_transcript(fake):
    fake.on(r"^process attach ", "@exit")
    with pytest.raises(LldbFailure, match=r"lldb exited during `process attach --pid 412`"):
        fake.bridge(attempts=1).attach(412)


def test_lldb_that_will_not_quit_is_killed(fake):
    fake.on(r"^quit$", "@hang")
    session = fake.bridge(timeout=0.5).attach(412)
    with pytest.raises(LldbFailure, match="did not quit"):
        session.detach()
    assert gone(fake.starts()[0])


def test_missing_lldb_says_how_to_install_it(fake):
    with pytest.raises(LldbFailure, match=r"apt-get install -y lldb.*BGHARNESS_LLDB") as info:
        LldbBridge(None, lldb="/nonexistent/lldb", sleep=fake.slept.append).attach(412)
    assert not info.value.retry and fake.slept == []


# -- Nothing but a task identifier reaches lldb --------------------------------------------------


class BridgedDevice:
    """A device whose debugger is the real bridge (over `lldb`), its log a queue the test fills."""

    name = "bridged"

    def __init__(self, bridge: LldbBridge, pid: int, answer: bool = True):
        self.bridge, self._pid, self._answer = bridge, pid, answer
        self.clock = WallClock()
        self.stream = QueueLogStream()

    def log_stream(self):
        return self.stream

    def pid(self, bundle_id):
        return self._pid

    def debugger(self, pid):
        session = self.bridge.attach(pid)
        if not self._answer:
            return session
        device = self

        class Answering:
            """What an iPhone does when the simulate call runs: BackgroundTasks logs it
            (facts A2)."""

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                session.__exit__(*exc)

            def evaluate(self, command):
                output = session.evaluate(command)
                task = re.search(r'@"([^"]+)"', command)[1]
                device.stream.put(
                    LogEntry(
                        device.clock.now(),
                        "BGProbe",
                        pid,
                        f"Simulating launch for task with identifier {task}",
                        "com.apple.BackgroundTasks",
                        "Framework",
                    )
                )
                return output

            def detach(self):
                session.detach()

        return Answering()


def _session(device, tmp_path) -> Session:
    session = Session(device, Journal(tmp_path / "journal"))
    session.app = type("Running", (), {"bundle_id": "dev.bgharness.probe"})()
    return session


def test_session_sends_exactly_the_built_command_and_an_injection_never_starts_lldb(fake, tmp_path):
    session = _session(BridgedDevice(fake.bridge(), 412), tmp_path)
    try:
        with pytest.raises(UsageError, match="is not a task identifier"):
            session.trigger(INJECTED)
        with pytest.raises(UsageError, match="is not a task identifier"):
            session.expire(INJECTED)
        assert fake.starts() == [], "lldb was never started for a bad identifier"
        event = session.trigger("dev.bgharness.probe.refresh")
    finally:
        session.close()
    assert event.kind == "task.simulate_launch"
    assert simulate_launch_command("dev.bgharness.probe.refresh") in fake.commands()
    assert not any("process kill" in c for c in fake.commands())


# -- Real lldb ------------------------------------------------------------------------------------


def _unless_installed(reason: str | None) -> None:
    """Skip with the reason; fail instead where lldb must be there ($BGHARNESS_REQUIRE_LLDB)."""
    if reason and os.environ.get(native.REQUIRE_ENV):
        pytest.fail(f"{native.REQUIRE_ENV} is set, but {reason}", pytrace=False)
    if reason:
        pytest.skip(reason)


@pytest.fixture
def real_lldb() -> None:
    _unless_installed(native.missing())


@pytest.fixture(scope="module")
def fixture_exe(tmp_path_factory):
    _unless_installed(native.missing())
    return native.build(tmp_path_factory.mktemp("fixture"))


@pytest.fixture
def served():
    """Start `lldb-server gdbserver` servers (the debugserver's stand-in); all stopped after."""
    _unless_installed(native.missing(server=True))
    servers: list[native.GdbServer] = []

    def start(host: str = "127.0.0.1", attach: int | None = None) -> native.GdbServer:
        servers.append(native.GdbServer(host, attach))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def program(fixture_exe, tmp_path):
    running = native.FixtureProgram(fixture_exe, tmp_path / "fixture.log")
    yield running
    running.stop()


def _still_running_free(program: native.FixtureProgram) -> None:
    """Detached for real: nobody traces it, it is not stopped, and it still answers."""
    deadline = time.monotonic() + 5
    while program.tracer() != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert program.tracer() == 0, "still traced after detach"
    assert program.state() in ("S", "R"), f"left in state {program.state()}"
    assert program.proc.poll() is None


def _local_bridge(**options) -> LldbBridge:
    return LldbBridge(None, platform=None, device="host", **{"timeout": 20.0, **options})


def _bridge_to(server: native.GdbServer, **options) -> LldbBridge:
    # On localhost the host platform reads the program's own files; an iPhone is remote-ios.
    return LldbBridge(server.endpoint, platform="host", device="host", **{"timeout": 20, **options})


@pytest.mark.lldb
def test_real_lldb_attaches_by_pid_calls_the_function_and_detaches(program):
    with _local_bridge().attach(program.pid) as session:
        assert program.state() in ("t", "T"), "stopped while attached"
        assert session.evaluate("expr -- (void)bgh_fixture_ping()") == ""
    program.wait_for("ping 1")
    _still_running_free(program)
    assert session.lldb_version.startswith("lldb")


@pytest.mark.lldb
def test_real_lldb_through_lldb_server_gdbserver(program, served):
    server = served()
    with _bridge_to(server).attach(program.pid) as session:
        first = session.evaluate("expr -- bgh_fixture_ping()")
        second = session.evaluate("expr -- bgh_fixture_ping()")
    assert (first, second) == ("(int) $0 = 1", "(int) $1 = 2"), session.transcript
    assert server.proc.wait(10) is not None, "the debugserver ends with its one connection"
    assert program.lines()[1:] == ["ping 1", "ping 2"]
    _still_running_free(program)
    assert "process connect connect://127.0.0.1:" in session.transcript


@pytest.mark.lldb
def test_real_lldb_through_an_ipv6_endpoint_in_brackets(program, served):
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    try:
        server = served("::1")
    except RuntimeError as exc:
        pytest.skip(f"lldb-server cannot listen on [::1]: {exc}")
    with _bridge_to(server).attach(program.pid) as session:
        session.evaluate("expr -- (void)bgh_fixture_ping()")
    program.wait_for("ping 1")
    assert f"process connect connect://[::1]:{server.port}" in session.transcript


@pytest.mark.lldb
def test_real_lldb_runs_apples_command_and_says_the_fix_when_the_class_is_missing(program):
    """A Linux process has no BGTaskScheduler: lldb's real answer maps to the product fix."""
    bridge = _local_bridge(attempts=3, sleep=no_retry)
    with (
        pytest.raises(DebuggerError, match="does not link BackgroundTasks") as info,
        bridge.attach(program.pid) as session,
    ):
        session.evaluate(simulate_expiration_command("dev.bgharness.probe.refresh"))
    assert "undeclared identifier 'BGTaskScheduler'" in info.value.transcript
    assert session.state is State.DETACHED
    _still_running_free(program)


@pytest.mark.lldb
def test_real_session_trigger_reaches_lldb_and_reports_the_missing_class(program, tmp_path):
    session = _session(BridgedDevice(_local_bridge(), program.pid, answer=False), tmp_path)
    try:
        with pytest.raises(UsageError):
            session.trigger(INJECTED)
        with pytest.raises(DebuggerError, match="cannot find BGTaskScheduler in pid"):
            session.trigger("dev.bgharness.probe.refresh")
    finally:
        session.close()
    _still_running_free(program)


@pytest.mark.lldb
def test_real_lldb_refused_for_a_process_that_does_not_exist(real_lldb):
    pid = no_such_pid()
    with pytest.raises(DebuggerError, match=rf"no process {pid} to attach to") as info:
        _local_bridge(attempts=3, sleep=no_retry).attach(pid)
    assert "launch it first" in str(info.value) and not info.value.infra


@pytest.mark.lldb
def test_real_lldb_refused_when_another_debugger_holds_the_app(program, served):
    """ptrace refuses a second tracer, as iOS refuses a build without get-task-allow."""
    served(attach=program.pid)
    deadline = time.monotonic() + 5
    while program.tracer() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    with pytest.raises(DebuggerError, match="not allowed to attach") as info:
        _local_bridge(attempts=3, sleep=no_retry).attach(program.pid)
    assert "Operation not permitted" in str(info.value)
    assert "development-signed" in str(info.value)


@pytest.mark.lldb
def test_real_lldb_against_a_debugserver_that_never_answers(real_lldb):
    """Accepts, says nothing: every try times out, lldb is killed, nothing is left running."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    started = time.monotonic()
    try:
        bridge = LldbBridge(
            f"127.0.0.1:{port}",
            platform=None,
            timeout=1.5,
            attempts=2,
            backoff=0.1,
            device="host",
        )
        with pytest.raises(InfraError) as info:
            bridge.attach(no_such_pid())
    finally:
        stop.set()
        thread.join(5)
        for conn in accepted:
            conn.close()
        listener.close()
    elapsed = time.monotonic() - started
    error = info.value
    assert isinstance(error, LldbFailure) and error.retry
    assert "lldb hung: no answer to `process connect" in str(error)
    assert len(accepted) == 2 and elapsed < 15
    transcript = error.transcript
    assert f"(lldb) process connect connect://127.0.0.1:{port}" in transcript
    killed = [int(p) for p in re.findall(r"killed lldb \(pid (\d+)\)", transcript)]
    assert len(killed) == 2 and all(gone(pid) for pid in killed)
    assert lldb_children() == set(), "a hung lldb was left behind"


@pytest.mark.lldb
def test_real_lldb_handshake_timeout_is_infra_that_says_so(real_lldb):
    """With a longer step deadline, lldb gives up by itself; its words map to the fix."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        bridge = LldbBridge(f"127.0.0.1:{port}", platform=None, timeout=20, attempts=1)
        with pytest.raises(LldbFailure, match="does not answer") as info:
            bridge.attach(no_such_pid())
    assert "handshake packet" in str(info.value) and info.value.retry


@pytest.mark.lldb
def test_real_lldb_hung_in_the_app_is_killed_and_leaves_nothing_attached(program):
    session = _local_bridge(timeout=2.0).attach(program.pid)
    server = program.tracer()  # on Linux, lldb attaches through an lldb-server of its own
    assert server != 0
    with pytest.raises(LldbFailure, match="deadlocked") as info:
        session.evaluate("expr -- (void)bgh_fixture_hang()")
    assert not info.value.retry and session.state is State.DETACHED
    assert lldb_children() == set(), "lldb left running"
    assert gone(server, within=10), "its lldb-server left running"
    assert program.tracer() == 0, "killing lldb detached the program"
