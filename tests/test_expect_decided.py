"""`bg.expect` on the virtual iPhone fails when the outcome is decided, not when `within` ends;
`bg.observe` and `bg.first_of`, the experiment's two verbs. Times are the virtual clock's."""

import contextlib
from pathlib import Path

import pytest

from harness.core.errors import UsageError
from harness.core.timeline import Expectation, ExpectationFailed
from harness.data.appbundle import read_app
from harness.data.inventory import DeviceRecord
from harness.data.journal import Journal
from harness.device.backends.virtual import VirtualIPhone
from harness.session.session import DECIDED_GRACE_S, App, Session
from tests.paths import PROBE_PLIST

HOUR_AND_A_HALF = 5400.0


class Watcher:
    """An observer that keeps step titles and observations, as the plugin's does."""

    def __init__(self):
        self.titles: list[str] = []
        self.seen = []

    @contextlib.contextmanager
    def step(self, title: str, waits: float = 0.0):
        self.titles.append(title)
        yield

    def observed(self, observation):
        self.seen.append(observation)


@pytest.fixture
def phone(tmp_path: Path):
    record = DeviceRecord(name="v", backend="virtual", model="iPhone17,3", ios="26.1")
    phone = VirtualIPhone.open(record, tmp_path / "state")
    phone.install(PROBE_PLIST)
    yield phone
    phone.close()


@pytest.fixture
def watcher():
    return Watcher()


@pytest.fixture
def bg_app(phone, tmp_path, watcher):
    session = Session(phone, Journal(tmp_path / "state"), watcher)
    yield session, App(session, read_app(PROBE_PLIST))
    session.close()


def continued(app: App, name: str, **handler) -> str:
    task = app.task("continued", name)
    app.launch(
        {
            "register": [task],
            "taps": {"start": [{"submit": {"type": "continued", "id": task, "title": "Export"}}]},
            "handler": handler,
        }
    )
    app.tap("start")  # facts B3: continued tasks start from a person's action
    return task


def test_expired_after_completion_fails_at_the_decision_not_after_5400_s(bg_app):
    bg, app = bg_app
    task = continued(app, "export-1", work_s=60, progress={"every_s": 5})
    launched = bg.expect("task.launched", task, source="probe", within=1)
    with pytest.raises(ExpectationFailed) as info:
        bg.expect("task.expired", task, within=HOUR_AND_A_HALF)
    completed = bg.timeline.find(Expectation.of("task.completed", task, source="probe"))
    assert completed.time == launched.time + 60
    assert bg.clock.now() == completed.time + DECIDED_GRACE_S  # device seconds, not 5,400
    headline = str(info.value).splitlines()[0]
    assert "within 5400 s; decided: task dev.bgharness.probe.continued.export-1 completed " in (
        headline
    )
    assert "so task.expired can no longer come; failed at +65.004" in headline
    [miss] = bg.misses
    assert (miss.start, miss.end) == (bg.started.time, bg.clock.now())
    assert miss.awaited == f"task.expired task={task}"


def test_a_run_over_before_the_expectation_fails_it_at_once(bg_app):
    bg, app = bg_app
    task = continued(app, "export-2", work_s=20, progress={"every_s": 5})
    bg.expect("task.completed", task, success=True, within=30)
    bg.wait(100)  # long past the grace
    bg.mark()  # progress came before; none can come after
    began = bg.clock.now()
    with pytest.raises(ExpectationFailed, match=r"decided: .* completed"):
        bg.expect("task.progress", task, within=HOUR_AND_A_HALF)
    assert bg.clock.now() == began


def test_a_pending_resubmit_keeps_the_expectation_waiting(bg_app):
    bg, app = bg_app
    refresh = app.task("refresh")
    app.launch(
        {
            "register": ["refresh"],
            "submit": [{"type": "refresh", "id": "refresh"}],
            "handler": {"work_s": 2, "resubmit": "on_start"},
        }
    )
    bg.trigger(refresh)
    bg.expect("task.completed", refresh, success=True, within=10)
    began = bg.clock.now()
    # The app stays in the foreground, so dasd does not launch the new request (B1): nothing
    # comes, but it could have, so the whole `within` is waited out.
    with pytest.raises(ExpectationFailed, match="within 600 s; not seen"):
        bg.expect("task.expired", refresh, within=600)
    assert bg.clock.now() == began + 600


def test_sequences_are_decided_on_their_missing_step(bg_app):
    bg, app = bg_app
    task = continued(app, "export-3", work_s=30, progress={"every_s": 5})
    with pytest.raises(ExpectationFailed) as info:
        bg.expect_sequence(
            ["task.launched", "task.expired", "task.completed"], task, within=HOUR_AND_A_HALF
        )
    assert "seen in order: task.launched" in str(info.value)
    assert "decided:" in str(info.value)
    # The run starts 4 ms after the tap (facts A6), so it ends at +30.004.
    assert bg.clock.now() - bg.started.time == pytest.approx(30.004 + DECIDED_GRACE_S)


def test_first_of_says_which_the_device_did(bg_app):
    bg, app = bg_app
    task = continued(app, "stalled-1", work_s=600)  # no progress: the stall rule expires it
    app.background()  # silence counts in the background (virtual_continued)
    first = bg.first_of(["task.expired", "task.completed"], task, within=600)
    assert first is not None and first.kind == "task.expired"
    assert bg.first_of(["task.launched"], "dev.bgharness.probe.refresh", within=5) is None


def test_observe_records_the_device_and_hands_it_to_the_observer(bg_app, watcher):
    bg, _ = bg_app
    bg.scenario, bg.test, bg.run = "suites/x.py::test_gap", "suites/x.py::test_gap[25-v]", "r1"
    found = bg.observe("progress_gap_s", 25, outcome="expired", expired_after_s=30.0)
    assert watcher.seen == [found] == bg.observations
    assert (found.device, found.model, found.ios, found.backend) == (
        "v",
        "iPhone17,3",
        "26.1",
        "virtual",
    )
    assert (found.scenario, found.run, found.device_time) == (
        "suites/x.py::test_gap",
        "r1",
        bg.clock.now(),
    )
    assert "observe progress_gap_s=25 → expired (expired_after_s=30)" in watcher.titles
    with pytest.raises(UsageError, match="must be a finite number"):
        bg.observe("progress_gap_s", 25, outcome="expired", after="late")
    with pytest.raises(UsageError, match="say the outcome in a word"):
        bg.observe("progress_gap_s", 25, outcome="")
