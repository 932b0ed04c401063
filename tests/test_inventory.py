"""devices.yaml loading and device selection: a mistake is one line naming file:line and field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.core.errors import InventoryError, UsageError
from harness.data.device_filter import parse_filter
from harness.data.inventory import Address, DeviceRecord, Inventory, load_inventory

ROOT = Path(__file__).resolve().parents[1]

APPS = """\
apps:
  Probe:
    path: Probe.ipa
  Plist:
    path: Info.plist
"""
VIRTUAL = """\
  - name: sim
    backend: virtual
"""


@pytest.fixture(autouse=True)
def elsewhere(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run from a folder that holds no test's files, so messages show their full path."""
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


def write(tmp_path: Path, text: str) -> Path:
    """devices.yaml in tmp_path, next to the app files its snippets refer to."""
    (tmp_path / "Probe.ipa").write_bytes(b"PK")
    (tmp_path / "Info.plist").write_text("<plist/>")
    path = tmp_path / "devices.yaml"
    path.write_text(text)
    return path


def load_error(path: Path) -> InventoryError:
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    return caught.value


# (id, yaml, line, field, words the message must contain)
BROKEN = [
    ("syntax", "devices:\n  - name: a\n   backend: virtual\n", 3, "", "YAML:"),
    ("tab", "devices:\n\t- name: a\n", 2, "", "spaces, not tabs"),
    ("empty", "# nothing yet\n", None, "", "empty"),
    ("not-a-mapping", "- name: a\n", 1, "", "expected a mapping with `apps:`"),
    ("top-typo", APPS + "device:\n" + VIRTUAL, 6, "device", "did you mean 'devices'?"),
    ("no-devices", APPS, 1, "devices", "add a `devices:` list"),
    ("devices-empty", "devices: []\n", 1, "devices", "the list is empty"),
    ("devices-not-list", "devices: sim\n", 1, "devices", "expected a list of devices"),
    ("device-not-mapping", "devices:\n  - sim\n", 2, "devices[0]", "expected a device"),
    (
        "key-typo",
        "devices:\n  - name: a\n    backend: ios\n    udi: 1\n",
        4,
        "devices[0].udi",
        "did you mean 'udid'?",
    ),
    (
        "key-unknown",
        "devices:\n  - name: a\n    backend: virtual\n    colour: red\n",
        4,
        "devices[0].colour",
        "known keys: name, backend",
    ),
    (
        "duplicate-key",
        "devices:\n  - name: a\n    name: b\n    backend: virtual\n",
        3,
        "devices[0].name",
        "duplicate key (first on line 2)",
    ),
    ("no-name", "devices:\n  - backend: virtual\n", 2, "devices[0].name", "needs a name"),
    (
        "bad-name",
        "devices:\n  - name: my phone\n    backend: virtual\n",
        2,
        "devices[0].name",
        "letters, digits",
    ),
    (
        "keyword-name",
        "devices:\n  - name: not\n    backend: virtual\n",
        2,
        "devices[0].name",
        "filter keyword",
    ),
    (
        "name-twice",
        "devices:\n" + VIRTUAL + "  - name: b\n    backend: virtual\n" + VIRTUAL,
        6,
        "devices[2].name",
        "already the name of devices[0] (line 2)",
    ),
    ("no-backend", "devices:\n  - name: a\n", 2, "devices[0].backend", "one of virtual, ios"),
    (
        "backend-typo",
        "devices:\n  - name: a\n    backend: iso\n",
        3,
        "devices[0].backend",
        "unknown backend 'iso', did you mean 'ios'?",
    ),
    (
        "backend-unknown",
        "devices:\n  - name: a\n    backend: android\n",
        3,
        "devices[0].backend",
        "use one of virtual, ios",
    ),
    (
        "ios-no-udid",
        "devices:\n" + VIRTUAL + "  - name: phone\n    backend: ios\n",
        4,
        "devices[1].udid",
        "an ios device needs a udid (find it with `pymobiledevice3 usbmux list`)",
    ),
    (
        "udid-on-virtual",
        "devices:\n  - name: a\n    backend: virtual\n    udid: 0\n",
        4,
        "devices[0].udid",
        "udid is for ios devices only (this one is virtual)",
    ),
    (
        "time_scale-on-ios",
        "devices:\n  - name: a\n    backend: ios\n    udid: 00008120-001A2B3C4D5E6F70\n"
        "    time_scale: 1\n",
        5,
        "devices[0].time_scale",
        "time_scale is for virtual devices only (this one is ios)",
    ),
    (
        "bad-udid",
        "devices:\n  - name: a\n    backend: ios\n    udid: 1234\n",
        4,
        "devices[0].udid",
        "expected a UDID",
    ),
    (
        "udid-twice",
        "devices:\n  - name: a\n    backend: ios\n    udid: 00008120-001A2B3C4D5E6F70\n"
        "  - name: b\n    backend: ios\n    udid: 00008120001a2b3c4d5e6f70\n",
        7,
        "devices[1].udid",
        "devices[0] 'a' (line 2) has this udid too",
    ),
    (
        "ios-version",
        "devices:\n  - name: a\n    backend: virtual\n    ios: latest\n",
        4,
        "devices[0].ios",
        'an iOS version like "26.1"',
    ),
    (
        "ios-list",
        "devices:\n  - name: a\n    backend: virtual\n    ios: [17]\n",
        4,
        "devices[0].ios",
        "expected a single value, got a list",
    ),
    (
        "empty-value",
        "devices:\n  - name: a\n    backend: virtual\n    model:\n",
        4,
        "devices[0].model",
        "no value",
    ),
    (
        "model",
        "devices:\n  - name: a\n    backend: virtual\n    model: iPhone 15\n",
        4,
        "devices[0].model",
        "a ProductType like iPhone17,3",
    ),
    (
        "tags-string",
        "devices:\n  - name: a\n    backend: virtual\n    tags: virtual\n",
        4,
        "devices[0].tags",
        "expected a list of tags, like [virtual, ci], got a string",
    ),
    (
        "tag-bad",
        "devices:\n  - name: a\n    backend: virtual\n    tags: [ok, no way]\n",
        4,
        "devices[0].tags[1]",
        "a tag of letters",
    ),
    (
        "time_scale-string",
        "devices:\n  - name: a\n    backend: virtual\n    time_scale: fast\n",
        4,
        "devices[0].time_scale",
        "expected a number >= 0",
    ),
    (
        "stall_tolerance-one-number",
        "devices:\n  - name: a\n    backend: virtual\n    stall_tolerance_s: 30\n",
        4,
        "devices[0].stall_tolerance_s",
        "expected [low, high] in seconds, like [20, 30]",
    ),
    (
        "stall_tolerance-reversed",
        "devices:\n  - name: a\n    backend: virtual\n    stall_tolerance_s: [30, 20]\n",
        4,
        "devices[0].stall_tolerance_s",
        "expected 0 < low <= high, got [30, 20]",
    ),
    (
        "time_scale-negative",
        "devices:\n  - name: a\n    backend: virtual\n    time_scale: -1\n",
        4,
        "devices[0].time_scale",
        "got -1",
    ),
    (
        "unlock-quoted",
        "devices:\n  - name: a\n    backend: ios\n    udid: 00008120-001A2B3C4D5E6F70\n"
        "    unlock: 'true'\n",
        5,
        "devices[0].unlock",
        "expected true or false, got a string",
    ),
    (
        "usbmux-port",
        "devices:\n  - name: a\n    backend: ios\n    udid: 00008120-001A2B3C4D5E6F70\n"
        "    usbmux: 10.0.0.5:70000\n",
        5,
        "devices[0].usbmux",
        "port 70000 is out of range 1-65535",
    ),
    (
        "usbmux-no-port",
        "devices:\n  - name: a\n    backend: ios\n    udid: 00008120-001A2B3C4D5E6F70\n"
        "    usbmux: 10.0.0.5\n",
        5,
        "devices[0].usbmux",
        "expected HOST:PORT of a remote usbmuxd",
    ),
    (
        "tunnel",
        "devices:\n  - name: a\n    backend: ios\n    udid: 00008120-001A2B3C4D5E6F70\n"
        "    tunnel: userspace\n",
        5,
        "devices[0].tunnel",
        "sudo pymobiledevice3 remote tunneld",
    ),
    (
        "tunnel-port",
        "devices:\n  - name: a\n    backend: ios\n    udid: 00008120-001A2B3C4D5E6F70\n"
        "    tunnel: tunneld@mac:0\n",
        5,
        "devices[0].tunnel",
        "port 0 is out of range",
    ),
    (
        "wda",
        "devices:\n  - name: a\n    backend: ios\n    udid: 00008120-001A2B3C4D5E6F70\n"
        "    wda: 127.0.0.1:8100\n",
        5,
        "devices[0].wda",
        "like http://127.0.0.1:8100",
    ),
    (
        "app-unknown",
        APPS + "devices:\n  - name: a\n    backend: virtual\n    apps: [Prob]\n",
        9,
        "devices[0].apps[0]",
        "no app named 'Prob' in `apps:`, did you mean 'Probe'?",
    ),
    (
        "app-twice",
        APPS + "devices:\n  - name: a\n    backend: virtual\n    apps: [Probe, Probe]\n",
        9,
        "devices[0].apps[1]",
        "listed twice",
    ),
    (
        "app-plist-on-ios",
        APPS + "devices:\n  - name: a\n    backend: ios\n    udid: 00008120-001A2B3C4D5E6F70\n"
        "    apps:\n      - Probe\n      - Plist\n",
        12,
        "devices[0].apps[1]",
        "app Plist is an Info.plist (apps.Plist, line 4); a real iPhone needs the built .ipa",
    ),
    (
        "app-plist-by-default",
        APPS + "devices:\n  - name: a\n    backend: ios\n    udid: 00008120-001A2B3C4D5E6F70\n",
        7,
        "devices[0].apps",
        "app Plist is an Info.plist",
    ),
    (
        "app-not-mapping",
        "apps:\n  Probe: Probe.ipa\ndevices:\n" + VIRTUAL,
        2,
        "apps.Probe",
        "expected a mapping like {path: MyApp.ipa}, got a string",
    ),
    (
        "app-key",
        "apps:\n  Probe:\n    paht: Probe.ipa\ndevices:\n" + VIRTUAL,
        3,
        "apps.Probe.paht",
        "did you mean 'path'?",
    ),
    (
        "app-no-path",
        "apps:\n  Probe: {}\ndevices:\n" + VIRTUAL,
        2,
        "apps.Probe.path",
        "missing: an .ipa, an .app folder or an Info.plist",
    ),
    (
        "app-kind",
        "apps:\n  Probe:\n    path: Probe.zip\ndevices:\n" + VIRTUAL,
        3,
        "apps.Probe.path",
        "Probe.zip is not an .ipa, an .app folder or an Info.plist",
    ),
    (
        "app-missing",
        "apps:\n  Probe:\n    path: build/Probe.ipa\ndevices:\n" + VIRTUAL,
        3,
        "apps.Probe.path",
        "build/Probe.ipa does not exist (a relative path starts at ",
    ),
    (
        "merge-scalar",
        "devices:\n  - name: &n a\n    backend: virtual\n  - <<: *n\n",
        4,
        "devices[1]",
        "`<<` must merge a mapping",
    ),
    (
        "top-anchor-without-x",
        "lab: &lab {backend: ios}\ndevices:\n  - <<: *lab\n",
        1,
        "lab",
        "unknown key; known keys: apps, devices",
    ),
]


