"""Lab scale through pytest, black-box: Allure results QA reads, leases between runs, xdist."""

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.paths import PROBE_PLIST


def inventory(*names: str, time_scale: float = 0) -> str:
    devices = "".join(
        f"""
  - name: {name}
    backend: virtual
    model: iPhone17,3
    ios: "26.1"
    tags: [virtual]
    time_scale: {time_scale}
"""
        for name in names
    )
    return f"apps:\n  BGProbe:\n    path: {PROBE_PLIST}\ndevices:{devices}"


SCENARIOS = """\
import pytest
from harness.core.errors import DebuggerError

REFRESH = {"register": ["refresh"], "submit": [{"type": "refresh", "id": "refresh"}]}

@pytest.mark.device
def test_refresh_completes(app, bg):
    app.launch(plan={**REFRESH, "handler": {"work_s": 5}})
    app.background()
    bg.trigger(app.task("refresh"))
    bg.expect("task.completed", task=app.task("refresh"), success=True, within=35)

@pytest.mark.device
def test_never_completes(app, bg):
    app.launch(plan={**REFRESH, "handler": {"complete": "never"}})
    with bg.offline():
        bg.trigger(app.task("refresh"))
        bg.expect("task.completed", task=app.task("refresh"), within=20)

@pytest.mark.device
def test_lldb_hangs(app, bg):
    raise DebuggerError("lldb: attaching to BGProbe timed out after 30 s")

@pytest.mark.device
@pytest.mark.requires(ios=">=27")
def test_needs_new_ios(device):
    pass
"""

