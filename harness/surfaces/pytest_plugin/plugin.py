"""The pytest plugin: markers, options, the `device`, `app` and `bg` fixtures, and lab scale.

One registered `DevicePlugin` object holds the run's state (inventory, leased devices, the
device × suite tally); the fixtures are thin shells over `harness.session.session`. Library errors
become usage errors, skips or one-line failures with the message as it stands, never a
traceback.

Scale (docs/architecture.md): every device is held under a lease (harness.lab.lease) from its first
test to the end of the run. Under pytest-xdist, `-n auto` starts one worker per selected device and
the `DeviceScheduling` scheduler hands all of a device's tests to one worker, so a device is never
used by two workers; the controller alone writes the run's Allure environment and categories and
prints the summary, from the reports the workers send.

QA reads the run in Allure: every result carries the device as a parameter (from the
parametrisation) and labels for its model, iOS, backend and app version
(harness.surfaces.report); every action of the session is a step; a failing test gets the
timeline picture, the log since the test began, the parsed events, device info and a
screenshot where the device can take one.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import signal
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Generator, Iterator
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import allure
import pytest

from harness.core import timeline_svg
from harness.core.errors import DeviceUnavailable, HarnessError, InfraError, Unsupported, UsageError
from harness.data import observations
from harness.data.appbundle import AppInfo, read_app
from harness.data.inventory import DeviceRecord, load_inventory
from harness.data.state import state_dir
from harness.device.contract import Device, DeviceInfo
from harness.lab.lab import Lab
from harness.lab.lease import (
    DEFAULT_TTL_S,
    Holder,
    LeaseDir,
    LeaseError,
    Leases,
    default_lease_dir,
    human_duration,
)
from harness.session.session import App, Session
from harness.surfaces import report
from harness.surfaces.pytest_plugin.requires import SIGNATURE, from_marker

MARKERS = (
    "device: needs a device (real or virtual); select these tests with -m device",
    f"requires{SIGNATURE}: skip on a device that does not match, "
    "e.g. requires(ios='>=17', tags=['wda'])",
    "app(name): the app of devices.yaml the `app` fixture installs (default: the device's first)",
    "soak: waits for the system's own scheduling: hours on an iPhone, seconds on the virtual one",
    "experiment(fact): records what the device did (bg.observe) where the fact is [M]/[L], "
    "and passes; it must record at least one observation",
)

# How long a run waits for a device another run holds, unless --device-wait says otherwise.
DEFAULT_DEVICE_WAIT_S = 1800.0
# A session action that may wait this many real seconds or more gets a line when it starts.
DEFAULT_PROGRESS_AFTER_S = 60.0
LEASE_TTL_ENV = "BGHARNESS_LEASE_TTL"

_plugin_key = pytest.StashKey["DevicePlugin"]()
_session_key = pytest.StashKey[Session]()
_outcome_key = pytest.StashKey[str]()
_infra_failed_key = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bgharness", "iOS background work on devices (bgharness)")
    group.addoption(
        "--devices",
        metavar="PATH",
        default=None,
        help="the lab inventory (default: devices.yaml in the rootdir)",
    )
    group.addoption(
        "--device",
        metavar="NAME",
        action="append",
        default=[],
        help="run on this device of the inventory (repeatable; default: all)",
    )
    group.addoption(
        "--device-filter",
        metavar="EXPR",
        default=None,
        help="run on devices matching EXPR, e.g. 'virtual and not slow'",
    )
    group.addoption(
        "--bg-reinstall",
        action="store_true",
        help="uninstall and install the app again even when the same build is installed",
    )
    group.addoption(
        "--bg-artifacts",
        metavar="DIR",
        default=None,
        help="where failing tests leave their log and events (default: reports/artifacts)",
    )
    group.addoption(
        "--bg-full-log",
        action="store_true",
        help="attach the whole device log to a failing test (default: only the app's lines and "
        "the background-task daemons'; reports get published)",
    )
    group.addoption(
        "--device-wait",
        metavar="SECONDS",
        type=float,
        default=DEFAULT_DEVICE_WAIT_S,
        help="how long to wait for a device another run holds, with progress lines; 0 fails at "
        f"once naming the holder (default: {DEFAULT_DEVICE_WAIT_S:g})",
    )
    group.addoption(
        "--lease-dir",
        metavar="DIR",
        default=None,
        help="the lease folder every run on this lab Mac shares "
        "(default: $BGHARNESS_LEASE_DIR, else ~/.bgharness/leases)",
    )
    group.addoption(
        "--lease-ttl",
        metavar="SECONDS",
        type=float,
        default=None,
        help="a lease's time-to-live: how soon a device is free after its holder dies "
        f"(default: ${LEASE_TTL_ENV}, else {DEFAULT_TTL_S:g})",
    )
    group.addoption(
        "--bg-observations",
        metavar="PATH",
        default=None,
        help="where experiments append their observations (default: reports/observations.jsonl)",
    )
    group.addoption(
        "--bg-missing",
        choices=("skip", "fail"),
        default=None,
        help="a declared device that is not ready (not attached, not trusted, no Developer Mode, "
        "disk image or tunnel): skip its tests, or fail them as infra (default: fail when the "
        "CI environment variable is set, else skip)",
    )
    group.addoption(
        "--bg-progress-after",
        metavar="SECONDS",
        type=float,
        default=DEFAULT_PROGRESS_AFTER_S,
        help="say when a device wait that may last this many real seconds starts "
        f"(default: {DEFAULT_PROGRESS_AFTER_S:g})",
    )


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    plugin = DevicePlugin(config)
    config.stash[_plugin_key] = plugin
    config.pluginmanager.register(plugin, "bgharness-devices")


@pytest.hookimpl(optionalhook=True, tryfirst=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` on a device run: one worker per selected device (xdist asks before configure;
    tryfirst, or xdist's own answer, the CPU count, would win).

    A run that selects no devices (`pytest tests -n auto`) keeps xdist's own count (CPUs).
    """
    if not _wants_devices(config):
        return None
    try:
        records = _load_selection(config)
    except HarnessError as exc:
        raise pytest.UsageError(str(exc)) from None
    return max(1, len(records))