@pytest.mark.parametrize(
    ("text", "line", "field", "words"),
    [pytest.param(*case[1:], id=case[0]) for case in BROKEN],
)
def test_a_mistake_is_one_line_naming_file_line_and_field(
    tmp_path: Path, text: str, line: int | None, field: str, words: str
) -> None:
    path = write(tmp_path, text)
    error = load_error(path)
    where = f"{path}:{line}" if line else str(path)
    assert str(error).startswith(f"{where}: {field}: " if field else f"{where}: "), str(error)
    assert words in str(error)
    assert "\n" not in str(error)
    assert (error.path, error.line, error.field) == (str(path), line, field)


EXAMPLE = (
    APPS
    + """\
devices:
  - name: lab-1
    backend: ios
    ios: "17.4"
    tags: [lab, slow]
    apps: [Probe]
    udid: 00008120-001A2B3C4D5E6F70
    usbmux: mac:27015
    tunnel: tunneld@mac:49151
  - {name: sim, backend: virtual, time_scale: 0}
"""
)


@settings(max_examples=300, deadline=None)
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(EXAMPLE)), st.sampled_from(":-[]{}&*!|>'\"#@`,?\t\n 0a.")),
        min_size=1,
        max_size=4,
    )
)
def test_any_edit_loads_or_fails_in_one_line(
    tmp_path_factory: pytest.TempPathFactory, edits: list[tuple[int, str]]
) -> None:
    """The promise: whatever the user typed, never a traceback and never a multi-line message."""
    text = EXAMPLE
    for at, char in edits:
        text = text[:at] + char + text[at + 1 :]
    path = write(tmp_path_factory.mktemp("fuzz"), text)
    try:
        load_inventory(path)
    except InventoryError as error:
        assert "\n" not in str(error)
        assert error.line is None or 1 <= error.line <= text.count("\n") + 1