HOLD = """\
import os, time
import pytest

@pytest.mark.device
def test_hold(bg):
    with open("holds.log", "a") as log:  # when each run got the device
        log.write(f"{os.getpid()} {time.time()}\\n")
    if os.environ.get("HOLD_UNTIL"):  # held until the test says (no fixed hold: issue 15)
        for _ in range(12000):
            if os.path.exists(os.environ["HOLD_UNTIL"]):
                break
            time.sleep(0.01)
    else:
        time.sleep(float(os.environ.get("HOLD_S", "3")))
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(".yaml", devices=inventory("phone-a"))
    pytester.makeini("[pytest]\nfilterwarnings = ignore::pytest.PytestAssertRewriteWarning\n")
    return pytester


def results(folder: Path) -> dict[str, dict]:
    found = {}
    for file in folder.glob("*-result.json"):
        data = json.loads(file.read_text())
        found[data["name"].split("[")[0]] = data
    return found


def labels(result: dict) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for label in result["labels"]:
        out.setdefault(label["name"], []).append(label["value"])
    return out


def steps(node: dict) -> list[str]:
    return [s["name"] for s in node.get("steps", [])] + [
        name for s in node.get("steps", []) for name in steps(s)
    ]


# -- Allure ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ran:
    """Where a run ran: what the six Allure tests below read (`project.path`)."""

    path: Path


@pytest.fixture(scope="module")
def allure_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Ran, pytest.RunResult]:
    """One run of SCENARIOS in a subprocess, read by the six tests below (it was six runs).

    Module scope rules out pytester (function scope), so this sets up what it would: its own
    folder and HOME (the lease folder), no PYTEST_ADDOPTS, no colour.
    """
    path = tmp_path_factory.mktemp("allure_run")
    (path / "devices.yaml").write_text(inventory("phone-a"))
    (path / "pytest.ini").write_text(
        "[pytest]\nfilterwarnings = ignore::pytest.PytestAssertRewriteWarning\n"
    )
    (path / "test_scenarios.py").write_text(SCENARIOS)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "TOX_ENV_DIR")}
    env |= {"HOME": str(tmp_path_factory.mktemp("home")), "PY_COLORS": "0"}
    command = [sys.executable, "-m", "pytest", "-m", "device", "--alluredir", "ar", "-rs"]
    started = time.monotonic()
    done = subprocess.run(command, cwd=path, env=env, capture_output=True, text=True, timeout=600)
    lines = done.stdout.splitlines(), done.stderr.splitlines()
    return Ran(path), pytest.RunResult(done.returncode, *lines, time.monotonic() - started)


def test_every_result_carries_the_device_parameter_and_labels(allure_run):
    project, result = allure_run
    result.assert_outcomes(passed=1, failed=2, skipped=1)
    found = results(project.path / "ar")
    assert set(found) == {
        "test_refresh_completes",
        "test_never_completes",
        "test_lldb_hangs",
        "test_needs_new_ios",
    }
    for name, data in found.items():
        assert {"name": "device", "value": "'phone-a'"} in data["parameters"], name
        got = labels(data)
        assert got["device"] == ["phone-a"], name
        assert got["device_model"] == ["iPhone17,3"] and got["ios"] == ["26.1"], name
        assert got["backend"] == ["virtual"] and "virtual" in got["tag"], name
        if name != "test_needs_new_ios":
            assert got["app_version"] == ["dev.bgharness.probe 1.0 (1)"], name


def test_each_harness_action_is_a_step(allure_run):
    project, _ = allure_run
    passed = results(project.path / "ar")["test_refresh_completes"]
    assert steps(passed) == [
        "launch dev.bgharness.probe",
        "background (Home)",
        "trigger dev.bgharness.probe.refresh",
        "expect task.completed task=dev.bgharness.probe.refresh success=True within 35 s",
    ]
    failed = results(project.path / "ar")["test_never_completes"]
    assert failed["steps"][1]["name"] == "offline"
    assert [s["name"] for s in failed["steps"][1]["steps"]] == [
        "trigger dev.bgharness.probe.refresh",
        "expect task.completed task=dev.bgharness.probe.refresh within 20 s",
    ]
    assert failed["steps"][1]["steps"][1]["status"] == "failed"
    installs = [
        step["name"]
        for container in project.path.joinpath("ar").glob("*-container.json")
        for before in json.loads(container.read_text()).get("befores", [])
        for step in before.get("steps", [])
    ]
    assert "install BGProbe on phone-a" in installs


def test_a_failing_scenario_carries_the_timeline_picture_and_the_log(allure_run):
    project, _ = allure_run
    failed = results(project.path / "ar")["test_never_completes"]
    attached = {a["name"]: a for a in failed["attachments"]}
    assert list(attached) == [
        "timeline",
        "device log since the test began",
        "events",
        "device info",
    ]
    assert attached["timeline"]["type"] == "image/svg+xml"
    svg = ET.parse(project.path / "ar" / attached["timeline"]["source"]).getroot()
    text = " ".join(svg.itertext())
    assert "dev.bgharness.probe.refresh" in text and "offline" in text
    assert any(
        (r.get("class") or "") == "span offline"
        for r in svg.iter("{http://www.w3.org/2000/svg}rect")
    )
    log = (project.path / "ar" / attached["device log since the test began"]["source"]).read_text()
    assert "Starting simulated task" in log
    events = json.loads((project.path / "ar" / attached["events"]["source"]).read_text())
    assert {"kind": "task.launched", "task": "dev.bgharness.probe.refresh"}.items() <= events[
        -1
    ].items()
    info = json.loads((project.path / "ar" / attached["device info"]["source"]).read_text())
    assert info["backend"] == "virtual" and info["spans"][0]["kind"] == "offline"
    assert "bgharness: product failure (ExpectationFailed)" in failed["statusDetails"]["trace"]
    folder = next((project.path / "reports/artifacts").glob("*never_completes*"))
    assert {p.name for p in folder.iterdir()} >= {"timeline.svg", "device.log", "events.jsonl"}


def test_infra_failures_are_told_apart_from_product_failures(allure_run):
    project, result = allure_run
    lldb = results(project.path / "ar")["test_lldb_hangs"]
    assert lldb["status"] == "broken"
    assert "bgharness: infra failure (DebuggerError)" in lldb["statusDetails"]["trace"]
    categories = json.loads((project.path / "ar/categories.json").read_text())
    assert categories[0]["name"].startswith("Infrastructure")
    result.stdout.fnmatch_lines(["*bgharness: infra failure (DebuggerError): the lab failed*"])


def test_the_run_writes_its_environment_for_allure(allure_run):
    project, _ = allure_run
    env = (project.path / "ar/environment.properties").read_text()
    assert "device.phone-a=virtual iPhone, iOS 26.1 (time_scale 0)\n" in env
    assert "app.BGProbe=dev.bgharness.probe 1.0 (1)\n" in env


def test_the_summary_is_device_by_suite_with_skip_reasons(allure_run):
    _, result = allure_run
    result.stdout.fnmatch_lines(
        [
            "*= bgharness =*",
            "phone-a (virtual iPhone, iOS 26.1): 1 passed, 2 failed, 1 skipped, of which 1 infra",
            "    test_scenarios.py  1 passed, 2 failed, 1 skipped, of which 1 infra: "
            "phone-a: needs iOS >=27, runs 26.1",
        ]
    )


# -- Progress ------------------------------------------------------------------------------------


def test_a_long_device_wait_says_when_it_starts_and_ends(pytester):
    pytester.makefile(".yaml", devices=inventory("slow-phone", time_scale=0.01))
    pytester.makepyfile("""
        import pytest

        @pytest.mark.device
        def test_soak(bg):
            bg.expect_none("task.launched", during=100)
    """)
    result = pytester.runpytest_subprocess("-m", "device", "--bg-progress-after", "0.5")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "bgharness: slow-phone: expect no task.launched during 100 s: may wait up to 1.0 s",
            "bgharness: slow-phone: expect no task.launched during 100 s: done after 1.0 s",
        ]
    )


# -- Leases --------------------------------------------------------------------------------------


def start(
    project: pytest.Pytester, *args: str, hold: float = 3, until: Path | None = None
) -> subprocess.Popen:
    env = {**os.environ, "HOLD_S": str(hold), "PY_COLORS": "0"}
    if until is not None:
        env["HOLD_UNTIL"] = str(until)
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", "device", *args],
        cwd=project.path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def lease_files(project: pytest.Pytester) -> list[Path]:
    return list((project.path / ".bgharness/leases").glob("*.lease"))  # HOME is pytester's


def wait_for_lease(project: pytest.Pytester, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for file in lease_files(project):
            return json.loads(file.read_text())  # written whole, then renamed into place
        time.sleep(0.05)
    raise AssertionError("no lease appeared")


def test_two_runs_at_once_one_holds_the_device_the_other_fails_fast_naming_it(project):
    project.makepyfile(test_hold=HOLD)
    runs = [start(project, "--device-wait", "0") for _ in range(2)]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    codes = sorted(run.returncode for run in runs)
    assert codes == [0, 1], outputs
    holder, loser = (runs[0], runs[1]) if runs[0].returncode == 0 else (runs[1], runs[0])
    lost = outputs[runs.index(loser)]
    assert f"phone-a is held by pid {holder.pid} of " in lost
    assert "not waiting (--device-wait 0)" in lost
    assert "infra failure (DeviceBusy)" in lost
    assert not lease_files(project), "both runs gave their leases back"


def test_a_second_run_waits_for_the_device_with_a_progress_line(project):
    project.makepyfile(test_hold=HOLD)
    release = project.path / "release-now"
    first = start(project, until=release)
    wait_for_lease(project)
    second = start(project, "--device-wait", "600", hold=0)
    seen = []
    for line in second.stdout:  # the first run lets go once the second says it waits
        seen.append(line)
        if "waiting for it" in line:
            release.write_text("")
            break
    out = "".join(seen) + second.communicate(timeout=300)[0]
    first.communicate(timeout=120)
    assert second.returncode == 0, out
    assert f"phone-a is held by pid {first.pid} of " in out
    assert "waiting for it (up to 10 min, --device-wait" in out
    assert "bgharness: phone-a: free after" in out


def test_sigkill_of_the_holder_frees_the_device_within_the_ttl(project):
    project.makepyfile(test_hold=HOLD)
    holder = start(project, "--lease-ttl", "5", hold=600)
    lease = wait_for_lease(project)
    assert lease["holder"]["pid"] == holder.pid and lease["ttl"] == 5
    waiter = start(project, "--device-wait", "600", "--lease-ttl", "5", hold=0)
    seen = []
    for line in waiter.stdout:  # kill the holder once the waiter says it waits (no fixed sleep)
        seen.append(line)
        if "waiting for it" in line:
            break
    killed_at = time.time()
    os.kill(holder.pid, signal.SIGKILL)
    holder.communicate(timeout=30)
    out = "".join(seen) + waiter.communicate(timeout=300)[0]
    assert waiter.returncode == 0, out
    # Freed because its holder died, not because the time-to-live ran out (no timing assert).
    assert f"took over a stale lease: its holder (pid {holder.pid} of " in out
    assert ") has exited" in out, out
    assert "bgharness: phone-a: free after" in out
    got = dict(line.split() for line in (project.path / "holds.log").read_text().splitlines())
    assert float(got[str(waiter.pid)]) >= killed_at, "the waiter got it only after the kill"


# -- xdist ----------------------------------------------------------------------------------------


def test_n_auto_runs_one_worker_per_device_and_a_device_on_one_worker(pytester, monkeypatch):
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "1")  # ours must win over xdist's
    pytester.makefile(".yaml", devices=inventory("phone-a", "phone-b", "phone-c"))
    pytester.makepyfile("""
        import json, os
        from pathlib import Path
        import pytest

        @pytest.mark.device
        @pytest.mark.parametrize("n", range(4))
        def test_where(bg, device, n):
            leases = Path(os.path.expanduser("~/.bgharness/leases")).glob("*.lease")
            [mine] = [l for l in map(json.loads, (p.read_text() for p in leases))
                      if l["device"] == device.name]
            with open("where.jsonl", "a") as f:
                f.write(json.dumps({"device": device.name,
                                    "worker": os.environ["PYTEST_XDIST_WORKER"],
                                    "holder": mine["holder"]}) + "\\n")
    """)
    result = pytester.runpytest_subprocess("-m", "device", "-n", "auto", "--alluredir", "ar")
    result.assert_outcomes(passed=12)
    result.stdout.fnmatch_lines(["created: 3/3 workers*"])
    rows = [json.loads(line) for line in (pytester.path / "where.jsonl").read_text().splitlines()]
    workers: dict[str, set[str]] = {}
    for row in rows:
        workers.setdefault(row["device"], set()).add(row["worker"])
        assert row["holder"]["worker"] == row["worker"], "the worker running it holds the lease"
    assert all(len(w) == 1 for w in workers.values()), workers
    assert len(set().union(*workers.values())) == 3, "each device has a worker of its own"
    assert len({row["holder"]["run"] for row in rows}) == 1, "one run id across the workers"
    result.stdout.fnmatch_lines(
        [
            "phone-a (virtual iPhone, iOS 26.1): 4 passed",
            "phone-b (virtual iPhone, iOS 26.1): 4 passed",
            "phone-c (virtual iPhone, iOS 26.1): 4 passed",
        ]
    )
    env = (pytester.path / "ar/environment.properties").read_text()
    assert env.count("device.phone-") == 3
    assert all(labels(r)["device"] for r in results(pytester.path / "ar").values())


def test_n_auto_without_devices_keeps_xdist_own_count(pytester, monkeypatch):
    pytester.makefile(".yaml", devices=inventory("phone-a", "phone-b", "phone-c"))
    pytester.makepyfile("def test_plain(): pass")
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "1")  # what xdist itself would say
    result = pytester.runpytest_subprocess("-n", "auto")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["created: 1/1 worker"])