class DevicePlugin:
    def __init__(self, config: pytest.Config):
        self.config = config
        root = Path(config.rootpath)
        self.state_dir = state_dir(_devices_path(config))
        self.artifacts = Path(config.getoption("bg_artifacts") or root / "reports" / "artifacts")
        self.observations = observations.ObservationLog(
            Path(config.getoption("bg_observations") or root / observations.DEFAULT_PATH)
        )
        self.worker: str | None = _workerinput(config).get("workerid")
        self.run_id: str = _workerinput(config).get("bgharness_run") or uuid.uuid4().hex[:12]
        self.infos: dict[str, DeviceInfo] = {}
        self.tally: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
        self.skips: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
        self.said: list[str] = []
        self._lab: Lab | None = None
        self._lab_error: str | None = None
        self._selected: list[DeviceRecord] | None = None
        self._old_sigterm: Any = None
        self._usage_error: pytest.UsageError | None = None

    # -- Inventory, devices, leases -------------------------------------------------------------

    @property
    def lab(self) -> Lab:
        if self._lab is None:
            if self._lab_error is None:  # a broken devices.yaml is read once a run, not per hook
                try:
                    self._lab = Lab.load(_devices_path(self.config), self.state_dir, self.say)
                except HarnessError as exc:
                    self._lab_error = str(exc)
            if self._lab is None:
                raise pytest.UsageError(self._lab_error)
            self._lab.leases = self._leases()
        return self._lab

    def _leases(self) -> Leases:
        """This process's leases: the holder says which run and worker it is, for `who`."""
        option = self.config.getoption("lease_dir")
        folder = Path(option).expanduser() if option else default_lease_dir()
        ttl = self.config.getoption("lease_ttl") or float(
            os.environ.get(LEASE_TTL_ENV) or DEFAULT_TTL_S
        )
        try:
            return Leases(
                LeaseDir(folder),
                Holder.this_process(run=self.run_id, worker=self.worker),
                ttl=ttl,
                wait=max(0.0, self.config.getoption("device_wait")),
                say=self.say,
            )
        except LeaseError as exc:
            raise pytest.UsageError(str(exc)) from None

    def selected(self) -> list[DeviceRecord]:
        if self._selected is None:
            try:
                self._selected = self.lab.inventory.select(
                    self.config.getoption("device"), self.config.getoption("device_filter")
                )
            except HarnessError as exc:
                raise pytest.UsageError(str(exc)) from None
        return self._selected

    def say(self, line: str) -> None:
        """Tell the user now (a worker writes to the terminal's stderr), and in the summary."""
        prefix = f"[{self.worker}] " if self.worker else ""
        self.said.append(prefix + line)
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        suspended = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if threading.current_thread() is not threading.main_thread():
            suspended = contextlib.nullcontext()  # never toggle capture from the heartbeat thread
        with suspended:
            if self.worker is None and reporter is not None:
                reporter.write_line(f"bgharness: {line}", yellow=True, bold=True)
            else:
                sys.stderr.write(f"\nbgharness: {prefix}{line}\n")  # after xdist's dots
                sys.stderr.flush()

    # -- Collection and scheduling ----------------------------------------------------------------

    @pytest.hookimpl(trylast=True)
    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        # trylast: the device comes after every other parametrisation, so it ends the test id
        # (`test_x[1-virtual-iphone]`), which is how the xdist scheduler tells devices apart.
        if "device" not in metafunc.fixturenames:
            return
        try:
            names = [r.name for r in self.selected()]
        except pytest.UsageError as exc:
            # A collection error would come with a traceback; say it once, after collection.
            self._usage_error = exc
            names = []
        metafunc.parametrize("device", names, indirect=True, ids=names, scope="session")

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        if self._usage_error is not None:
            raise self._usage_error

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        names = [r.name for r in self.selected()] if any(map(_device_param, items)) else []
        for item in items:
            marker = item.get_closest_marker("requires")
            try:  # every test's marker, device or not, so a typo never passes unnoticed
                need = from_marker(marker.args, marker.kwargs) if marker else None
            except UsageError as exc:
                raise pytest.UsageError(f"{item.nodeid}: {exc}") from None
            name = _device_param(item)
            if name is None:
                continue
            why = need.unmet(self.lab.record(name)) if need else None
            if why:
                item.add_marker(pytest.mark.skip(reason=f"{name}: {why}"))
            if self.worker is not None and _device_in_nodeid(item.nodeid, names) != name:
                raise pytest.UsageError(
                    f"{item.nodeid}: cannot tell from its test id that it runs on {name} (another "
                    "parameter's id ends like a device name); rename the device or give that "
                    "parameter ids= so xdist keeps each device on one worker"
                )

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getvalue("dist") == "each":
            return None  # the user asked for every test on every worker
        if not _devices_path(config).is_file():
            return None  # no inventory, so no device tests: xdist's own scheduling
        names = [r.name for r in self.selected()]
        return _device_scheduling(config, log, lambda nodeid: _device_in_nodeid(nodeid, names))

    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        """Controller: every worker's leases name the same run."""
        node.workerinput["bgharness_run"] = self.run_id

    @pytest.hookimpl(optionalhook=True)
    def pytest_testnodedown(self, node: Any, error: Any) -> None:
        """Controller: what a worker said goes into the summary too."""
        self.said += getattr(node, "workeroutput", {}).get("bgharness_said", [])

    # -- The run -----------------------------------------------------------------------------------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # A cancelled CI job gets SIGTERM: unwind like Ctrl-C so every perturbation is undone
        # and every lease given back.
        if threading.current_thread() is threading.main_thread():
            self._old_sigterm = signal.signal(signal.SIGTERM, _raise_interrupt)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        try:
            if self._lab is not None:
                self._lab.close()
        finally:
            if self._old_sigterm is not None:
                signal.signal(signal.SIGTERM, self._old_sigterm)
        if self.worker is not None:
            self.config.workeroutput["bgharness_said"] = self.said  # type: ignore[attr-defined]
        else:
            self._write_allure_run_files()

    def _write_allure_run_files(self) -> None:
        """Controller only: environment.properties and categories.json, once per run."""
        alluredir = getattr(self.config.option, "allure_report_dir", None)
        if not alluredir or not self.tally:
            return
        apps: dict[str, AppInfo] = {}
        for name, entry in self.lab.inventory.apps.items():
            with contextlib.suppress(HarnessError, OSError):
                apps[name] = read_app(entry.path)
        holder = Holder.this_process()
        extra = {
            "bgharness": _version("bgharness"),
            "pytest": pytest.__version__,
            "python": platform.python_version(),
            f"runner.{holder.host}": holder.job or f"{holder.user} (not in CI)",
        }
        records = [r for r in self.selected() if r.name in self.tally]
        report.write_run_files(Path(alluredir), report.environment(records, apps, extra))

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Iterator[None]:
        # trylast: inside allure's wrapper, so its result for this test exists; after setup, so
        # the device's own info (when it opened) beats the inventory's.
        try:
            return (yield)
        finally:
            name = _device_param(item)
            if name is not None:
                for label, value in report.device_labels(
                    self.lab.record(name), self.infos.get(name)
                ):
                    allure.dynamic.label(label, value)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Iterator[None]:
        # A verb this device cannot do (Unsupported says what would make it possible) skips
        # the test on it, as a device that cannot open does.
        try:
            return (yield)
        except Unsupported as exc:
            pytest.skip(str(exc))

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        # trylast: inside allure's wrapper, so what is added here is in its result.
        report_ = yield
        if call.when == "call":
            item.stash[_outcome_key] = report_.outcome
        name = _device_param(item)
        if name is not None:
            report_.user_properties.append(("device", name))
        if call.excinfo is not None and report_.failed:
            found = report.classify(call.excinfo.value)
            if found is not None:
                kind, error = found
                if kind == "infra":
                    self._one_line(item, report_, error)
                _add_to_longrepr(report_, report.failure_marker(kind, error))
                report_.user_properties.append(("failure", kind))
            session = item.stash.get(_session_key, None)
            if call.when == "call" and session is not None:
                self._leave_evidence(session, item)
        return report_

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Tally each device's results by suite (on the controller, from every worker)."""
        props: dict[str, Any] = dict(report.user_properties)
        name = props.get("device")
        if name is None:
            return
        outcome = _outcome(report)
        if outcome is None:
            return
        suite = report.nodeid.split("::")[0]
        self.tally[name][suite][outcome] += 1
        if props.get("failure") == "infra":
            self.tally[name][suite]["infra"] += 1
        if outcome == "skipped":
            self.skips[(name, suite)][_skip_reason(report)] += 1

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.worker is not None or (not self.tally and not self.said):
            return
        terminalreporter.section("bgharness")
        for line in self.said:
            terminalreporter.write_line(line, yellow=True)
        width = max((len(s) for suites in self.tally.values() for s in suites), default=0)
        order = [r.name for r in self.selected() if r.name in self.tally]
        for name in order + [n for n in self.tally if n not in order]:
            suites = self.tally[name]
            total: Counter[str] = Counter()
            for counts in suites.values():
                total.update(counts)
            kind = report.device_kind(self.lab.record(name), self.infos.get(name))
            terminalreporter.write_line(f"{name} ({kind}): {_tally_text(total)}")
            for suite, counts in sorted(suites.items()):
                reasons = self.skips.get((name, suite), Counter())
                why = "; ".join(
                    f"{reason}" + (f" (×{n})" if n > 1 else "") for reason, n in reasons.items()
                )
                line = f"    {suite:<{width}}  {_tally_text(counts)}"
                terminalreporter.write_line(line + (f": {why}" if why else ""))

    def _one_line(
        self, item: pytest.Item, report_: pytest.TestReport, error: BaseException
    ) -> None:
        """An infra failure is one line with its fix; the traceback is behind -v and in the
        artifacts. The `app` fixture's teardown then leaves the phone alone (no second failure)."""
        item.stash[_infra_failed_key] = True
        if item.config.get_verbosity() > 0 or isinstance(report_.longrepr, str):
            return
        folder = self.artifacts / re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "traceback.txt").write_text(str(report_.longrepr))
        report_.longrepr = f"{type(error).__name__}: {error} (traceback: -v, or {folder})"

    # -- Evidence -------------------------------------------------------------------------------

    def _leave_evidence(self, session: Session, item: pytest.Item) -> None:
        """Attach what QA needs to judge a failure, to Allure and to reports/artifacts/<test>/."""
        try:
            files = _evidence(session, item.name, self.config.getoption("bg_full_log"))
        except Exception as exc:  # evidence must never hide the test's own failure
            self.say(f"{session.device.name}: could not gather the failure's evidence: {exc!r}")
            return
        folder = self.artifacts / re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)
        session_events = session.timeline.events(session.started)
        events = "".join(json.dumps(e.as_json()) + "\n" for e in session_events)
        try:
            for file in files:
                allure.attach(file.body, file.title, file.kind)
            folder.mkdir(parents=True, exist_ok=True)
            for file in [*files, _Evidence("events.jsonl", "", None, events)]:
                body = file.body if isinstance(file.body, bytes) else file.body.encode()
                (folder / file.name).write_bytes(body)
        except OSError as exc:  # full or read-only disk: the failure still reports, the run goes on
            self.say(
                f"{session.device.name}: could not write the failure's evidence to {folder} "
                f"({exc.strerror or exc}); free space there or make it writable, or set "
                "--bg-artifacts DIR"
            )


