import json
import shutil
import subprocess
import sys
import venv

import jsonschema
import pytest

from harness.core.errors import PlanError
from harness.data.plan import Handler, build_plan, fresh_id, plan_from_json, schema_text
from tests.paths import ROOT

B = "dev.bgharness.probe"
PLANS = json.loads((ROOT / "suites/apps/BGProbe/conformance/plans.json").read_text())


def test_short_names_become_full_identifiers():
    plan = build_plan(
        {
            "register": ["refresh", "com.other.task"],
            "submit": [{"type": "refresh", "id": "refresh"}],
            "taps": {"go": [{"cancel": "refresh"}]},
            "handlers": {"refresh": {"work_s": 3}},
        },
        B,
    )
    assert plan.register == (f"{B}.refresh", "com.other.task")
    assert plan.submit[0].id == f"{B}.refresh"
    assert plan.taps["go"][0].arg == f"{B}.refresh"
    assert plan.handler_for(f"{B}.refresh") == Handler(work_s=3)
    assert plan.handler_for("com.other.task") == Handler()


def test_the_json_the_app_receives_round_trips_and_follows_the_schema():
    plan = build_plan(
        {
            "register": ["processing"],
            "submit": [{"type": "processing", "id": "processing", "requires_network": True}],
            "handler": {"work_s": 5, "do": [{"keychain": "when_unlocked"}]},
        },
        B,
    )
    raw = json.loads(plan.to_json())
    jsonschema.validate(raw, json.loads(schema_text()))
    assert raw["version"] == 2
    assert plan_from_json(plan.to_json()) == plan


@pytest.mark.parametrize("plan", PLANS["valid"], ids=range(len(PLANS["valid"])))
def test_every_shared_valid_plan_builds(plan):
    plan_from_json(json.dumps(plan))


@pytest.mark.parametrize("case", PLANS["invalid"], ids=[c["path"] for c in PLANS["invalid"]])
def test_every_shared_invalid_plan_is_refused_with_its_path(case):
    with pytest.raises(PlanError) as info:
        plan_from_json(json.dumps(case["plan"]))
    assert info.value.paths[0] == case["path"]
    assert f"{case['path']}: " in str(info.value)


def test_every_problem_is_listed_at_once():
    with pytest.raises(PlanError, match=r"\(2 problems\)"):
        build_plan({"cancel_all": "yes", "submit": [{"type": "refresh"}]}, B)


def test_an_unknown_version_is_refused_with_what_is_understood():
    with pytest.raises(PlanError, match="understands plan version 2") as info:
        build_plan({"version": 3}, B)
    assert info.value.why == "version"


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_nan_and_infinity_are_refused_before_launch(bad):
    with pytest.raises(PlanError, match="not a number JSON allows") as info:
        build_plan({"handler": {"work_s": bad}}, B)
    assert info.value.paths == ["plan.handler.work_s"]


def test_nan_in_the_apps_json_is_not_json():
    with pytest.raises(PlanError, match="not JSON"):
        plan_from_json('{"version": 2, "handler": {"work_s": NaN}}')


def test_an_identifier_ending_in_a_newline_is_refused():
    with pytest.raises(PlanError, match=r"plan.register\[0\]"):
        build_plan({"register": ["refresh\n"]}, B)


def test_fresh_identifiers_replace_their_suffix():
    assert fresh_id("a.export-1", 1) == "a.export-1-r1"
    assert fresh_id("a.export-1-r1", 2) == "a.export-1-r2"
    assert fresh_id("a.my-refresh", 3) == "a.my-refresh-r3"


def test_the_app_side_rejects_text_that_is_not_json():
    with pytest.raises(PlanError, match="BGPROBE_PLAN is not JSON"):
        plan_from_json("{")


def test_an_installed_wheel_builds_a_plan_and_parses_a_log(tmp_path):
    """Issue 15: the schema is package data, so a wheel outside the checkout can build plans."""
    wheels, src = tmp_path / "wheels", tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    shutil.copytree(ROOT / "harness", src / "harness", ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    env = tmp_path / "venv"
    venv.create(env, system_site_packages=True, with_pip=True)
    py = env / "bin/python"
    # The dependencies (rich, pymobiledevice3…) come from the environment running this test, so
    # no network is needed; the package itself comes only from the wheel.
    deps = [p for p in sys.path if p.endswith("site-packages")]
    site = next((env / "lib").glob("python*/site-packages"))
    (site / "zz_deps.pth").write_text("\n".join(deps) + "\n")
    wheel = next(wheels.glob("bgharness-*.whl"))
    done = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", "--force-reinstall", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    log = tmp_path / "device.log"
    log.write_text(
        "2026-01-05 09:00:01.000000 BGProbe{BackgroundTasks}[412] <NOTICE>: "
        'bgprobe {"event": "task.launched", "task": "dev.bgharness.probe.refresh", '
        '"type": "refresh"} [dev.bgharness.probe][lifecycle]\n'
    )
    script = (
        "import harness.data.plan as p, pathlib; assert 'site-packages' in p.__file__, p.__file__; "
        "print(p.build_plan({'register': ['refresh']}, 'dev.b').to_json())"
    )
    cwd = tmp_path  # not the checkout: the installed package must be what is imported
    plan = subprocess.run([str(py), "-c", script], capture_output=True, text=True, cwd=cwd)
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["register"] == ["dev.b.refresh"]
    parsed = subprocess.run(
        [str(env / "bin/bgharness"), "parse", str(log)], capture_output=True, text=True, cwd=cwd
    )
    assert parsed.returncode == 0, parsed.stderr
    assert "task.launched" in parsed.stdout


def test_the_schema_is_one_file_inside_the_package():
    assert not (ROOT / "suites/apps/BGProbe/plan.schema.json").exists()
    assert (ROOT / "harness/data/schemas/plan.schema.json").read_text() == schema_text()
