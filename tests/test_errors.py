"""Failure categories live on the exception classes (harness.core.errors), and every error the
harness raises on purpose has one."""

import re
from pathlib import Path

import pytest

from harness.core import errors
from harness.core.errors import CATEGORIES, HarnessError
from harness.core.timeline import Expectation
from harness.device.lldb import LldbFailure, Step, diagnose
from harness.surfaces.report import classify

HARNESS = Path(__file__).resolve().parent.parent / "harness"
CONTEXT = {"device": "iphone-usb", "pid": 412, "endpoint": "[fd7b::1]:58783", "command": "e 1"}


@pytest.mark.parametrize(
    ("step", "lldb_said", "category"),
    [
        # The app's problems: the fix is in the build or the test, not in the lab.
        (Step.ATTACH, "error: attach failed: not allowed to attach to process", "test"),
        (Step.EVALUATE, "error: use of undeclared identifier 'BGTaskScheduler'", "test"),
        (Step.ATTACH, "error: attach failed: no such process.", "test"),
        # Connection trouble: the lab's.
        (Step.CONNECT, "error: failed to connect port", "infra"),
        (Step.CONNECT, "error: timed out waiting for handshake packet", "infra"),
    ],
)
def test_the_bridge_files_app_problems_under_test_and_connection_trouble_under_infra(
    step, lldb_said, category
):
    """Before, every DebuggerError was infra, "install a development-signed build" included."""
    error = diagnose(step, lldb_said, CONTEXT)
    assert error is not None and error.category == category
    assert classify(error) == (category, error)
    assert isinstance(error, LldbFailure) == (category == "infra")


def test_classify_reads_the_class_attribute():
    class TunnelFlapped(HarnessError):
        category = "infra"

    assert classify(TunnelFlapped("x"))[0] == "infra"
    assert TunnelFlapped("x").infra


def test_every_error_class_says_its_category():
    classes = [c for c in vars(errors).values() if isinstance(c, type)]
    classes += [c for c in classes for c in c.__subclasses__()]  # lease, lldb, address, ...
    for cls in classes:
        if issubclass(cls, HarnessError):
            assert cls.category in CATEGORIES, cls


def test_no_bare_harness_error_is_raised():
    """A bare HarnessError has no category of its own; each raise names a subclass."""
    bare = re.compile(r"\b(raise|return) HarnessError\(")
    found = [
        f"{path.relative_to(HARNESS)}:{n}"
        for path in sorted(HARNESS.rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if bare.search(line)
    ]
    assert found == []


def test_an_unknown_event_kind_is_a_usage_error_with_a_suggestion():
    with pytest.raises(errors.UsageError, match=r"'task\.complete'; did you mean 'task\.com"):
        Expectation.of("task.complete")
