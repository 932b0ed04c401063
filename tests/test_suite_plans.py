"""Every plan the suites and the virtual iPhone's tests launch is in conformance/suite-plans.json,
which ProbeKit's XCTest decodes (PlanTests.testEverySuitePlanDecodes): the plans under suites and
tests decode on both sides. Regenerate the file with BGH_WRITE_SUITE_PLANS=1.
"""

import json
import os
import subprocess
import sys

from harness.core.errors import PlanError
from harness.data.plan import plan_from_json
from tests.paths import ROOT

SUITE_PLANS = ROOT / "suites/apps/BGProbe/conformance/suite-plans.json"


def test_every_plan_of_the_suites_and_tests_is_in_the_shared_file(tmp_path):
    record = tmp_path / "plans.txt"
    record.touch()
    env = {**os.environ, "BGH_RECORD_PLANS": str(record)}
    args = [sys.executable, "-m", "pytest", "-q", "-p", "tests.plan_recorder", "-p", "no:randomly"]
    for targets in (["-m", "device", "suites"], ["tests/test_virtual_iphone.py"]):
        done = subprocess.run(
            [*args, "-o", f"cache_dir={tmp_path}", "--basetemp", str(tmp_path / "t"), *targets],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stdout[-3000:]
    seen = sorted({line for line in record.read_text().splitlines() if _valid(line)})
    assert len(seen) >= 20
    if os.environ.get("BGH_WRITE_SUITE_PLANS"):
        SUITE_PLANS.write_text(json.dumps([json.loads(t) for t in seen], indent=1) + "\n")
    kept = sorted(json.dumps(p, sort_keys=True) for p in json.loads(SUITE_PLANS.read_text()))
    assert kept == seen, "suite-plans.json is stale: rerun with BGH_WRITE_SUITE_PLANS=1"


def _valid(text: str) -> bool:
    """Plans the tests send on purpose broken (plan.rejected) are not plans to decode."""
    try:
        plan_from_json(text)
    except PlanError:
        return False
    return True