def test_a_missing_app_names_the_resolved_path(tmp_path: Path) -> None:
    path = write(
        tmp_path, "apps:\n  Probe:\n    path: ../elsewhere/Probe.ipa\ndevices:\n" + VIRTUAL
    )
    assert f"{tmp_path.parent / 'elsewhere' / 'Probe.ipa'} does not exist" in str(load_error(path))


def test_an_app_folder_must_be_a_folder(tmp_path: Path) -> None:
    (tmp_path / "Probe.app").write_text("not a bundle")
    path = write(tmp_path, "apps:\n  Probe:\n    path: Probe.app\ndevices:\n" + VIRTUAL)
    assert str(load_error(path)).endswith(f"{tmp_path / 'Probe.app'} should be a folder")


def test_a_missing_file_says_how_to_get_one(tmp_path: Path) -> None:
    error = load_error(tmp_path / "nope.yaml")
    assert str(error).startswith(f"{tmp_path / 'nope.yaml'}: no such file")
    assert "--devices" in str(error)


def test_a_folder_is_not_an_inventory(tmp_path: Path) -> None:
    assert "is a folder" in str(load_error(tmp_path))


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "devices.yaml"
    path.write_bytes(b"devices:\n  - name: \xff\n")
    assert str(load_error(path)).startswith(f"{path}:2: not UTF-8")


