import json

import jsonschema
import pytest

from harness.errors import PlanError
from harness.plan import PLAN_SCHEMA, Handler, build_plan, plan_from_json

B = "dev.bgharness.probe"


def test_short_names_become_full_identifiers():
    plan = build_plan(
        {
            "register": ["refresh", "com.other.task"],
            "submit": [{"type": "refresh", "id": "refresh"}],
            "handlers": {"refresh": {"work_s": 3}},
        },
        B,
    )
    assert plan.register == (f"{B}.refresh", "com.other.task")
    assert plan.submit[0].id == f"{B}.refresh"
    assert plan.handler_for(f"{B}.refresh") == Handler(work_s=3)
    assert plan.handler_for("com.other.task") == Handler()


def test_the_json_the_app_receives_round_trips_and_follows_the_schema():
    plan = build_plan(
        {
            "register": ["processing"],
            "submit": [
                {
                    "type": "processing",
                    "id": "processing",
                    "requires_network": True,
                    "earliest_begin_s": 60,
                }
            ],
            "handler": {"work_s": 5, "keychain": "when_unlocked"},
        },
        B,
    )
    text = plan.to_json()
    jsonschema.validate(json.loads(text), json.loads(PLAN_SCHEMA.read_text()))
    assert plan_from_json(text) == plan


@pytest.mark.parametrize(
    ("raw", "where", "problem"),
    [
        ({"regster": []}, "plan", "'regster' was unexpected"),
        ({"submit": [{"type": "refresh"}]}, "plan.submit[0]", "'id' is a required property"),
        (
            {"submit": [{"type": "daily", "id": "x"}]},
            "plan.submit[0].type",
            "'daily' is not one of",
        ),
        (
            {"submit": [{"type": "refresh", "id": "x", "requires_network": True}]},
            "plan.submit[0]",
            "requires_network do not apply to a refresh request",
        ),
        ({"register": ['x"];(lldb) kill']}, "plan.register[0]", "does not match"),
        ({"handler": {"work_s": -1}}, "plan.handler.work_s", "less than the minimum of 0"),
        ({"handler": {"complete": "maybe"}}, "plan.handler.complete", "'maybe' is not one of"),
    ],
)
def test_a_bad_plan_names_each_problem_and_where(raw, where, problem):
    with pytest.raises(PlanError) as info:
        build_plan(raw, B)
    assert f"{where}: " in str(info.value) and problem in str(info.value)


def test_every_problem_is_listed_at_once():
    with pytest.raises(PlanError, match=r"\(2 problems\)"):
        build_plan({"cancel_all": "yes", "submit": [{"type": "refresh"}]}, B)


def test_the_app_side_rejects_text_that_is_not_json():
    with pytest.raises(PlanError, match="BGPROBE_PLAN is not JSON"):
        plan_from_json("{")
