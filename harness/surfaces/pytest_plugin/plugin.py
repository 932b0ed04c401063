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

The seams are modules of this package: this one holds the options, pytest_configure and the
`DevicePlugin` object's hooks, which delegate to `fixtures` (the fixtures and the session's
observer), `xdist` (scheduling), `summary` (the device × suite tally) and `evidence` (what a
failure leaves).
"""

from __future__ import annotations

import contextlib
import os
import platform
import signal
import sys
import threading
import uuid
from collections.abc import Generator, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import allure
import pytest

from harness.core.errors import HarnessError, Unsupported, UsageError
from harness.data import observations
from harness.data.appbundle import AppInfo, read_app
from harness.data.inventory import DeviceRecord
from harness.data.state import state_dir
from harness.device.contract import DeviceInfo
from harness.lab.lab import Lab
from harness.lab.lease import (
    DEFAULT_TTL_S,
    Holder,
    LeaseDir,
    LeaseError,
    Leases,
    default_lease_dir,
)
from harness.session.session import Session
from harness.surfaces import report
from harness.surfaces.pytest_plugin import evidence, xdist
from harness.surfaces.pytest_plugin.fixtures import (  # the fixtures: pytest finds them here
    _infra_failed_key,
    _outcome_key,
    _plugin_key,
    _session_key,
    _unwritable_key,
    app,
    bg,
    device,
)
from harness.surfaces.pytest_plugin.options import device_param, devices_path, workerinput
from harness.surfaces.pytest_plugin.requires import SIGNATURE, from_marker
from harness.surfaces.pytest_plugin.summary import Tally
from harness.surfaces.pytest_plugin.xdist import pytest_xdist_auto_num_workers

# Found by pytest and pluggy as names of this module (the pytest11 entry point).
__all__ = ["_plugin_key", "app", "bg", "device", "pytest_xdist_auto_num_workers"]

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


class DevicePlugin:
    def __init__(self, config: pytest.Config):
        self.config = config
        root = Path(config.rootpath)
        self.state_dir = state_dir(devices_path(config))
        self.artifacts = Path(config.getoption("bg_artifacts") or root / "reports" / "artifacts")
        self.observations = observations.ObservationLog(
            Path(config.getoption("bg_observations") or root / observations.DEFAULT_PATH)
        )
        self.worker: str | None = workerinput(config).get("workerid")
        self.run_id: str = workerinput(config).get("bgharness_run") or uuid.uuid4().hex[:12]
        self.infos: dict[str, DeviceInfo] = {}
        self.tally = Tally()
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
                    self._lab = Lab.load(devices_path(self.config), self.state_dir, self.say)
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
        names = [r.name for r in self.selected()] if any(map(device_param, items)) else []
        for item in items:
            marker = item.get_closest_marker("requires")
            try:  # every test's marker, device or not, so a typo never passes unnoticed
                need = from_marker(marker.args, marker.kwargs) if marker else None
            except UsageError as exc:
                raise pytest.UsageError(f"{item.nodeid}: {exc}") from None
            name = device_param(item)
            if name is None:
                continue
            why = need.unmet(self.lab.record(name)) if need else None
            if why:
                item.add_marker(pytest.mark.skip(reason=f"{name}: {why}"))
            if self.worker is not None and xdist.device_in_nodeid(item.nodeid, names) != name:
                raise pytest.UsageError(
                    f"{item.nodeid}: cannot tell from its test id that it runs on {name} (another "
                    "parameter's id ends like a device name); rename the device or give that "
                    "parameter ids= so xdist keeps each device on one worker"
                )

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        return xdist.make_scheduler(config, log, lambda: [r.name for r in self.selected()])

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
            name = device_param(item)
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
        name = device_param(item)
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
        self.tally.add(report)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.worker is not None or (not self.tally and not self.said):
            return
        self.tally.write(
            terminalreporter,
            self.said,
            lambda: [r.name for r in self.selected()],
            lambda name: report.device_kind(self.lab.record(name), self.infos.get(name)),
        )

    def _one_line(
        self, item: pytest.Item, report_: pytest.TestReport, error: BaseException
    ) -> None:
        """An infra failure is one line with its fix; the traceback is behind -v and in the
        artifacts. The `app` fixture's teardown then leaves the phone alone (no second failure)."""
        item.stash[_infra_failed_key] = True
        if item.config.get_verbosity() > 0 or isinstance(report_.longrepr, str):
            return
        folder = evidence.artifact_folder(self.artifacts, item.nodeid)
        evidence.save_traceback(folder, str(report_.longrepr))
        report_.longrepr = f"{type(error).__name__}: {error} (traceback: -v, or {folder})"

    def _leave_evidence(self, session: Session, item: pytest.Item) -> None:
        """Attach what QA needs to judge a failure, to Allure and to reports/artifacts/<test>/."""
        written = evidence.leave_evidence(
            session,
            item.name,
            evidence.artifact_folder(self.artifacts, item.nodeid),
            self.config.getoption("bg_full_log"),
            self.say,
        )
        if not written:  # said once: the records' own warning would say it again
            item.stash[_unwritable_key] = True


# -- Helpers -------------------------------------------------------------------------------------


def _add_to_longrepr(report_: pytest.TestReport, line: str) -> None:
    """Put the failure kind where people (terminal) and Allure's categories (trace) read it."""
    longrepr = report_.longrepr
    if isinstance(longrepr, str):
        report_.longrepr = f"{longrepr}\n{line}"
    elif (addsection := getattr(longrepr, "addsection", None)) is not None:
        addsection("bgharness", line)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
