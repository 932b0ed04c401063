"""The plugin with a (fake) phone: a declared phone not ready; one-line infra failures."""

from __future__ import annotations

import pytest

from tests.fakephone import FakePhone
from tests.paths import PROBE_PLIST

DEVICE_TEST = """\
import pytest

@pytest.mark.device
def test_on_the_phone(device):
    assert device.name == "lab-phone"
"""


def ios_inventory(pytester: pytest.Pytester, phone: FakePhone) -> None:
    pytester.makefile(
        ".yaml",
        devices=f"""\
devices:
  - name: lab-phone
    backend: ios
    udid: {phone.udid}
    usbmux: {phone.address}
    ios: "{phone.ios}"
""",
    )
    pytester.makeini("[pytest]\nfilterwarnings = ignore::pytest.PytestAssertRewriteWarning\n")
    pytester.makepyfile(DEVICE_TEST)


def test_a_phone_that_is_not_ready_fails_the_run_in_ci(pytester, fake, monkeypatch):
    """A nightly that tested nothing must not be green (issue 13)."""
    fake.scenario.developer_mode = False
    ios_inventory(pytester, fake)
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest("-m", "device")
    assert result.ret != 0
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*lab-phone: Developer Mode is off*Settings*Developer Mode*"])
    result.stdout.no_fnmatch_line("*Traceback*")


def test_skip_is_what_you_ask_for(pytester, fake, monkeypatch):
    fake.scenario.disk_image = False
    ios_inventory(pytester, fake)
    monkeypatch.setenv("CI", "true")
    result = pytester.runpytest("-m", "device", "--bg-missing=skip", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*lab-phone: the developer disk image is not mounted*"])


def test_outside_ci_a_phone_that_is_not_ready_is_skipped(pytester, fake, monkeypatch):
    fake.scenario.paired = False
    ios_inventory(pytester, fake)
    monkeypatch.delenv("CI", raising=False)
    result = pytester.runpytest("-m", "device", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*lab-phone*trust*"])


APP_INFRA_TEST = """\
import pytest
from harness.core.errors import InfraError

@pytest.mark.device
def test_the_phone_drops(app, device, monkeypatch):
    def gone(bundle_id):
        raise InfraError("phone-a: pid: the connection to the phone dropped: check the cable")
    monkeypatch.setattr(type(device), "pid", lambda self, bundle_id: gone(bundle_id))
    raise InfraError("phone-a: launch: the connection to the phone dropped: check the cable")
"""


@pytest.fixture
def virtual_project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makefile(
        ".yaml",
        devices=f"""\
apps:
  BGProbe:
    path: {PROBE_PLIST}
devices:
  - name: phone-a
    backend: virtual
    ios: "26.1"
""",
    )
    pytester.makeini("[pytest]\nfilterwarnings = ignore::pytest.PytestAssertRewriteWarning\n")
    pytester.makepyfile(APP_INFRA_TEST)
    return pytester


def test_an_infra_failure_is_one_line_reported_once(virtual_project):
    """Before: the app fixture's teardown asked the dropped phone for the pid and failed again,
    so the test was reported twice, each with a long traceback."""
    result = virtual_project.runpytest("-m", "device")
    result.assert_outcomes(failed=1, errors=0)
    result.stdout.fnmatch_lines(
        ["*InfraError: phone-a: launch: the connection to the phone dropped: check the cable*"]
    )
    result.stdout.no_fnmatch_line("*Traceback*")
    result.stdout.no_fnmatch_line("*raise InfraError*")
    saved = list((virtual_project.path / "reports/artifacts").glob("*/traceback.txt"))
    assert saved and "raise InfraError" in saved[0].read_text()


def test_verbose_shows_the_traceback(virtual_project):
    result = virtual_project.runpytest("-m", "device", "-v")
    result.assert_outcomes(failed=1, errors=0)
    result.stdout.fnmatch_lines(["*raise InfraError*"])
