"""ProbeKit and the iOS shell, built and tested with the Swift toolchain (swift build, swift test).

Skipped, with the reason, where there is no `swift`; CI sets BGHARNESS_REQUIRE_SWIFT=1 so a
missing toolchain fails instead (as BGHARNESS_REQUIRE_LLDB does for lldb). The shell type-checks
against StandIns/, our reading of Apple's headers, not the SDK.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.paths import ROOT

APP = ROOT / "suites/apps/BGProbe"
SWIFT = shutil.which("swift") or next(
    (str(p) for p in [Path("/opt/swift/usr/bin/swift")] if p.exists()), None
)


def _swift_or_skip() -> str:
    if SWIFT is None:
        reason = "no Swift toolchain (swift not on PATH nor /opt/swift): ProbeKit not built"
        if os.environ.get("BGHARNESS_REQUIRE_SWIFT"):
            pytest.fail(reason + "; BGHARNESS_REQUIRE_SWIFT is set")
        pytest.skip(reason)
    return SWIFT


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=APP, capture_output=True, text=True, timeout=1800)


@pytest.fixture(scope="module")
def built() -> Path:
    swift = _swift_or_skip()
    done = _run(swift, "build")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return Path(swift)


def test_probekit_and_the_shell_build(built):
    assert (APP / ".build/debug/Modules/BGProbeShell.swiftmodule").exists()


def test_probekits_xctest_passes_every_fixture(built):
    done = _run(str(built), "test")
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-6000:]
    assert "ConformanceTests.testEveryFixture' passed" in out


@pytest.mark.parametrize(("name", "fails"), [("RightCall", False), ("WrongCall", True)])
def test_a_wrong_call_against_the_headers_does_not_compile(built, name, fails):
    swiftc = built.with_name("swiftc")
    done = _run(
        str(swiftc), "-typecheck", "-I", ".build/debug/Modules", f"NegativeCompile/{name}.swift"
    )
    assert (done.returncode != 0) == fails, done.stderr[-3000:]
    if fails:
        assert "has no member 'submitTaskRequest'" in done.stderr
        assert "cannot convert value of type '(String) -> ()'" in done.stderr


@pytest.mark.skipif(shutil.which("xcodebuild") is not None, reason="this machine has Xcode")
def test_make_probe_says_it_needs_xcode():
    done = subprocess.run(["make", "-s", "probe"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode != 0
    assert "make probe needs a Mac with Xcode (xcodebuild not found)" in done.stdout + done.stderr
