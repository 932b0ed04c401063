"""harness.data.appbundle: reading .ipa/.app/Info.plist, iOS's identifier rules, deterministic .ipa.

Packaging choice tested here: `content_hash` covers the files of the .app (paths relative to the
.app root, plus bytes), so an .ipa and the same .app unzipped compare equal, and re-zipping with
other timestamps or compression changes nothing. A bare Info.plist hashes just its bytes, so it
differs from the .ipa assembled from it in `content_hash` only.
"""

from __future__ import annotations

import dataclasses
import os
import plistlib
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.core.errors import AppError
from harness.data.appbundle import AppInfo, assemble_ipa, read_app

PROBE_DIR = Path(__file__).resolve().parent.parent / "suites" / "apps" / "BGProbe"
PROBE_PLIST = PROBE_DIR / "Info.plist"
PROBE_IDS = (
    "dev.bgharness.probe.refresh",
    "dev.bgharness.probe.refresh.alt",
    "dev.bgharness.probe.processing",
    "dev.bgharness.probe.processing.net",
    "dev.bgharness.probe.continued.*",
)


def write_plist(path: Path, fmt: plistlib.PlistFormat = plistlib.FMT_XML, **keys: Any) -> Path:
    """A small valid Info.plist with `keys` overriding (None removes a key)."""
    plist: dict[str, Any] = {
        "CFBundleIdentifier": "com.x",
        "CFBundleExecutable": "X",
        "CFBundleShortVersionString": "2.1",
        "CFBundleVersion": "7",
        "MinimumOSVersion": "26.0",
    }
    plist.update(keys)
    plist = {k: v for k, v in plist.items() if v is not None}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(plistlib.dumps(plist, fmt=fmt))
    return path


def write_zip(path: Path, members: dict[str, bytes], **zip_args: Any) -> Path:
    with zipfile.ZipFile(path, "w", **zip_args) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def without_hash(info: AppInfo) -> AppInfo:
    return dataclasses.replace(info, content_hash="")


# --- the probe app's Info.plist ----------------------------------------------------------------


def test_probe_plist_reads_as_shipped() -> None:
    info = read_app(PROBE_PLIST)
    assert info.bundle_id == "dev.bgharness.probe"
    assert info.executable == "BGProbe"
    assert (info.version, info.build, info.min_os) == ("1.0", "1", "17.0")
    assert info.permitted_identifiers == PROBE_IDS
    assert info.background_modes == {"fetch", "processing"}
    assert info.plist["CFBundleDisplayName"] == "BG Probe"
    assert info.plist["UIDeviceFamily"] == [1]
    assert info.invalid_identifier_entries() == []
    assert info.content_hash == read_app(PROBE_PLIST).content_hash
    assert len(info.content_hash) == 64


def test_probe_plist_permits_its_tasks() -> None:
    info = read_app(PROBE_PLIST)
    for concrete in PROBE_IDS[:-1]:
        assert info.permits(concrete)
    assert info.permits("dev.bgharness.probe.continued.6F1C2A9E-3B7D-4E55-9A0B-1D2C3E4F5A6B")
    assert not info.permits("dev.bgharness.probe.continued.*")
    assert not info.permits("dev.bgharness.probe.unknown")


def test_folder_holding_info_plist_reads_like_the_plist() -> None:
    assert read_app(PROBE_DIR) == read_app(PROBE_PLIST)


def test_plist_mapping_is_read_only_and_info_hashable() -> None:
    info = read_app(PROBE_PLIST)
    with pytest.raises(TypeError):
        info.plist["CFBundleIdentifier"] = "other"  # type: ignore[index]
    assert hash(info) == hash(read_app(PROBE_PLIST))
    assert "plist=" not in repr(info)


# --- assembling and reading .ipa / .app --------------------------------------------------------


def test_assembled_ipa_reads_back(tmp_path: Path) -> None:
    ipa = assemble_ipa(PROBE_PLIST, tmp_path / "out")
    assert ipa == tmp_path / "out" / "BGProbe.ipa"
    with zipfile.ZipFile(ipa) as zf:
        assert zf.namelist() == [
            "Payload/",
            "Payload/BGProbe.app/",
            "Payload/BGProbe.app/BGProbe",
            "Payload/BGProbe.app/Info.plist",
        ]
        assert zf.read("Payload/BGProbe.app/Info.plist") == PROBE_PLIST.read_bytes()
    from_ipa, from_plist = read_app(ipa), read_app(PROBE_PLIST)
    assert without_hash(from_ipa) == without_hash(from_plist)
    assert from_ipa.content_hash != from_plist.content_hash