def test_the_default_inventory_has_the_virtual_iphone() -> None:
    inventory = load_inventory(ROOT / "devices.yaml")
    assert inventory.select() == [
        DeviceRecord(
            name="virtual-iphone",
            backend="virtual",
            model="iPhone17,3",
            ios="26.1",
            tags=("virtual",),
            apps=("BGProbe", "BGProbeRelease", "BGProbeNoFetch", "BGProbeManyProcessing"),
            unlock=True,
            time_scale=0.0,
            line=inventory.devices[0].line,
        )
    ]
    app = inventory.apps["BGProbe"]
    assert app.path == ROOT / "suites/apps/BGProbe/Info.plist"
    assert app.path.is_absolute()
    assert app.kind == "plist"


def test_the_commented_examples_in_the_default_inventory_load(tmp_path: Path) -> None:
    """The examples are documentation; uncommented, with a built app, they must be valid."""
    text = (ROOT / "devices.yaml").read_text()
    text = re.sub(r"(?m)^  # ((- |  )[a-z_]+:)", r"  \1", text)
    text = re.sub(r"path: suites/apps/\S+/Info.plist", "path: Probe.ipa", text)
    inventory = load_inventory(write(tmp_path, text))
    devices = {device.name: device for device in inventory.devices}
    assert list(devices) == [
        "virtual-iphone",
        "iphone-usb",
        "iphone-remote",
        "iphone-17",
        "iphone-wda",
    ]
    assert devices["iphone-usb"].usbmux is None
    assert devices["iphone-usb"].tunnel is None
    assert devices["iphone-remote"].usbmux == Address("10.0.0.5", 27015)
    assert str(devices["iphone-remote"].usbmux) == "10.0.0.5:27015"
    assert devices["iphone-17"].tunnel == Address("127.0.0.1", 49151)
    assert devices["iphone-wda"].wda == "http://127.0.0.1:8100"
    assert devices["iphone-wda"].unlock is True
    assert devices["iphone-17"].unlock is False
    apps = ("BGProbe", "BGProbeRelease", "BGProbeNoFetch", "BGProbeManyProcessing")
    assert all(device.apps == apps for device in inventory.devices)
    assert not inventory.apps["BGProbeRelease"].debuggable
    assert inventory.apps["BGProbe"].debuggable


