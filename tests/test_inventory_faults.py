"""devices.yaml against hostile input: every file ends in an Inventory or one InventoryError
naming file:line:field, never a traceback or a hang (issue 14: explicit tags, 4,300-digit
numbers, deep nesting, `~nosuchuser/`, merge-key blowups, non-ASCII digits as ports)."""

from __future__ import annotations

import signal
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.core.errors import InventoryError
from harness.data.inventory import load_inventory
from tests.paths import PROBE_PLIST, ROOT

IOS = "    backend: ios\n    udid: 00008110-000A1B2C3D4E5F60\n"
VIRTUAL = "    backend: virtual\n"
FIXTURE = [HealthCheck.function_scoped_fixture]


def _merge_bomb(levels: int = 12) -> str:
    """Each level merges the one before nine times: 9**12 mappings if expanded."""
    text = "x-a: &m0 {name: a, backend: virtual}\n"
    for i in range(1, levels + 1):
        text += f"x-{i}: &m{i}\n  <<: [{', '.join([f'*m{i - 1}'] * 9)}]\n"
    return text + f"devices:\n  - <<: *m{levels}\n"


# name -> (devices.yaml, the words the one-line error must hold)
HOSTILE = {
    "float tag": (f"devices:\n  - name: a\n{VIRTUAL}    time_scale: !!float abc\n", "time_scale"),
    "int tag": (f"devices:\n  - name: a\n{VIRTUAL}    time_scale: !!int abc\n", "time_scale"),
    "bool tag": (f"devices:\n  - name: a\n{IOS}    unlock: !!bool maybe\n", "unlock"),
    "binary tag": ("devices:\n  - name: !!binary '!!!'\n    backend: virtual\n", "tagged !!binary"),
    "python tag": (
        "devices:\n  - name: !!python/object:os.system a\n    backend: virtual\n",
        "tag",
    ),
    "4400-digit time_scale": (
        f"devices:\n  - name: a\n{VIRTUAL}    time_scale: {'1' * 4400}\n",
        "(4400 characters)",
    ),
    "4400-digit port": (f"devices:\n  - name: a\n{IOS}    usbmux: h:{'1' * 4400}\n", "usbmux"),
    "4400-digit ios": (f"devices:\n  - name: a\n{VIRTUAL}    ios: '{'1' * 4400}'\n", "ios"),
    "superscript port": (f"devices:\n  - name: a\n{IOS}    usbmux: 10.0.0.5:²7\n", "usbmux"),
    "arabic-indic port": (f"devices:\n  - name: a\n{IOS}    usbmux: 10.0.0.5:٢٧٠١٥\n", "usbmux"),
    "arabic-indic tunneld port": (
        f"devices:\n  - name: a\n{IOS}    tunnel: 'tunneld@10.0.0.5:٣'\n",
        "tunnel",
    ),
    "deep flow": ("devices: " + "[" * 5000 + "]" * 5000 + "\n", "nested deeper"),
    "deep block": (
        "devices:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 3000)),
        "nested deeper",
    ),
    "~nosuchuser path": (
        f"apps:\n  A:\n    path: ~nosuchuser/{PROBE_PLIST.name}\ndevices:\n  - name: a\n{VIRTUAL}",
        "apps.A.path: cannot expand",
    ),
    "path too long": (
        f"apps:\n  A:\n    path: {'a' * 5000}.plist\ndevices:\n  - name: a\n{VIRTUAL}",
        "apps.A.path",
    ),
    "merge bomb": (_merge_bomb(), "merges (`<<`)"),
}


@contextmanager
def bounded(seconds: int = 60):
    """Turn a hang into a failure (a bound far above any real load time: not a speed test)."""

    def hung(*args):
        raise AssertionError(f"loading devices.yaml did not finish within {seconds} s")

    old = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _load(tmp_path: Path, text: str):
    file = tmp_path / "devices.yaml"
    file.write_text(text, encoding="utf-8", errors="surrogatepass")
    with bounded():
        return load_inventory(file)


