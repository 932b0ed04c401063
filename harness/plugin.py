"""The pytest plugin: markers, options and the `device`, `app` and `bg` fixtures.

One registered `DevicePlugin` object holds the run's state (inventory, open devices, installs,
outcomes per device); the fixtures are thin shells over `harness.session`. Library errors
become usage errors or skips with the message as it stands, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import allure
import pytest

from harness.device import Device
from harness.errors import DeviceUnavailable, HarnessError, Unsupported, UsageError
from harness.inventory import DeviceRecord
from harness.lab import Lab
from harness.session import App, Session

MARKERS = (
    "device: needs a device (real or virtual); select these tests with -m device",
    "requires(ios=None, tags=(), backend=None): skip on a device that does not match, "
    "e.g. requires(ios='>=17', tags=['wda'])",
    "app(name): the app of devices.yaml the `app` fixture installs (default: the device's first)",
    "soak: waits for the system's own scheduling: hours on an iPhone, seconds on the virtual one",
)

_plugin_key = pytest.StashKey["DevicePlugin"]()
_report_key = pytest.StashKey[dict[str, pytest.TestReport]]()


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
        self.state_dir = root / "reports" / ".state"
        self.artifacts = Path(config.getoption("bg_artifacts") or root / "reports" / "artifacts")
        self._lab: Lab | None = None
        self._selected: list[DeviceRecord] | None = None
        self.outcomes: dict[str, Counter[str]] = defaultdict(Counter)
        self.said: list[str] = []
        self._old_sigterm: Any = None
        self._usage_error: pytest.UsageError | None = None

    # -- Inventory and devices ----------------------------------------------------------------

    @property
    def lab(self) -> Lab:
        if self._lab is None:
            path = self.config.getoption("devices") or Path(self.config.rootpath) / "devices.yaml"
            try:
                self._lab = Lab.load(path, self.state_dir, self.say)
            except HarnessError as exc:
                raise pytest.UsageError(str(exc)) from None
        return self._lab

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
        """Tell the user now, and again in the summary."""
        self.said.append(line)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if reporter is not None:
            with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
                reporter.write_line(f"bgharness: {line}", yellow=True, bold=True)

    # -- Hooks ----------------------------------------------------------------------------------

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
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
        for item in items:
            name = _device_param(item)
            marker = item.get_closest_marker("requires")
            if name is not None and marker is not None:
                why = _unmet(self.lab.record(name), **marker.kwargs)
                if why:
                    item.add_marker(pytest.mark.skip(reason=f"{name}: {why}"))

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # A cancelled CI job gets SIGTERM: unwind like Ctrl-C so every perturbation is undone.
        if _main_thread():
            self._old_sigterm = signal.signal(signal.SIGTERM, _raise_interrupt)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self._lab is not None:
            self._lab.close()
        if self._old_sigterm is not None:
            signal.signal(signal.SIGTERM, self._old_sigterm)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Iterator[None]:
        report = yield
        item.stash.setdefault(_report_key, {})[report.when] = report
        name = _device_param(item)
        if name is not None and (report.when == "call" or report.outcome != "passed"):
            self.outcomes[name][report.outcome] += 1
        return report

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.outcomes and not self.said:
            return
        terminalreporter.section("bgharness")
        for line in self.said:
            terminalreporter.write_line(line, yellow=True)
        for name, counts in self.outcomes.items():
            record = self.lab.record(name)
            kind = "virtual iPhone" if record.backend == "virtual" else (record.model or "iPhone")
            ios = f", iOS {record.ios}" if record.ios else ""
            tally = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
            terminalreporter.write_line(f"{name} ({kind}{ios}): {tally}")


# -- Fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest) -> Device:
    """The device under test, one per device selected in devices.yaml."""
    plugin = request.config.stash[_plugin_key]
    name = getattr(request, "param", None)
    if name is None:
        raise pytest.UsageError(
            "the `device` fixture is parametrised by bgharness; do not override it"
        )
    try:
        return plugin.lab.open(name)
    except (Unsupported, DeviceUnavailable) as exc:
        pytest.skip(str(exc))


@pytest.fixture
def bg(request: pytest.FixtureRequest, device: Device) -> Iterator[Session]:
    """The session on the device: trigger, expire, expect, offline(), locked(), mark()."""
    plugin = request.config.stash[_plugin_key]
    info = device.info()
    allure.dynamic.parameter("device", info.name)
    allure.dynamic.label("backend", info.backend)
    allure.dynamic.tag("virtual" if info.virtual else "hardware")
    session = Session(device, plugin.lab.journal)
    try:
        yield session
    finally:
        try:
            reports = request.node.stash.get(_report_key, {})
            if any(r.failed for r in reports.values()):
                _leave_evidence(session, request.node, plugin.artifacts)
        finally:
            session.close()


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
        pytest.fail(str(exc), pytrace=False)
    the_app = App(bg, info)
    yield the_app
    pid = the_app.pid
    if pid is not None:
        device.kill(pid)  # the next test starts from a cold launch


# -- Helpers --------------------------------------------------------------------------------------


def _leave_evidence(session: Session, item: pytest.Item, artifacts: Path) -> None:
    """Attach the log since the test started and the events seen, to Allure and to disk."""
    log = "\n".join(e.syslog_line() for e in session.timeline.entries())
    events = "\n".join(json.dumps(e.as_json()) for e in session.timeline.events())
    allure.attach(log, "device log", allure.attachment_type.TEXT)
    allure.attach(events, "events (jsonl)", allure.attachment_type.JSON)
    folder = artifacts / re.sub(r"[^A-Za-z0-9_.-]+", "_", item.nodeid)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "device.log").write_text(log + "\n")
    (folder / "events.jsonl").write_text(events + "\n")


def _device_param(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("device") if callspec else None


def _unmet(
    record: DeviceRecord, ios: str | None = None, tags: Any = (), backend: str | None = None
) -> str | None:
    """Why `record` does not meet a `requires` marker, or None."""
    if backend is not None and record.backend != backend:
        return f"needs backend {backend}, this is {record.backend}"
    missing = [t for t in tags if t not in record.tags]
    if missing:
        return f"needs tags {missing}, has {list(record.tags)}"
    if ios is not None:
        if record.ios is None:
            return f"needs iOS {ios}; devices.yaml does not say which iOS this device runs"
        if not _version_matches(record.ios, ios):
            return f"needs iOS {ios}, runs {record.ios}"
    return None


def _version_matches(version: str, spec: str) -> bool:
    m = re.fullmatch(r"\s*(>=|<=|==|>|<)?\s*([\d.]+)\s*", spec)
    if not m:
        raise pytest.UsageError(
            f"requires(ios={spec!r}): write a comparison like '>=17' or '<26.1'"
        )
    op, want = m[1] or ">=", tuple(int(p) for p in m[2].split("."))
    have = tuple(int(p) for p in re.findall(r"\d+", version))
    return {
        ">=": have >= want,
        "<=": have <= want,
        "==": have == want,
        ">": have > want,
        "<": have < want,
    }[op]


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()
