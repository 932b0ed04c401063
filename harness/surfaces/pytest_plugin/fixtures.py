"""The `device`, `bg` and `app` fixtures, thin shells over harness.session.session, and the
session's observer that makes each action an Allure step.

The plugin module imports the fixtures, so pytest finds them where the pytest11 entry point
points. The stash keys are how the fixtures and the plugin object's hooks share a test's state.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

import allure
import pytest

from harness.core.errors import DeviceUnavailable, HarnessError, InfraError, Unsupported, UsageError
from harness.data import observations
from harness.device.contract import Device
from harness.lab.lease import LeaseError, human_duration
from harness.session.records import Records
from harness.session.session import App, Session
from harness.surfaces import report
from harness.surfaces.pytest_plugin import evidence

if TYPE_CHECKING:
    from harness.surfaces.pytest_plugin.plugin import DevicePlugin

_plugin_key: pytest.StashKey[DevicePlugin] = pytest.StashKey()
_session_key = pytest.StashKey[Session]()
_outcome_key = pytest.StashKey[str]()
_infra_failed_key = pytest.StashKey[bool]()
_unwritable_key = pytest.StashKey[bool]()  # a warning already named the test's folder


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
    node = request.node
    folder = evidence.artifact_folder(plugin.artifacts, node.nodeid)
    records = Records(folder / evidence.RECORDS)
    session = Session(device, plugin.lab.journal, steps, records)
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
        try:
            session.close()
        finally:
            records.close()
            if records.error is not None and not node.stash.get(_unwritable_key, False):
                plugin.say(
                    evidence.unwritable(device.name, "the test's records", folder, records.error)
                )
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


def _failure(error: HarnessError) -> BaseException:
    """pytest's one-line failure for a library error. Raised `from None`, so the terminal shows
    the message once; the error stays its __context__, so its failure kind is still known."""
    return pytest.fail.Exception(str(error), pytrace=False)