# -- Fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest) -> Device:
    """The device under test, one per device selected in devices.yaml, held under a lease."""
    plugin = request.config.stash[_plugin_key]
    name = getattr(request, "param", None)
    if name is None:
        raise pytest.UsageError(
            "the `device` fixture is parametrised by bgharness; do not override it"
        )
    try:
        opened = plugin.lab.open(name)
    except (Unsupported, DeviceUnavailable) as exc:
        missing = request.config.getoption("bg_missing")
        if (missing or ("fail" if os.environ.get("CI") else "skip")) == "skip":
            pytest.skip(str(exc))
        raise _failure(InfraError(f"{exc} (not ready; --bg-missing=skip skips instead)")) from None
    except HarnessError as exc:  # a lease, an unreadable journal, a state folder it cannot write
        raise _failure(exc) from None
    plugin.infos[name] = opened.info()
    return opened


@pytest.fixture
def bg(request: pytest.FixtureRequest, device: Device) -> Iterator[Session]:
    """The session on the device: trigger, expire, expect, offline(), locked(), mark()."""
    plugin = request.config.stash[_plugin_key]
    try:
        plugin.lab.check_lease(device.name, "bg")
    except LeaseError as exc:
        raise _failure(exc) from None
    record = plugin.lab.record(device.name)
    scale = record.time_scale if record.backend == "virtual" else 1.0
    steps = _Steps(device.name, scale, plugin.say, request.config.getoption("bg_progress_after"))
    steps.log = plugin.observations
    session = Session(device, plugin.lab.journal, steps)
    node = request.node
    # An observation's scenario is the test function, so a sweep's points share it.
    session.scenario, session.test = node.nodeid.split("[")[0], node.nodeid
    session.run = plugin.run_id
    request.node.stash[_session_key] = session
    experiment = node.get_closest_marker("experiment")
    if experiment is not None:
        allure.dynamic.tag("experiment")
        for fact in [*experiment.args, *filter(None, [experiment.kwargs.get("fact")])]:
            allure.dynamic.label("fact", str(fact))
    try:
        yield session
    finally:
        session.close()
    passed = node.stash.get(_outcome_key, "") == "passed"
    if experiment is not None and passed and not session.observations:
        pytest.fail(
            f"{node.nodeid} is an experiment but recorded no observation: call bg.observe(...)",
            pytrace=False,
        )
    try:  # a lease lost during the test (its heartbeat could not write) fails it here
        plugin.lab.check_lease(device.name, "bg teardown")
    except LeaseError as exc:
        raise _failure(exc) from None


