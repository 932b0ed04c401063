"""What a failing test leaves: a device log that holds the app's and the background-task daemons'
lines only (reports get published), capped; and a run that goes on when the artifacts folder
cannot be written (issue 14: INTERNALERROR, the rest of the run lost)."""

from __future__ import annotations

import pytest

from harness.core.events import LogEntry
from harness.data.appbundle import read_app
from harness.surfaces import report
from tests.paths import PROBE_PLIST
from tests.test_plugin import DEVICES

APP = read_app(PROBE_PLIST)
T0 = 1.7e9


def entry(process: str, pid: int, message: str, subsystem: str = "", image: str = "") -> LogEntry:
    return LogEntry(T0, process, pid, message, subsystem, "c", "NOTICE", image)


PHONE_LOG = [
    entry(
        "dasd",
        117,
        "Submitted: bgRefresh-dev.bgharness.probe.refresh:6796B3",
        "com.apple.duetactivityscheduler",
    ),
    entry(
        APP.executable,
        412,
        "Starting simulated task",
        "com.apple.BackgroundTasks",
        "BackgroundTasks",
    ),
    entry(APP.executable, 412, 'bgprobe {"event": "task.launched"}', "dev.bgharness.probe"),
    entry(
        "runningboardd",
        33,
        f"Acquiring assertion for [app<{APP.bundle_id}>:412]",
        "com.apple.runningboard",
    ),
    entry("SpringBoard", 58, f'SBWorkspaceTerminateApplication: {APP.bundle_id}: "killed"'),
    entry("kernel", 0, f"memorystatus: killing_specific_process pid 412 [{APP.executable}]"),
    # The rest of the phone: never in a published report by default.
    entry("MobileSMS", 901, "Received message from +44 7700 900123: see you at 6"),
    entry("locationd", 88, "Location fix 51.5007,-0.1246 for com.example.maps"),
    entry("runningboardd", 33, "Acquiring assertion for [app<com.example.bank>:77]"),
    entry("SpringBoard", 58, "SBWorkspaceTerminateApplication: com.example.diary: killed"),
    entry("kernel", 0, "memorystatus: killing_specific_process pid 77 [Bank]"),
]


def test_the_default_log_is_the_app_and_the_scheduler_only():
    text = report.device_log(PHONE_LOG, APP)
    first, *lines = text.splitlines()
    assert len(lines) == 6
    for private in ("+44 7700", "51.5007", "com.example.bank", "com.example.diary", "[Bank]"):
        assert private not in text
    assert "5 other lines of the phone left out: run with --bg-full-log" in first


def test_the_whole_log_is_an_option():
    text = report.device_log(PHONE_LOG, APP, full=True)
    assert "+44 7700" in text and text.splitlines()[0] == "(the whole device log)"


def test_the_log_is_capped_in_lines_and_bytes_keeping_the_newest():
    many = [entry(APP.executable, 412, f"line {i} " + "x" * 100) for i in range(5000)]
    text = report.device_log(many, APP, max_lines=100)
    assert len(text.splitlines()) == 101 and "line 4999 " in text and "line 4899 " not in text
    assert "4900 earlier lines left out" in text.splitlines()[0]
    small = report.device_log(many, APP, max_bytes=10_000)
    assert len(small.encode()) < 11_000 and "line 4999 " in small


FAILING = """\
import pytest

@pytest.mark.device
@pytest.mark.parametrize("n", [1, 2])
def test_fails(app, bg, n):
    app.launch(plan={"register": ["refresh"]})
    bg.expect("task.completed", within=1)

@pytest.mark.device
def test_passes(app, bg):
    app.launch(plan={"register": ["refresh"]})
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", devices=DEVICES)
    pytester.makeini("[pytest]\nfilterwarnings = ignore::pytest.PytestAssertRewriteWarning\n")
    pytester.makepyfile(FAILING)
    return pytester


def test_an_unwritable_artifacts_folder_is_one_warning_and_the_run_goes_on(project):
    blocker = project.path / "artifacts-is-a-file"
    blocker.write_text("")
    result = project.runpytest("-m", "device", "--bg-artifacts", str(blocker / "sub"))
    result.assert_outcomes(failed=2, passed=1)
    assert "INTERNALERROR" not in result.stdout.str()
    line = f"*could not write the failure's evidence to {blocker}*--bg-artifacts DIR"
    result.stdout.fnmatch_lines([line])


def test_a_full_artifacts_disk_is_one_warning_and_the_run_goes_on(project):
    project.makeconftest("""
        import errno, os, pathlib
        real = pathlib.Path.write_bytes
        def full(self, data):
            if "artifacts" in str(self):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return real(self, data)
        pathlib.Path.write_bytes = full
        def pytest_unconfigure(config):  # the run is in-process: leave pathlib as it was
            pathlib.Path.write_bytes = real
    """)
    result = project.runpytest("-m", "device")
    result.assert_outcomes(failed=2, passed=1)
    assert "INTERNALERROR" not in result.stdout.str()
    line = "*could not write the failure's evidence to*No space left on device*"
    result.stdout.fnmatch_lines([line])