@pytest.mark.parametrize(("text", "words"), HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_inventories_are_one_line_naming_the_field(tmp_path, text, words):
    with pytest.raises(InventoryError) as caught:
        _load(tmp_path, text)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 400, message
    assert message.startswith(f"{tmp_path / 'devices.yaml'}") and words in message


def test_a_broken_inventory_is_read_once_per_run(pytester):
    pytester.makefile(".yaml", devices="devices:\n  - name: a\n    backend: virtual\n    x: 1\n")
    pytester.makeini("[pytest]\nfilterwarnings = ignore::pytest.PytestAssertRewriteWarning\n")
    for i in range(3):
        pytester.makepyfile(**{f"test_{i}": "def test_a(bg):\n    pass\n"})
    pytester.makeconftest("""
        import atexit, harness.lab.lab as lab, harness.surfaces.pytest_plugin.plugin as plugin
        real, calls = lab.load_inventory, []
        def counted(*args):
            calls.append(args)
            return real(*args)
        lab.load_inventory = plugin.load_inventory = counted
        def pytest_unconfigure(config):
            print(f"LOADS {len(calls)}")
    """)
    result = pytester.runpytest("-m", "device")
    assert "devices.yaml:4: devices[0].x: unknown key" in result.stderr.str()
    assert "LOADS 1" in result.stdout.str()


# -- Fuzzing: mutations of the repository's own devices.yaml ------------------------------------

REAL = (
    (ROOT / "devices.yaml")
    .read_text()
    .replace("path: suites/apps/BGProbe/Info.plist", f"path: {PROBE_PLIST}")
)
_PIECES = [
    "!!float abc",
    "!!int x",
    "!!bool maybe",
    "!!binary AAAA",
    "!!python/name:os.system",
    "1" * 4400,
    "~nosuchuser/x.plist",
    "*undefined",
    "&a",
    "<<: *a",
    "[" * 300,
    "{",
    "٣",
    "²",
    "\x00",
    "\ufeff",
    "\t",
    ": ",
    "- ",
    "'",
    '"',
    "#",
    "%YAML 1.1",
    "---",
    "...",
    ".nan",
    "-.inf",
    "1e400",
    "0x10",
    "0o7",
    "null",
    "~",
    "yes",
    "no",
    "65536",
    "10.0.0.5:0",
]


@st.composite
def _mutated(draw) -> str:
    lines = REAL.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(lines) - 1))
        what = draw(st.integers(0, 3))
        if what == 0 and len(lines) > 1:
            del lines[at]
        elif what == 1:
            lines.insert(at, lines[draw(st.integers(0, len(lines) - 1))])
        else:
            piece = draw(st.sampled_from(_PIECES) | st.text(max_size=8))
            line = lines[at]
            cut = draw(st.integers(0, len(line)))
            lines[at] = line[:cut] + piece + line[cut:]
    return "".join(lines)


def _one_line_or_inventory(tmp_path: Path, text: str) -> None:
    try:
        inventory = _load(tmp_path, text)
    except InventoryError as exc:
        assert "\n" not in str(exc) and len(str(exc)) < 600, str(exc)
        return
    assert inventory.devices


@settings(deadline=None, max_examples=200, suppress_health_check=FIXTURE)
@given(text=_mutated())
@example(text=_merge_bomb())
@example(text=REAL.replace('    ios: "26.1"', "    ios: !!float 26.1"))
@example(text=REAL.replace("  - name: virtual-iphone", "  - name: virtual-iphone\n    <<: {}"))
def test_fuzz_inventories_end_in_records_or_one_line(tmp_path, text):
    _one_line_or_inventory(tmp_path, text)


@pytest.mark.fuzz_long
@settings(deadline=None, max_examples=5000, suppress_health_check=FIXTURE)
@given(text=_mutated() | st.text(max_size=300))
def test_fuzz_inventories_long(tmp_path, text):
    _one_line_or_inventory(tmp_path, text)