@pytest.fixture
def app(request: pytest.FixtureRequest, bg: Session, device: Device) -> Iterator[App]:
    """The app under test, installed (once per run) on the device; killed after the test."""
    plugin = request.config.stash[_plugin_key]
    marker = request.node.get_closest_marker("app")
    try:
        name = plugin.lab.app_for(device.name, marker.args[0] if marker else None)
        with allure.step(f"install {name} on {device.name}"):
            info = plugin.lab.install(device.name, name, plugin.config.getoption("bg_reinstall"))
    except UsageError as exc:
        raise _failure(exc) from None
    allure.dynamic.label(*report.app_label(info))
    the_app = App(bg, info, debuggable=plugin.lab.inventory.apps[name].debuggable)
    yield the_app
    if request.node.stash.get(_infra_failed_key, False):
        return  # the phone already failed this test: asking it again would fail it twice
    pid = the_app.pid
    if pid is not None:
        device.kill(pid)  # the next test starts from a cold launch


# -- The session's observer ----------------------------------------------------------------------


class _Steps:
    """Each session action as an Allure step; a line when one may wait long in real time.

    `scale` is real seconds per device second (1 on an iPhone, the virtual iPhone's time_scale),
    so a 12-hour expectation on a phone is announced and one on a jumping virtual clock is not.
    """

    def __init__(self, device: str, scale: float, say: Callable[[str], None], after: float):
        self.device, self.scale, self.say, self.after = device, scale, say, after
        self.log: observations.ObservationLog | None = None

    def observed(self, observation: observations.Observation) -> None:
        """An experiment's observation: appended to the run's file, attached to the result."""
        if self.log is not None:
            self.log.append(observation)
        allure.attach(
            json.dumps(observation.as_json(), indent=1),
            f"observation: {observation.describe()}",
            allure.attachment_type.JSON,
        )

    @contextlib.contextmanager
    def step(self, title: str, waits: float = 0.0) -> Iterator[None]:
        with allure.step(title):
            if waits * self.scale < self.after:
                yield
                return
            self.say(f"{self.device}: {title}: may wait up to {human_duration(waits * self.scale)}")
            started = time.monotonic()
            outcome = "failed"
            try:
                yield
                outcome = "done"
            finally:
                took = human_duration(time.monotonic() - started)
                self.say(f"{self.device}: {title}: {outcome} after {took}")


