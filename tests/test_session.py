"""Session over a scripted fake device: waiting, failure messages, the bridge's answer, undo."""

import json

import pytest

from harness.core.clock import VirtualClock
from harness.core.errors import DebuggerError
from harness.core.events import LogEntry
from harness.core.timeline import ExpectationFailed
from harness.data.journal import Journal
from harness.device.logstream import QueueLogStream
from harness.session.session import Session, recover

T = "com.example.refresh"


class FakeDevice:
    """A device whose log says what the test scripts, at the device times it says."""

    name = "fake"

    def __init__(self):
        self.vclock = VirtualClock(start=1000.0)
        self.stream = QueueLogStream()
        self.calls: list[str] = []
        self.evaluated: list[str] = []
        self.on_evaluate = lambda command: None

    @property
    def clock(self):
        fake = self

        class Settling:
            virtual = True

            def now(self):
                return fake.vclock.now()

            def wait(self, deadline, woken):
                fake.vclock.wait(deadline, woken)
                fake.stream.join()

        return Settling()

    def log_at(self, delay: float, message: str) -> None:
        def put():
            self.stream.put(LogEntry(self.vclock.now(), "App", 7, message, "dev.bgharness.probe"))

        self.vclock.call_later(delay, put)

    def probe_at(self, delay: float, **body) -> None:
        self.log_at(delay, "bgprobe " + json.dumps(body))

    def log_stream(self):
        return self.stream

    def pid(self, bundle_id):
        return 7

    def debugger(self, pid):
        device = self

        class Debug:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                device.calls.append("detach")

            def evaluate(self, command):
                device.evaluated.append(command)
                device.on_evaluate(command)
                return ""

        return Debug()

    def set_network(self, profile):
        self.calls.append(f"set_network {profile}")

    def clear_network(self):
        self.calls.append("clear_network")

    def lock(self):
        self.calls.append("lock")

    def unlock(self):
        self.calls.append("unlock")


@pytest.fixture
def fake():
    # Not named `device`: bgharness parametrises that name over devices.yaml.
    return FakeDevice()


@pytest.fixture
def bg(fake, tmp_path):
    session = Session(fake, Journal(tmp_path))
    session.app = type("A", (), {"bundle_id": "com.example"})()
    yield session
    session.close()


def test_expect_waits_on_the_device_clock(fake, bg):
    fake.probe_at(25, event="task.completed", task=T, success=True)
    event = bg.expect("task.completed", T, success=True, within=30)
    assert event.time == 1025.0 and bg.clock.now() == 1025.0


def test_expect_sequence_says_how_far_it_got(fake, bg):
    fake.probe_at(1, event="task.launched", task=T)
    fake.probe_at(2, event="task.completed", task=T, success=True)
    with pytest.raises(ExpectationFailed) as info:
        bg.expect_sequence(["task.launched", "task.expired", "task.completed"], task=T, within=10)
    message = str(info.value)
    assert "seen in order: task.launched task=com.example.refresh" in message
    assert "missing from: task.expired task=com.example.refresh" in message
    assert "task.completed" in message.splitlines()[-2] or "task.completed" in message


def test_expect_none_fails_when_it_happens_and_says_when(fake, bg):
    fake.probe_at(7, event="task.launched", task=T)
    with pytest.raises(ExpectationFailed, match=r"expected no task.launched .* at \+7\.000"):
        bg.expect_none("task.launched", T, during=60)


def test_expect_none_passes_after_the_whole_period(fake, bg):
    fake.probe_at(61, event="task.launched", task=T)
    bg.expect_none("task.launched", T, during=60)
    assert bg.clock.now() == 1060.0


def test_trigger_returns_the_devices_answer(fake, bg):
    fake.on_evaluate = lambda command: fake.log_at(
        0.01, f"Simulating launch for task with identifier {T}"
    )
    event = bg.trigger(T)
    assert event.kind == "task.simulate_launch" and event.task == T
    assert fake.evaluated == [
        "e -l objc -- (void)[[BGTaskScheduler sharedScheduler] "
        f'_simulateLaunchForTaskWithIdentifier:@"{T}"]'
    ]
    assert fake.calls == ["detach"]


