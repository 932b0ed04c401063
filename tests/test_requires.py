"""The `requires` marker's arguments, validated against its signature
(harness.surfaces.pytest_plugin.requires)."""

import pytest

from harness.core.errors import UsageError
from harness.data.inventory import DeviceRecord
from harness.surfaces.pytest_plugin.requires import Requirement, from_marker

PHONE = DeviceRecord(name="p", backend="virtual", ios="26.1", tags=("virtual",))


@pytest.mark.parametrize(
    ("args", "kwargs", "says"),
    [
        ((">=27",), {}, "keyword arguments only, got '>=27' (write requires(ios='>=27'))"),
        (("wda",), {}, "keyword arguments only, got 'wda'"),
        ((), {"tags": "wda"}, "tags= takes a list of tags, like tags=['wda'], got 'wda'"),
        ((), {"tags": 5}, "tags= takes a list of tag names, got 5"),
        ((), {"tag": ["wda"]}, "unknown argument tag=['wda']; did you mean tags=?"),
        ((), {"platform": "ios"}, "unknown argument platform='ios'"),
        ((), {"ios": 17}, "ios=17: 17 is not a version comparison"),
        ((), {"backend": "sim"}, "backend='sim' is not one of virtual, ios"),
    ],
)
def test_a_wrong_marker_is_a_usage_error_that_shows_the_signature(args, kwargs, says):
    with pytest.raises(UsageError) as info:
        from_marker(args, kwargs)
    assert str(info.value).startswith("requires(ios=None, tags=(), backend=None): ")
    assert says in str(info.value)


def test_a_requirement_says_why_a_device_does_not_meet_it():
    assert from_marker((), {"ios": ">=17", "tags": ["virtual"]}) == Requirement(
        ">=17", ("virtual",)
    )
    assert from_marker((), {"ios": ">=27"}).unmet(PHONE) == "needs iOS >=27, runs 26.1"
    assert from_marker((), {"tags": ["wda"]}).unmet(PHONE) == "needs tags ['wda'], has ['virtual']"
    assert from_marker((), {"backend": "ios"}).unmet(PHONE) == "needs backend ios, this is virtual"
    assert from_marker((), {"ios": "26.1", "backend": "virtual"}).unmet(PHONE) is None