# -- xdist ---------------------------------------------------------------------------------------


def _device_scheduling(config: pytest.Config, log: Any, device_of: Callable[[str], Any]) -> Any:
    """xdist's load-scope scheduler with one scope per device: all of a device's tests are one
    unit of work, so exactly one worker runs them (and holds the device's lease). Tests without
    a device stay one unit each, spread like `--dist load`."""
    from xdist.scheduler import LoadScopeScheduling

    class DeviceScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            name = device_of(nodeid)
            return f"bgharness device {name}" if name else nodeid

    return DeviceScheduling(config, log)


def _device_in_nodeid(nodeid: str, names: list[str]) -> str | None:
    """The device a test id ends with (`...[virtual-iphone]`, `...[1-virtual-iphone]`)."""
    if not nodeid.endswith("]"):
        return None
    for name in sorted(names, key=len, reverse=True):
        if nodeid.endswith(f"[{name}]") or nodeid.endswith(f"-{name}]"):
            return name
    return None


# -- Helpers -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Evidence:
    """One piece of a failure's evidence: its file name on disk, its Allure title and type."""

    name: str
    title: str
    kind: Any  # an allure.attachment_type
    body: str | bytes


def _evidence(session: Session, test: str, full_log: bool = False) -> list[_Evidence]:
    """The timeline picture, the log since the test began, its events, device info, screen."""
    start = session.started
    now = session.clock.now()
    events = session.timeline.events(start)
    entries = session.timeline.entries(start)
    log = report.device_log(entries, session.app.info if session.app else None, full_log)
    info = session.device.info()
    svg = timeline_svg.render(
        events,
        session.spans,
        start=start.time,
        end=now,
        title=f"{info.name} · {test}",
        misses=session.misses,
    )
    about = {
        **asdict(info),
        "capabilities": sorted(info.capabilities),
        "spans": [asdict(s) for s in session.spans],
    }
    files = [
        _Evidence("timeline.svg", "timeline", allure.attachment_type.SVG, svg),
        _Evidence(
            "device.log", "device log since the test began", allure.attachment_type.TEXT, log
        ),
        _Evidence(
            "events.json",
            "events",
            allure.attachment_type.JSON,
            json.dumps([e.as_json() for e in events], indent=1),
        ),
        _Evidence("device.json", "device info", allure.attachment_type.JSON, json.dumps(about)),
    ]
    with contextlib.suppress(HarnessError):  # Unsupported: the virtual iPhone has no screen
        png = session.device.screenshot()
        files.append(_Evidence("screenshot.png", "screenshot", allure.attachment_type.PNG, png))
    return files


