"""The session's hooks for reports: each action through its observer, perturbations as spans."""

import contextlib
import time

import pytest

from harness.core.timeline import ExpectationFailed
from harness.data.appbundle import read_app
from harness.data.inventory import DeviceRecord
from harness.data.journal import Journal
from harness.device.backends.virtual import VirtualIPhone
from harness.lab.lab import Lab
from harness.session.session import App, Session, Span

DEVICES = "devices.yaml"


class Recorder:
    """An observer that writes down each step, how deep it is, and how it ended."""

    def __init__(self):
        self.steps: list[tuple[int, str, float, str]] = []
        self.depth = 0

    @contextlib.contextmanager
    def step(self, title: str, waits: float = 0.0):
        index = len(self.steps)
        self.steps.append((self.depth, title, waits, "running"))
        self.depth += 1
        try:
            yield
            outcome = "passed"
        except BaseException:
            outcome = "failed"
            raise
        finally:
            self.depth -= 1
            self.steps[index] = (*self.steps[index][:3], outcome)


@pytest.fixture
def lab(tmp_path, request):
    root = request.config.rootpath
    lab = Lab.load(root / DEVICES, tmp_path, lambda line: None)
    yield lab
    lab.close()


def test_every_action_is_a_step_perturbations_hold_theirs(lab):
    device = lab.open("virtual-iphone")
    recorder = Recorder()
    bg = Session(device, lab.journal, recorder)
    app = App(bg, lab.install("virtual-iphone", "BGProbe"))
    try:
        app.launch(plan={"register": ["refresh"], "submit": [{"type": "refresh", "id": "refresh"}]})
        app.background()
        with bg.offline():
            bg.trigger(app.task("refresh"))
            bg.expect("task.launched", task=app.task("refresh"), within=10)
        with pytest.raises(ExpectationFailed), bg.locked():
            bg.expect("task.expired", within=5)
        bg.wait(2)
    finally:
        bg.close()
    assert recorder.steps == [
        (0, "launch dev.bgharness.probe", 0.0, "passed"),
        (0, "background (Home)", 0.0, "passed"),
        (0, "offline", 0.0, "passed"),
        (1, "trigger dev.bgharness.probe.refresh", 10.0, "passed"),
        (1, "expect task.launched task=dev.bgharness.probe.refresh within 10 s", 10.0, "passed"),
        (0, "locked", 0.0, "failed"),
        (1, "expect task.expired within 5 s", 5.0, "failed"),
        (0, "wait 2 s", 2.0, "passed"),
    ]


def test_perturbations_are_kept_as_spans_with_device_times(lab):
    device = lab.open("virtual-iphone")
    bg = Session(device, lab.journal)
    t0 = bg.clock.now()
    with bg.offline():
        bg.wait(30)
        with bg.locked():
            bg.wait(10)
        open_span = bg.spans[0]
    bg.close()
    assert open_span == Span("offline", t0, None), "still applied inside the block"
    assert bg.spans == [Span("offline", t0, t0 + 40), Span("locked", t0 + 30, t0 + 40)]
    assert bg.started.time == t0


def test_a_span_left_open_is_closed_by_close(lab):
    device = lab.open("virtual-iphone")
    bg = Session(device, lab.journal)
    block = bg.offline()
    block.__enter__()
    bg.wait(5)
    bg.close()
    assert bg.spans[0].end == bg.spans[0].start + 5


def test_in_real_time_an_event_already_logged_is_seen_without_sleeping(tmp_path, request):
    """A virtual iPhone at time_scale 1 waits in real time; what the launch logged is there."""
    plist = request.config.rootpath / "suites/apps/BGProbe/Info.plist"
    phone = VirtualIPhone.open(DeviceRecord("realtime", "virtual", time_scale=1.0), tmp_path)
    phone.install(plist)
    bg = Session(phone, Journal(tmp_path))
    app = App(bg, read_app(plist))
    started = time.monotonic()
    try:
        app.launch(plan={"register": ["refresh"], "submit": [{"type": "refresh", "id": "refresh"}]})
        bg.expect("task.submitted", task=app.task("refresh"), source="dasd", within=30)
    finally:
        bg.close()
        phone.close()
    assert time.monotonic() - started < 5, "not the 30 s of the whole window"