@pytest.mark.parametrize(
    ("written", "version"),
    [
        ("26.1", "26.1"),
        ("17.10", "17.10"),
        ("26", "26"),
        ('"17.4.1"', "17.4.1"),
        ("'18.0'", "18.0"),
    ],
)
def test_ios_is_taken_as_written_even_unquoted(tmp_path: Path, written: str, version: str) -> None:
    """A YAML float would turn 17.10 into 17.1; the node keeps what the user typed."""
    path = write(tmp_path, f"devices:\n  - name: a\n    backend: virtual\n    ios: {written}\n")
    assert load_inventory(path).devices[0].ios == version


def test_a_full_ios_record(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        APPS
        + """\
devices:
  - name: lab-1
    backend: ios
    model: iPhone16,2
    ios: "17.4"
    tags: [lab, slow]
    apps: [Probe]
    udid: 00008120-001A2B3C4D5E6F70
    usbmux: mac-mini.local:27015
    tunnel: tunneld@[::1]
    wda: https://10.0.0.7:8100/
    unlock: yes
""",
    )
    device = load_inventory(path).devices[0]
    assert device.tags == ("lab", "slow")
    assert device.usbmux == Address("mac-mini.local", 27015)
    assert device.tunnel == Address("::1", 49151)
    assert str(device.tunnel) == "[::1]:49151"
    assert device.unlock is True
    assert device.line == 7


def test_paths_start_at_the_file_and_messages_are_short(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "Probe.ipa").write_bytes(b"PK")
    write(tmp_path, "apps:\n  Probe:\n    path: lab/Probe.ipa\ndevices:\n" + VIRTUAL)
    monkeypatch.chdir(tmp_path / "lab")
    inventory = load_inventory("../devices.yaml")
    assert inventory.apps["Probe"].path == tmp_path / "lab" / "Probe.ipa"
    assert inventory.path == Path("../devices.yaml")
    assert str(load_error(Path("../missing.yaml"))).startswith("../missing.yaml: ")
    assert str(load_error(tmp_path / "lab" / "gone.yaml")).startswith("gone.yaml: ")


def test_an_app_folder_and_virtual_options(tmp_path: Path) -> None:
    (tmp_path / "Probe.app").mkdir()
    path = write(
        tmp_path,
        "apps:\n  Probe:\n    path: Probe.app\ndevices:\n"
        "  - name: a\n    backend: virtual\n    time_scale: 0.5\n",
    )
    inventory = load_inventory(path)
    assert inventory.apps["Probe"].kind == "app"
    assert inventory.devices[0].time_scale == 0.5
    assert inventory.devices[0].apps == ("Probe",)