def test_assembly_is_byte_identical_and_reused(tmp_path: Path) -> None:
    first = assemble_ipa(PROBE_PLIST, tmp_path / "a")
    second = assemble_ipa(PROBE_PLIST, tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()
    assert read_app(first).content_hash == read_app(second).content_hash
    os.utime(first, ns=(1_000_000_000, 1_000_000_000))
    assert assemble_ipa(PROBE_PLIST, tmp_path / "a") == first
    assert first.stat().st_mtime_ns == 1_000_000_000  # identical file left alone
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["BGProbe.ipa"]


def test_assembly_replaces_a_different_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    old = assemble_ipa(write_plist(tmp_path / "v1" / "Info.plist"), out)
    new = assemble_ipa(write_plist(tmp_path / "v2" / "Info.plist", CFBundleVersion="8"), out)
    assert new == old == out / "X.ipa"
    assert read_app(new).build == "8"
    assert sorted(p.name for p in out.iterdir()) == ["X.ipa"]  # no temp file left behind


def test_ipa_equals_the_same_app_unzipped(tmp_path: Path) -> None:
    ipa = assemble_ipa(PROBE_PLIST, tmp_path)
    with zipfile.ZipFile(ipa) as zf:
        zf.extractall(tmp_path / "x")
    assert read_app(tmp_path / "x" / "Payload" / "BGProbe.app") == read_app(ipa)


def test_rezipping_the_same_content_keeps_the_hash(tmp_path: Path) -> None:
    ipa = assemble_ipa(PROBE_PLIST, tmp_path)
    with zipfile.ZipFile(ipa) as zf:
        members = {n: zf.read(n) for n in zf.namelist() if not n.endswith("/")}
    rezipped = tmp_path / "re.ipa"
    with zipfile.ZipFile(rezipped, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in reversed(members):  # other order, timestamps and compression
            zf.writestr(zipfile.ZipInfo(name, date_time=(2024, 5, 6, 7, 8, 10)), members[name])
        zf.writestr("iTunesMetadata.plist", b"outside the app")
    assert read_app(rezipped) == read_app(ipa)
    changed = dict(members, **{"Payload/BGProbe.app/BGProbe": b"\xcf\xfa\xed\xfe"})
    assert read_app(write_zip(tmp_path / "c.ipa", changed)).content_hash != (
        read_app(ipa).content_hash
    )


def test_app_folder_hash_covers_every_file(tmp_path: Path) -> None:
    app = tmp_path / "X.app"
    write_plist(app / "Info.plist")
    before = read_app(app).content_hash
    (app / "Frameworks").mkdir()
    (app / "Frameworks" / "lib.dylib").write_bytes(b"code")
    assert read_app(app).content_hash != before


def test_binary_plist_reads_like_xml(tmp_path: Path) -> None:
    xml = read_app(write_plist(tmp_path / "xml" / "Info.plist"))
    binary = read_app(write_plist(tmp_path / "bin" / "Info.plist", fmt=plistlib.FMT_BINARY))
    assert without_hash(binary) == without_hash(xml)
    probe = plistlib.loads(PROBE_PLIST.read_bytes())
    app = tmp_path / "BGProbe.app"
    app.mkdir()
    (app / "Info.plist").write_bytes(plistlib.dumps(probe, fmt=plistlib.FMT_BINARY))
    assert without_hash(read_app(app)) == without_hash(read_app(PROBE_PLIST))


def test_missing_optional_keys_read_as_empty(tmp_path: Path) -> None:
    info = read_app(
        write_plist(
            tmp_path / "Info.plist",
            CFBundleExecutable=None,
            CFBundleShortVersionString=None,
            CFBundleVersion=None,
            MinimumOSVersion=None,
        )
    )
    assert (info.executable, info.version, info.build, info.min_os) == ("", "", "", "")
    assert info.permitted_identifiers == ()
    assert info.background_modes == frozenset()
    assert not info.permits("com.x.refresh")


# --- iOS's identifier rules --------------------------------------------------------------------

EDGE_128 = "com.x.edge." + "e" * (128 - len("com.x.edge."))
LONG_129 = "com.x.long." + "l" * (129 - len("com.x.long.") - 2) + ".*"
ENTRIES = [
    "com.x.refresh",
    "com.x.export.*",
    "com.x.bad.*.more",
    "com.x.two.*.*",
    "org.other.job.*",
    "com.x*",  # contains '*' but not '.*': an ordinary exact entry
    EDGE_128,
    LONG_129,
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> AppInfo:
    path = tmp_path_factory.mktemp("rules") / "Info.plist"
    return read_app(write_plist(path, BGTaskSchedulerPermittedIdentifiers=ENTRIES))


@pytest.mark.parametrize(
    ("identifier", "permitted"),
    [
        ("com.x.refresh", True),  # exact
        ("com.x.Refresh", False),  # case matters
        ("com.x.refresh.more", False),  # an exact entry is no prefix
        ("com.x.export.6F1C", True),  # wildcard
        ("com.x.export.a.b", True),  # the remainder may hold dots
        ("com.x.export.", False),  # empty remainder
        ("com.x.export", False),  # prefix without the dot
        ("com.x.exportfoo", False),  # prefix without the dot
        ("com.x.export.*", False),  # the wildcard itself is no concrete id
        ("com.x.export.a.*", False),  # nor is any wildcard form
        ("com.x.bad.*.more", False),  # dropped entry: not even exact
        ("com.x.bad.1", False),
        ("com.x.two.1", False),
        ("org.other.job.1", False),  # wildcard for another bundle id is dropped
        ("com.x*", True),
        (EDGE_128, True),  # 128 is still allowed
        ("com.x.export." + "a" * (128 - len("com.x.export.")), True),
        ("com.x.export." + "a" * (129 - len("com.x.export.")), False),  # 129 is not
        (LONG_129, False),
        ("com.x.long.1", False),
        ("", False),
    ],
)
def test_permits(app: AppInfo, identifier: str, permitted: bool) -> None:
    assert app.permits(identifier) is permitted


@pytest.mark.parametrize(
    ("entry", "why"),
    [
        ("com.x.refresh", None),
        ("com.x.export.*", None),
        ("com.x.*", None),  # <bundleID>.* with no context is valid
        ("com.xy.*", None),  # iOS checks a plain string prefix, so this is kept
        ("com.x*", None),
        (EDGE_128, None),
        ("com.x.bad.*.more", "must end with '.*'"),
        ("com.x.two.*.*", "only once"),
        ("org.other.job.*", "must start with the bundle id com.x"),
        (LONG_129, "129 characters"),
        ("com.x.é" + "e" * 121, None),  # 128 UTF-16 units
        ("com.x.😀" + "e" * 121, "129 characters"),  # an emoji is two UTF-16 units
    ],
)
def test_invalid_identifier_entries(tmp_path: Path, entry: str, why: str | None) -> None:
    info = read_app(
        write_plist(tmp_path / "Info.plist", BGTaskSchedulerPermittedIdentifiers=[entry])
    )
    found = info.invalid_identifier_entries()
    if why is None:
        assert found == []
    else:
        assert [e for e, _ in found] == [entry]
        assert why in found[0][1]


def test_invalid_entries_keep_plist_order(app: AppInfo) -> None:
    assert [e for e, _ in app.invalid_identifier_entries()] == [
        "com.x.bad.*.more",
        "com.x.two.*.*",
        "org.other.job.*",
        LONG_129,
    ]


# --- every problem is an AppError naming the path ---------------------------------------------


def _not_found(tmp: Path) -> Path:
    return tmp / "nowhere.ipa"


def _not_a_zip(tmp: Path) -> Path:
    (tmp / "a.ipa").write_bytes(b"hello")
    return tmp / "a.ipa"


def _truncated_zip(tmp: Path) -> Path:
    good = assemble_ipa(write_plist(tmp / "src" / "Info.plist"), tmp / "src")
    (tmp / "t.ipa").write_bytes(good.read_bytes()[:-30])
    return tmp / "t.ipa"


def _no_payload(tmp: Path) -> Path:
    return write_zip(tmp / "a.ipa", {"X.app/Info.plist": b"", "Payload/readme.txt": b""})


def _two_apps(tmp: Path) -> Path:
    plist = plistlib.dumps({"CFBundleIdentifier": "com.x"})
    members = {"Payload/A.app/Info.plist": plist, "Payload/B.app/Info.plist": plist}
    return write_zip(tmp / "a.ipa", members)


def _ipa_without_plist(tmp: Path) -> Path:
    return write_zip(tmp / "a.ipa", {"Payload/A.app/A": b""})


def _ipa_bad_plist(tmp: Path) -> Path:
    return write_zip(tmp / "a.ipa", {"Payload/A.app/Info.plist": b"<plist><dict><key>"})


def _app_without_plist(tmp: Path) -> Path:
    (tmp / "A.app").mkdir()
    (tmp / "A.app" / "A").write_bytes(b"")
    return tmp / "A.app"


def _folder_without_plist(tmp: Path) -> Path:
    (tmp / "stuff").mkdir()
    return tmp / "stuff"


def _bad_plist(tmp: Path) -> Path:
    (tmp / "Info.plist").write_bytes(b"bplist00 broken")
    return tmp / "Info.plist"


def _plist_array(tmp: Path) -> Path:
    (tmp / "Info.plist").write_bytes(plistlib.dumps(["com.x"]))
    return tmp / "Info.plist"


def _no_bundle_id(tmp: Path) -> Path:
    return write_plist(tmp / "Info.plist", CFBundleIdentifier=None)


def _ids_not_array(tmp: Path) -> Path:
    return write_plist(tmp / "Info.plist", BGTaskSchedulerPermittedIdentifiers="com.x.refresh")


def _modes_not_strings(tmp: Path) -> Path:
    return write_plist(tmp / "Info.plist", UIBackgroundModes=["fetch", 1])


def _version_not_string(tmp: Path) -> Path:
    return write_plist(tmp / "Info.plist", CFBundleVersion=7)


def _unexpanded(tmp: Path) -> Path:
    return write_plist(tmp / "Info.plist", CFBundleIdentifier="$(PRODUCT_BUNDLE_IDENTIFIER)")


@pytest.mark.parametrize(
    ("make", "fragment"),
    [
        (_not_found, "not found"),
        (_not_a_zip, "not a readable zip"),
        (_truncated_zip, "not a readable zip"),
        (_no_payload, "no Payload/<Name>.app/"),
        (_two_apps, "A.app, B.app"),
        (_ipa_without_plist, "missing Payload/A.app/Info.plist"),
        (_ipa_bad_plist, "Payload/A.app/Info.plist is not a valid plist"),
        (_app_without_plist, "missing Info.plist"),
        (_folder_without_plist, "no Info.plist in this folder"),
        (_bad_plist, "not a valid plist"),
        (_plist_array, "not a dictionary"),
        (_no_bundle_id, "no CFBundleIdentifier"),
        (_ids_not_array, "BGTaskSchedulerPermittedIdentifiers is not an array of strings"),
        (_modes_not_strings, "UIBackgroundModes is not an array of strings"),
        (_version_not_string, "CFBundleVersion is not a string (7)"),
        (_unexpanded, "unexpanded build setting"),
    ],
)
def test_read_errors_name_the_path(
    tmp_path: Path, make: Callable[[Path], Path], fragment: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(AppError) as raised:
        read_app(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: ")
    assert fragment in message
    assert "; " in message  # the fix follows the problem


@pytest.mark.parametrize("executable", [None, "", "..", "a/b"])
def test_assemble_refuses_a_bad_executable(tmp_path: Path, executable: str | None) -> None:
    plist = write_plist(tmp_path / "Info.plist", CFBundleExecutable=executable)
    with pytest.raises(AppError, match="CFBundleExecutable") as raised:
        assemble_ipa(plist, tmp_path / "out")
    assert str(raised.value).startswith(f"{plist}: ")


def test_assemble_refuses_a_bad_plist(tmp_path: Path) -> None:
    with pytest.raises(AppError, match="not found"):
        assemble_ipa(tmp_path / "missing" / "Info.plist", tmp_path / "out")
    with pytest.raises(AppError, match="no CFBundleIdentifier"):
        assemble_ipa(write_plist(tmp_path / "Info.plist", CFBundleIdentifier=None), tmp_path)
