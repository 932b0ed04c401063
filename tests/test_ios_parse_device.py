"""`bgharness parse --device` on a phone (the fake one, over the real protocols): only a paired
phone needed; drops, gaps and returns said; a phone gone for good ends the command."""

from __future__ import annotations

import json
import threading
import time

import pytest

from harness.device.backends import ios_log
from harness.surfaces.cli import main
from tests.fakephone import FakePhone, LogLine

COMPLETED = "Marking simulated task complete: <BGAppRefreshTask: dev.bgharness.probe.refresh>"
LAUNCH = "Simulating launch for task with identifier dev.bgharness.probe.refresh"


def inventory(tmp_path, phone: FakePhone):
    path = tmp_path / "devices.yaml"
    path.write_text(
        f"devices:\n  - name: lab-phone\n    backend: ios\n    udid: {phone.udid}\n"
        f'    usbmux: {phone.address}\n    ios: "{phone.ios}"\n'
    )
    return path


class Run:
    """`bgharness parse --device` on a thread; `code` once it ended."""

    def __init__(self, argv: list[str]):
        self.code: int | None = None
        self.thread = threading.Thread(target=self._run, args=(argv,), daemon=True)
        self.thread.start()

    def _run(self, argv: list[str]) -> None:
        self.code = main(argv)


def wait_for(predicate, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def streams(phone: FakePhone) -> int:
    return phone.requests.count(("os_trace", "StartActivity"))


@pytest.fixture
def quick_reconnects(monkeypatch):
    monkeypatch.setattr(ios_log, "RECONNECT_WAIT_S", (0.05, 0.1, 0.2, 0.4, 0.8))


def pull_and_replug(phone: FakePhone, after: float = 0.3) -> None:
    phone.unplug()
    time.sleep(after)
    phone.plug()


def test_needs_only_a_paired_phone_and_says_drops_gaps_and_the_end(
    fake, tmp_path, capsys, quick_reconnects
):
    """No Developer Mode, no disk image: the log is still read. Before, `parse --device` opened
    the phone as for a test run and refused; it never said a gap; gone for good, it hung."""
    fake.scenario.developer_mode = False
    fake.scenario.disk_image = False
    devices = inventory(tmp_path, fake)
    run = Run(["parse", "--device", "lab-phone", "--devices", str(devices), "--format", "jsonl"])
    wait_for(lambda: streams(fake) == 1, "the log stream")
    fake.log(LogLine(LAUNCH, pid=701))
    time.sleep(0.3)
    pull_and_replug(fake)
    wait_for(lambda: streams(fake) == 2, "the reconnect")
    fake.log(LogLine(COMPLETED, pid=701))
    time.sleep(0.3)
    fake.unplug()  # for good
    run.thread.join(30)
    assert not run.thread.is_alive(), "parse --device kept waiting for a phone that is gone"
    out, _ = capsys.readouterr()
    events = [json.loads(line) for line in out.splitlines()]
    assert [e["kind"] for e in events] == ["task.simulate_launch", "task.completed"]
    assert run.code == 2


def test_notices_go_to_stderr(fake, tmp_path, capfd, quick_reconnects):
    devices = inventory(tmp_path, fake)
    run = Run(["parse", "--device", "lab-phone", "--devices", str(devices), "--count"])
    wait_for(lambda: streams(fake) == 1, "the log stream")
    fake.log(LogLine(LAUNCH))
    time.sleep(0.3)
    pull_and_replug(fake)
    wait_for(lambda: streams(fake) == 2, "the reconnect")
    fake.log(LogLine("after the gap"))
    time.sleep(0.5)
    fake.unplug()
    run.thread.join(30)
    err = capfd.readouterr().err
    assert "lab-phone: the device log stream dropped" in err
    assert "lab-phone: the device log stream is back" in err
    assert "could not be read" in err  # the gap, with its bounds
    assert "lab-phone: the device log stream stopped" in err
    assert "gave up reading the log: the phone is gone" in err


def test_an_unpaired_phone_says_trust_at_once(fake, tmp_path, capsys):
    fake.scenario.paired = False
    code = main(["parse", "--device", "lab-phone", "--devices", str(inventory(tmp_path, fake))])
    assert code == 2
    assert "trust" in capsys.readouterr().err.lower()