def _failure(error: HarnessError) -> BaseException:
    """pytest's one-line failure for a library error. Raised `from None`, so the terminal shows
    the message once; the error stays its __context__, so its failure kind is still known."""
    return pytest.fail.Exception(str(error), pytrace=False)


def _add_to_longrepr(report_: pytest.TestReport, line: str) -> None:
    """Put the failure kind where people (terminal) and Allure's categories (trace) read it."""
    longrepr = report_.longrepr
    if isinstance(longrepr, str):
        report_.longrepr = f"{longrepr}\n{line}"
    elif (addsection := getattr(longrepr, "addsection", None)) is not None:
        addsection("bgharness", line)


def _outcome(report_: pytest.TestReport) -> str | None:
    if report_.when == "call":
        return report_.outcome
    if report_.failed:
        return "error"
    if report_.skipped:
        return "skipped"
    return None


def _skip_reason(report_: pytest.TestReport) -> str:
    longrepr = report_.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return "skipped"


def _tally_text(counts: Counter[str]) -> str:
    parts = []
    for outcome in ("passed", "failed", "error", "skipped"):
        if counts[outcome]:
            parts.append(f"{counts[outcome]} {outcome}")
    if counts["infra"]:
        parts.append(f"of which {counts['infra']} infra")
    return ", ".join(parts) or "nothing run"


def _device_param(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("device") if callspec else None


def _workerinput(config: pytest.Config) -> dict[str, Any]:
    """xdist's input to this worker; empty on the controller or without xdist."""
    return getattr(config, "workerinput", {})


def _devices_path(config: pytest.Config) -> Path:
    return Path(config.getoption("devices") or Path(config.rootpath) / "devices.yaml")


def _load_selection(config: pytest.Config) -> list[DeviceRecord]:
    inventory = load_inventory(_devices_path(config))
    return inventory.select(config.getoption("device"), config.getoption("device_filter"))


def _wants_devices(config: pytest.Config) -> bool:
    """Whether this run selects devices: `-m` names `device` (not only `not device`), or a
    device option was given."""
    markexpr = config.getoption("markexpr") or ""
    marked = bool(re.search(r"(?<!not )\bdevice\b", markexpr))
    chosen = config.getoption("device") or config.getoption("device_filter")
    return marked or bool(chosen) or config.getoption("devices") is not None


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