def test_merge_keys_share_settings_and_own_keys_win(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
x-lab: &lab
  backend: ios
  tunnel: tunneld@lab-mac:49151
  tags: [lab]
devices:
  - <<: *lab
    name: a
    udid: 00008120-001A2B3C4D5E6F70
  - <<: *lab
    name: b
    udid: 00008120-001A2B3C4D5E6F71
    tags: [lab, slow]
""",
    )
    a, b = load_inventory(path).devices
    assert b.tunnel == a.tunnel == Address("lab-mac", 49151)
    assert (a.tags, b.tags) == (("lab",), ("lab", "slow"))
    assert (a.line, b.line) == (6, 9)


# --- select -----------------------------------------------------------------------------------


@pytest.fixture
def lab(tmp_path: Path) -> Inventory:
    return load_inventory(
        write(
            tmp_path,
            """\
devices:
  - {name: sim, backend: virtual, ios: "26.1", tags: [virtual, ci]}
  - {name: sim-slow, backend: virtual, tags: [virtual, slow], time_scale: 1}
  - {name: old, backend: ios, ios: "16.7", model: "iPhone14,5", udid: 00008110-000A1B2C3D4E5F60}
  - {name: new, backend: ios, ios: "17.10", tags: [slow], udid: 00008140-001A2B3C4D5E6F70,
     host: lab-mac-1}
""",
        )
    )


def names(devices: list[DeviceRecord]) -> list[str]:
    return [device.name for device in devices]


def test_select_by_name_keeps_the_order_given(lab: Inventory) -> None:
    assert names(lab.select()) == ["sim", "sim-slow", "old", "new"]
    assert names(lab.select(["new", "sim", "new"])) == ["new", "sim"]
    assert names(lab.select("old")) == ["old"]
    assert names(lab.select(["new", "sim"], "ios")) == ["new"]


def test_select_an_unknown_name_lists_the_known_ones(lab: Inventory) -> None:
    with pytest.raises(
        UsageError,
        match=r"no device named 'sm' in .*did you mean 'sim'\?; known: sim, sim-slow, old, new",
    ):
        lab.select(["sm"])


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("virtual and not slow", ["sim"]),
        ("slow", ["sim-slow", "new"]),
        ("ios", ["old", "new"]),
        ("sim or old", ["sim", "old"]),
        ('backend == "ios" and ios >= "17"', ["new"]),
        ("backend == ios and ios >= 17", ["new"]),
        ("ios < 17.4", ["old"]),
        ("ios > 17.9", ["sim", "new"]),
        ("ios == 16.7.0", ["old"]),
        ("ios != 26.1", ["old", "new"]),
        ("not (virtual or slow)", ["old"]),
        ("not not ci", ["sim"]),
        ("model == 'iPhone14,5'", ["old"]),
        ("name != sim and virtual", ["sim-slow"]),
        ("ci or slow and ios", ["sim", "new"]),
        ("nothing-has-this", []),
        ("host == lab-mac-1", ["new"]),
        ("host != lab-mac-1", []),
        ("", ["sim", "sim-slow", "old", "new"]),
        ("  ", ["sim", "sim-slow", "old", "new"]),
    ],
)
def test_select_by_filter(lab: Inventory, expr: str, expected: list[str]) -> None:
    assert names(lab.select(filter_expr=expr)) == expected


@pytest.mark.parametrize(
    ("expr", "column", "words"),
    [
        ("virtual and", 12, "got the end"),
        ("virtual slow", 9, "expected 'and', 'or' or the end, got 'slow'"),
        ("(virtual", 9, "expected ')', got the end"),
        ("(virtual ci)", 10, "expected ')', got 'ci'"),
        ("virtual)", 8, "got ')'"),
        ("tags == ci", 1, "'tags' cannot be compared"),
        ("backend >= ios", 9, "backend compares only with == and !="),
        ("ios >= seventeen", 8, 'ios compares with a version like "17"'),
        ("ios >=", 7, "expected a value after >=, got the end"),
        ('name == "sim', 9, "the closing quote is missing"),
        ("virtual && ci", 9, "unexpected '&'"),
        ("__import__('os')", 11, "expected 'and', 'or' or the end"),
    ],
)
def test_a_bad_filter_names_the_column(lab: Inventory, expr: str, column: int, words: str) -> None:
    with pytest.raises(UsageError) as caught:
        lab.select(filter_expr=expr)
    assert str(caught.value).startswith(f"device filter {expr!r}: column {column}: ")
    assert words in str(caught.value)
    assert not isinstance(caught.value, InventoryError)


def test_parse_filter_is_reusable(lab: Inventory) -> None:
    matches = parse_filter("virtual and ios >= 26")
    assert [device.name for device in lab.devices if matches(device)] == ["sim"]


def test_a_virtual_device_takes_a_stall_tolerance_range(tmp_path):
    path = tmp_path / "devices.yaml"
    path.write_text(
        "devices:\n  - name: a\n    backend: virtual\n    stall_tolerance_s: [20, 30.5]\n"
        "  - name: b\n    backend: virtual\n"
    )
    a, b = load_inventory(path).devices
    assert (a.stall_tolerance_s, b.stall_tolerance_s) == ((20.0, 30.5), None)
