"""The pytest surface, black-box: a user's project run by pytester on the virtual iPhone."""

import json
import textwrap

import pytest

from tests.paths import PROBE_PLIST

DEVICES = f"""\
apps:
  BGProbe:
    path: {PROBE_PLIST}
devices:
  - name: phone-a
    backend: virtual
    ios: "26.1"
    tags: [virtual]
"""

REFRESH_TEST = """\
import pytest

@pytest.mark.device
def test_refresh(app, bg):
    app.launch(plan={"register": ["refresh"], "submit": [{"type": "refresh", "id": "refresh"}],
                     "handler": {"work_s": 5}})
    app.background()
    bg.trigger(app.task("refresh"))
    bg.expect("task.completed", task=app.task("refresh"), success=True, within=35)
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", devices=DEVICES)
    # In-process runs import the plugin again; its modules are already loaded.
    pytester.makeini("[pytest]\nfilterwarnings = ignore::pytest.PytestAssertRewriteWarning\n")
    return pytester


def state(pytester: pytest.Pytester) -> dict:
    return json.loads((pytester.path / "reports/.state/virtual-phone-a.json").read_text())


def test_a_device_test_passes_and_the_summary_names_the_device(project):
    project.makepyfile(REFRESH_TEST)
    result = project.runpytest("-m", "device")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*bgharness*", "phone-a (virtual iPhone, iOS 26.1): 1 passed"])


def test_a_failing_expectation_says_what_and_lists_the_events(project):
    project.makepyfile("""
        import pytest

        @pytest.mark.device
        def test_never_completes(app, bg):
            app.launch(plan={"register": ["refresh"],
                             "submit": [{"type": "refresh", "id": "refresh"}],
                             "handler": {"complete": "never"}})
            bg.trigger(app.task("refresh"))
            bg.expect("task.completed", task=app.task("refresh"), within=20)
    """)
    result = project.runpytest("-m", "device")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ExpectationFailed: expected task.completed task=dev.bgharness.probe.refresh "
            "within 20 s; not seen",
            "*events since the mark*",
            "*probe*task.launched*dev.bgharness.probe.refresh*",
        ]
    )
    logs = list((project.path / "reports/artifacts").glob("*/device.log"))
    assert logs and "Starting simulated task" in logs[0].read_text()


def test_a_bad_inventory_is_one_line_with_file_and_line(project):
    project.makefile(
        ".yaml", devices=DEVICES.replace("backend: virtual", "backend: virtual\n    colour: red")
    )
    project.makepyfile(REFRESH_TEST)
    result = project.runpytest("-m", "device")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    [line] = [text for text in result.stderr.lines if text.strip()]
    assert line.startswith("ERROR: devices.yaml:7: devices[0].colour: unknown key;")
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_a_bad_plan_fails_before_launch_with_the_problem(project):
    project.makepyfile("""
        import pytest

        @pytest.mark.device
        def test_typo(app, bg):
            app.launch(plan={"regster": ["refresh"]})
    """)
    result = project.runpytest("-m", "device")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*PlanError*", "*plan: Additional properties are not allowed ('regster' was unexpected)"]
    )


def test_requires_skips_with_the_reason(project):
    project.makepyfile("""
        import pytest

        @pytest.mark.device
        @pytest.mark.requires(ios=">=27")
        def test_new(device):
            pass

        @pytest.mark.device
        @pytest.mark.requires(tags=["wda"])
        def test_wda(device):
            pass
    """)
    result = project.runpytest("-m", "device", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        ["*phone-a: needs iOS >=27, runs 26.1*", "*phone-a: needs tags *wda*, has *virtual*"]
    )


@pytest.mark.parametrize(
    ("marker", "says"),
    [
        # Before: ran the test on iOS 26.1 (the positional argument was ignored).
        ('requires(">=27")', "takes keyword arguments only, got '>=27'"),
        # Before: read as the tags ['w', 'd', 'a'].
        ('requires(tags="wda")', "tags= takes a list of tags, like tags=['wda']"),
        # Before: INTERNALERROR (a TypeError inside the plugin).
        ('requires(tag=["wda"])', "unknown argument tag=['wda']; did you mean tags=?"),
        ('requires(ios="latest")', "ios='latest': 'latest' is not a version comparison"),
        ('requires(backend="simulator")', "backend='simulator' is not one of virtual, ios"),
    ],
)
def test_a_wrong_requires_marker_is_a_one_line_usage_error(project, marker, says):
    project.makepyfile(f"""
        import pytest

        @pytest.mark.device
        @pytest.mark.{marker}
        def test_new(device):
            pass
    """)
    result = project.runpytest("-m", "device")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    [line] = [text for text in result.stderr.lines if text.strip()]
    assert line.startswith("ERROR: test_a_wrong_requires_marker_is_a_one_line_usage_error.py")
    assert "requires(ios=None, tags=(), backend=None): " + says in line
    assert "INTERNALERROR" not in result.stdout.str() + result.stderr.str()


@pytest.mark.parametrize(
    "interrupt", ["raise KeyboardInterrupt", "os.kill(os.getpid(), signal.SIGTERM)"]
)
def test_ctrl_c_or_sigterm_inside_offline_restores_the_network(project, interrupt):
    project.makepyfile(f"""
        import os, signal
        import pytest

        @pytest.mark.device
        def test_interrupted(bg):
            with bg.offline():
                {interrupt}
    """)
    result = project.runpytest_subprocess("-m", "device")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert state(project)["network"] is None
    assert not list((project.path / "reports/.state/journal").rglob("*.json"))


def test_a_killed_run_leaves_a_journal_and_the_next_run_restores_the_network(project):
    project.makepyfile(
        test_killed="""
        import os, signal
        import pytest

        @pytest.mark.device
        def test_killed(bg):
            with bg.offline():
                os.kill(os.getpid(), signal.SIGKILL)
    """
    )
    result = project.runpytest_subprocess("-m", "device", "test_killed.py")
    assert result.ret == -9
    assert state(project)["network"] == "offline", "the virtual iPhone was left offline"
    [journal] = (project.path / "reports/.state/journal/phone-a").glob("*.json")
    assert json.loads(journal.read_text())["detail"] == "offline"

    project.makepyfile(test_next=textwrap.dedent(REFRESH_TEST))
    result = project.runpytest_subprocess("-m", "device", "test_next.py")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "bgharness: phone-a: restored the network: a crashed run left it "
            "(network set to offline by pid *"
        ]
    )
    assert state(project)["network"] is None
    assert not journal.exists()


def test_a_verb_the_device_cannot_do_skips_the_test_with_the_fix(project):
    project.makepyfile("""
        import pytest

        @pytest.mark.device
        def test_screen(bg):
            bg.device.screenshot()
    """)
    result = project.runpytest("-m", "device", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*screenshot is not supported: the virtual iPhone has no screen*"])
