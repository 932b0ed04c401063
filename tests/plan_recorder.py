"""A pytest plugin (`-p tests.plan_recorder`) that records every plan the virtual iPhone is
launched with, as the app receives it, into the file named by env BGH_RECORD_PLANS (one a line).

tests/test_suite_plans.py runs the suites and the virtual iPhone's tests with it, so that
conformance/suite-plans.json holds every plan they use and ProbeKit's XCTest decodes each one.
"""

import os

from harness.data.plan import PLAN_ENV
from harness.device.backends.virtual import VirtualIPhone

_launch = VirtualIPhone.launch


def _recording_launch(self, bundle_id, env, args):
    if PLAN_ENV in env:
        with open(os.environ["BGH_RECORD_PLANS"], "a", encoding="utf-8") as out:
            out.write(env[PLAN_ENV] + "\n")
    return _launch(self, bundle_id, env, args)


VirtualIPhone.launch = _recording_launch
