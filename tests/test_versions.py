"""One home each for iOS versions, UDIDs and HOST:PORT addresses, used by every module."""

import re
from pathlib import Path

import pytest

from harness.core.address import Address, parse_address
from harness.core.errors import UsageError
from harness.core.udid import same_udid, udid_key
from harness.core.versions import major, parse_spec, satisfies, version_key
from harness.data.device_filter import parse_filter
from harness.data.inventory import DeviceRecord

HARNESS = Path(__file__).resolve().parent.parent / "harness"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("17", (17, 0, 0)),
        ("17.4", (17, 4, 0)),
        ("17.4.1", (17, 4, 1)),
        ("18.0b2", (18, 0, 0)),
        ("18.0 beta 2", (18, 0, 0)),
        ("26.1", (26, 1, 0)),
    ],
)
def test_versions(text, key):
    assert version_key(text) == key


def test_a_beta_is_the_release_it_leads_to_in_the_filter_and_the_backend():
    """Before, "18.0b2" crashed the device filter (int("0b2")) and was 18.0.2 in the ios
    backend, so a phone on the beta of what devices.yaml declared got a false warning."""
    from harness.device.backends.ios_connect import declared_mismatches

    beta = DeviceRecord(name="p", backend="ios", ios="18.0b2", udid="0" * 40)
    assert parse_filter("ios >= 18")(beta) and not parse_filter("ios > 18")(beta)
    declared = DeviceRecord(name="p", backend="ios", ios="18.0", udid="0" * 40)
    assert declared_mismatches(declared, "18.0b2", "22A5282m", "") == []
    assert major("18.0b2") == 18 and major("unknown") is None


def test_specs():
    assert satisfies("26.1", ">=17") and not satisfies("26.1", ">=27")
    assert satisfies("17", "==17.0") and satisfies("17.4", "<17.10") and satisfies("18", "18")
    assert parse_spec(" <= 26.1 ") == ("<=", "26.1")
    for bad in (">=", ">=x", "~=17", 27):
        with pytest.raises(UsageError, match="version comparison"):
            parse_spec(bad)
    with pytest.raises(UsageError, match="not an iOS version"):
        version_key("latest")


def test_udids_compare_without_dashes_or_case():
    assert udid_key("00008110-001a2b3c4d5e6f70") == "00008110001A2B3C4D5E6F70"
    assert same_udid("00008110-001A2B3C4D5E6F70", "00008110001a2b3c4d5e6f70")


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("10.0.0.5:27015", Address("10.0.0.5", 27015)),
        ("lab-mac.local:9", Address("lab-mac.local", 9)),
        ("[fd7b:e2f::1]:58783", Address("fd7b:e2f::1", 58783)),
    ],
)
def test_addresses_round_trip(text, address):
    assert parse_address(text) == address and str(address) == text


@pytest.mark.parametrize(
    "text", ["10.0.0.5", "fd7b:e2f::1:58783", "[::1]:x", "host:0", "a;b:1", "-x:1", ":1"]
)
def test_not_addresses(text):
    with pytest.raises(UsageError):
        parse_address(text)


def test_one_home_each():
    """No module of harness/ parses versions, normalises UDIDs or defines the state folder on its
    own; they import harness.core.versions, harness.core.udid, harness.data.state."""
    homes = {
        r'replace\("-", ""\)': "udid.py",
        r"def _?version_key|def _version\(text|def _major\(": "versions.py",
        r'"reports" / ".state"|Path\("reports/\.state"\)': "state.py",
        r"class Address\b": "address.py",
    }
    for path in sorted(HARNESS.rglob("*.py")):
        text = path.read_text()
        for pattern, home in homes.items():
            if path.name != home:
                assert not re.search(pattern, text), f"{path.relative_to(HARNESS)}: {pattern}"
