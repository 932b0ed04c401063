"""What goes into Allure: labels, failure kinds and their categories, environment, merging."""

import json
import re

import pytest

from harness.core.errors import (
    DebuggerError,
    DeviceUnavailable,
    HarnessError,
    InfraError,
    PlanError,
    UsageError,
)
from harness.core.timeline import ExpectationFailed
from harness.data.inventory import Address, DeviceRecord
from harness.device.contract import DeviceInfo
from harness.lab.lease import DeviceBusy, LeaseLost
from harness.surfaces.report import (
    categories,
    classify,
    device_kind,
    device_labels,
    environment,
    failure_marker,
    find_allure,
    merge_results,
    parse_properties,
    properties_text,
    results_folders,
)

VIRTUAL = DeviceRecord("virtual-iphone", "virtual", model="iPhone17,3", ios="26.1")
PHONE = DeviceRecord(
    "iphone-usb", "ios", model="iPhone14,5", ios="16.7", udid="00008110-000A1B2C3D4E5F60"
)


def test_a_virtual_run_is_marked_in_its_labels():
    labels = device_labels(VIRTUAL)
    assert ("device", "virtual-iphone") in labels
    assert ("backend", "virtual") in labels
    assert ("tag", "virtual") in labels
    assert ("device_model", "iPhone17,3") in labels and ("ios", "26.1") in labels


def test_what_the_device_says_beats_what_devices_yaml_declared():
    info = DeviceInfo("u", "iphone-usb", "iPhone14,5", "16.7.10", "20H350", "ios")
    labels = device_labels(PHONE, info)
    assert ("ios", "16.7.10") in labels and ("ios_build", "20H350") in labels
    assert ("tag", "hardware") in labels
    assert device_kind(PHONE, info) == "iPhone14,5, iOS 16.7.10"
    assert device_kind(VIRTUAL) == "virtual iPhone, iOS 26.1"


def _raised_from(outer: BaseException, inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException:
            raise outer from None
    except BaseException as caught:
        return caught


@pytest.mark.parametrize(
    ("error", "kind", "named"),
    [
        (ExpectationFailed("expected task.completed"), "product", "ExpectationFailed"),
        (AssertionError("assert 1 == 2"), "product", "AssertionError"),
        (DebuggerError("lldb timed out attaching"), "infra", "DebuggerError"),
        (DeviceUnavailable("iphone-usb is not attached"), "infra", "DeviceUnavailable"),
        (InfraError("tunnel down"), "infra", "InfraError"),
        (LeaseLost("lost"), "infra", "LeaseLost"),
        (PlanError("plan: bad"), "test", "PlanError"),
        (UsageError("no app named X"), "test", "UsageError"),
        (HarnessError("something"), "test", "HarnessError"),
        (RuntimeError("a bug"), None, None),
        # pytest.fail(...) raised `from None` for a library error keeps it as the context
        (
            _raised_from(pytest.fail.Exception("busy"), DeviceBusy("busy", None)),
            "infra",
            "DeviceBusy",
        ),
        (_raised_from(pytest.fail.Exception("bad"), UsageError("bad")), "test", "UsageError"),
        (pytest.fail.Exception("plain fail"), None, None),
    ],
)
def test_failures_are_classified_by_what_failed(error, kind, named):
    found = classify(error)
    if kind is None:
        assert found is None
        return
    assert found is not None
    assert (found[0], type(found[1]).__name__) == (kind, named)


@pytest.mark.parametrize("kind", ["infra", "product", "test"])
def test_each_failure_kind_lands_in_its_own_category(kind):
    trace = "Traceback...\nE   boom\n" + failure_marker(kind, ValueError()) + "\nmore\n"
    matched = [
        c["name"]
        for c in categories()
        if "traceRegex" in c and re.fullmatch(c["traceRegex"], trace)  # Allure 2: whole text
    ]
    assert len(matched) == 1 and matched[0].lower().startswith(
        {"infra": "infrastructure", "product": "product", "test": "test"}[kind]
    )
    # Allure 3 searches (JavaScript RegExp.test); the pattern has no Python-only syntax
    assert all("(?" not in c.get("traceRegex", "") for c in categories())


def test_infra_comes_first_so_a_lab_failure_is_never_counted_as_a_product_bug():
    assert categories()[0]["name"].startswith("Infrastructure")


def test_environment_names_each_device_and_app_and_round_trips():
    record = DeviceRecord(
        "iphone-remote", "ios", ios="16.7", udid="0" * 40, usbmux=Address("10.0.0.5", 27015)
    )
    env = environment([VIRTUAL, record], {}, {"bgharness": "0.1.0", "odd key": "a=b:c\nd"})
    assert env["device.virtual-iphone"] == "virtual iPhone, iOS 26.1 (time_scale 0)"
    assert "usbmux 10.0.0.5:27015" in env["device.iphone-remote"]
    assert parse_properties(properties_text(env)) == env


def _results(folder, name, uuid, env=None):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{uuid}-result.json").write_text(json.dumps({"name": name, "uuid": uuid}))
    (folder / f"{uuid}-attachment.svg").write_text("<svg/>")
    if env:
        (folder / "environment.properties").write_text(properties_text(env))
    return folder


def test_merging_many_jobs_keeps_every_result_and_every_host_in_the_environment(tmp_path):
    a = _results(
        tmp_path / "jobs/allure-results-lab-mac-1",
        "t",
        "a1",
        {"device.p1": "iPhone14,5", "bgharness": "0.1.0", "runner.mac-1": "run 1"},
    )
    b = _results(
        tmp_path / "jobs/allure-results-lab-mac-2",
        "t",
        "b1",
        {"device.p2": "iPhone16,1", "bgharness": "0.1.0", "runner.mac-2": "run 1"},
    )
    folders = results_folders([tmp_path / "jobs"])
    assert folders == [a, b]
    merged = merge_results([*folders, a], tmp_path / "merged")
    assert (merged.results, merged.duplicates) == (2, 2)
    env = parse_properties((tmp_path / "merged/environment.properties").read_text())
    assert env == {
        "device.p1": "iPhone14,5",
        "device.p2": "iPhone16,1",
        "bgharness": "0.1.0",
        "runner.mac-1": "run 1",
        "runner.mac-2": "run 1",
    }
    assert json.loads((tmp_path / "merged/categories.json").read_text()) == categories()


def test_a_folder_without_results_says_how_to_get_some(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="run the device suites with --alluredir first"):
        results_folders([tmp_path / "empty"])
    with pytest.raises(UsageError, match="no such folder"):
        results_folders([tmp_path / "missing"])


def test_without_allure_installed_the_error_says_make_report(tmp_path, monkeypatch):
    monkeypatch.delenv("BGHARNESS_ALLURE", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(HarnessError, match=r"`make report` installs it"):
        find_allure(cwd=tmp_path)
    local = tmp_path / ".allure/node_modules/.bin/allure"
    local.parent.mkdir(parents=True)
    local.write_text("#!/bin/sh\n")
    assert find_allure(cwd=tmp_path) == [str(local)]
    with pytest.raises(UsageError, match="does not exist"):
        find_allure("/no/such/allure", cwd=tmp_path)
