"""Fuzz: plans, valid or not, into the virtual iPhone end in success or one PlanError.

Never a traceback, never a hang: every number a valid plan may hold is bounded by the schema and
the probe sets its timers one at a time. BGHARNESS_FUZZ_EXAMPLES sets the budget (100 in make
test; more for a nightly). Found inputs stay as @example regression cases.
"""

import json
import os

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.core.errors import PlanError
from harness.data.appbundle import read_app
from harness.data.inventory import DeviceRecord
from harness.data.journal import Journal
from harness.device.backends.virtual import VirtualIPhone
from harness.session.session import App, Session
from tests.paths import PROBE_PLIST

B = "dev.bgharness.probe"
ids = st.sampled_from(
    ["refresh", "processing", f"{B}.continued.x", f"{B}.continued.*", "unlisted", "a\n", ""]
)
numbers = st.one_of(
    st.sampled_from([0, 1e-300, 0.01, 1, 30, 1e6, 1e9, 1e308, -1]),
    st.floats(allow_nan=True, allow_infinity=True),
)
request = st.fixed_dictionaries(
    {"type": st.sampled_from(["refresh", "processing", "continued"]), "id": ids},
    optional={"earliest_begin_s": numbers},
)
action = st.one_of(
    st.builds(lambda r: {"submit": r}, request),
    st.builds(lambda i: {"register": i}, ids),
    st.builds(lambda c: {"keychain": c}, st.sampled_from(["when_unlocked", "after_first_unlock"])),
    st.builds(lambda w: {"background_task": {"work_s": w}}, numbers),
    st.just({"upload": {"bytes": 10}}),
    st.just({"gpu_work": True}),
    st.builds(lambda s, p: {"cpu": {"seconds": s, "percent": p}}, numbers, numbers),
)
progress = st.one_of(
    st.builds(lambda e: {"every_s": e}, numbers),
    st.builds(lambda g: {"gaps_s": g, "needs_network": True}, st.lists(numbers, max_size=5)),
)
handler = st.fixed_dictionaries(
    {},
    optional={
        "work_s": numbers,
        "progress": progress,
        "resubmit": st.sampled_from(["on_start", "on_expiry"]),
        "resubmit_id": st.sampled_from(["same", "fresh"]),
        "do": st.lists(action, max_size=3),
    },
)
plans = st.fixed_dictionaries(
    {},
    optional={
        "register": st.lists(ids, max_size=3),
        "submit": st.lists(request, max_size=3),
        "taps": st.fixed_dictionaries({"start": st.lists(action, max_size=3)}),
        "after_launch": st.lists(
            st.fixed_dictionaries({"at_s": numbers, "do": st.lists(action, max_size=2)}),
            max_size=2,
        ),
        "handler": handler,
    },
)


@settings(
    max_examples=int(os.environ.get("BGHARNESS_FUZZ_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@given(plan=plans)
@example(
    plan={
        "register": ["refresh"],
        "submit": [{"type": "refresh", "id": "refresh"}],
        "handler": {"work_s": 1e6, "progress": {"every_s": 1e-300}},
    }
)
@example(
    plan={
        "register": ["refresh"],
        "submit": [{"type": "refresh", "id": "refresh", "earliest_begin_s": 1e308}],
    }
)
@example(plan={"handler": {"work_s": float("nan")}})
@example(plan={"register": ["refresh\n"]})
@example(
    plan={
        "register": [f"{B}.continued.x"],
        "taps": {"start": [{"submit": {"type": "continued", "id": f"{B}.continued.x"}}]},
        "handler": {"work_s": 1e6, "progress": {"gaps_s": [0, 0], "needs_network": True}},
    }
)
def test_a_plan_ends_in_success_or_one_plan_error(tmp_path_factory, plan):
    state = tmp_path_factory.mktemp("fuzz")
    phone = VirtualIPhone.open(DeviceRecord(name="v", backend="virtual"), state)
    phone.install(PROBE_PLIST)
    bg = Session(phone, Journal(state))
    try:
        app = App(bg, read_app(PROBE_PLIST))
        try:
            app.launch(plan)
        except PlanError as exc:
            assert "plan" in str(exc).splitlines()[-1]
            # The same text straight to the app (NaN and all): the probe says plan.rejected.
            phone.launch(app.bundle_id, {"BGPROBE_PLAN": json.dumps(plan)}, [])
            bg.expect("plan.rejected", source="probe", within=1)
            return
        phone.set_network("offline")
        if "taps" in plan and app.pid is not None:
            app.tap("start")
        for task in ("refresh", "processing"):
            if app.pid is not None:
                bg.trigger(app.task(task))
        bg.wait(120)  # bounded device time; the probe's timers are created lazily
    finally:
        bg.close()
        phone.close()