def test_trigger_without_an_answer_raises_with_the_log(fake, bg):
    fake.probe_at(0.5, event="app.launched")
    with pytest.raises(DebuggerError, match=r"did not show task\.simulate_launch") as info:
        bg.trigger(T)
    assert "app.launched" in str(info.value)


def test_perturbations_are_journalled_first_and_undone_last(fake, bg, tmp_path):
    seen_in_journal = []
    fake.set_network = lambda profile: seen_in_journal.append(
        len(Journal(tmp_path).entries("fake"))
    )
    with bg.locked(), bg.offline():
        pass
    assert seen_in_journal == [2], "both entries were on disk before the network changed"
    assert fake.calls[-2:] == ["clear_network", "unlock"]
    assert Journal(tmp_path).entries("fake") == []


def test_close_undoes_what_an_exception_left(fake, bg, tmp_path):
    context = bg.offline()
    context.__enter__()
    bg.close()
    assert fake.calls == ["set_network offline", "clear_network"]
    assert Journal(tmp_path).entries("fake") == []


def test_recover_undoes_a_dead_runs_perturbations(fake, tmp_path):
    journal = Journal(tmp_path)
    p = journal.record("fake", "network", "offline")
    path = tmp_path / "journal" / "fake" / f"{p.id}.json"
    path.write_text(path.read_text().replace(f'"pid": {p.pid}', '"pid": 999999999'))
    [line] = recover(fake, journal)
    assert line.startswith("fake: restored the network: a crashed run left it")
    assert fake.calls == ["clear_network"] and journal.entries("fake") == []


def test_a_broken_log_pump_is_reported_not_hung(fake, bg, monkeypatch):
    import harness.session.session as session_module

    monkeypatch.setattr(session_module, "parse_entry", lambda entry: 1 / 0)
    fake.probe_at(1, event="app.launched")
    with pytest.raises(Exception, match="reading the device log failed: ZeroDivisionError"):
        bg.expect("app.launched", within=5)


def test_a_change_that_fails_is_not_undone_and_leaves_no_journal(fake, tmp_path):
    """Locking a phone without `unlock: true` fails before it locks: that error is the one the
    test sees, nothing is undone, teardown passes, and no later run says "could not undo"."""
    from harness.core.errors import Unsupported

    def refuse(verb):
        def call():
            raise Unsupported("fake", verb, "set `unlock: true` in devices.yaml")

        return call

    fake.lock, fake.unlock = refuse("lock"), refuse("unlock")
    session = Session(fake, Journal(tmp_path))
    with pytest.raises(Unsupported, match="lock is not supported"), session.locked():
        pass
    session.close()  # teardown: nothing left to undo
    assert Journal(tmp_path).entries("fake") == []
    assert session.spans == []


def test_a_change_interrupted_half_way_is_undone_at_once(fake, tmp_path):
    """Ctrl-C (or SIGTERM) while the network is being cut: the condition may be on the phone, so
    it is cleared before the interrupt goes on, and nothing is left for the next run."""

    def cut_then_interrupted(profile):
        fake.calls.append(f"set_network {profile}")
        raise KeyboardInterrupt

    fake.set_network = cut_then_interrupted
    session = Session(fake, Journal(tmp_path))
    with pytest.raises(KeyboardInterrupt), session.offline():
        pass
    assert fake.calls == ["set_network offline", "clear_network"]
    assert Journal(tmp_path).entries("fake") == []
    session.close()


def test_a_change_that_failed_half_way_and_cannot_be_undone_stays_journalled(fake, tmp_path):
    """The cable came out while the network was being cut: neither the change nor its undo can be
    confirmed, so the journal entry stays and the next run's recovery undoes it."""
    from harness.core.errors import InfraError

    def unplugged(*_):
        raise InfraError("fake: the phone went away")

    fake.set_network, fake.clear_network = unplugged, unplugged
    session = Session(fake, Journal(tmp_path))
    with pytest.raises(InfraError, match="went away"), session.offline():
        pass
    [left] = Journal(tmp_path).entries("fake")
    assert (left.kind, left.detail) == ("network", "offline")
    session.close()
