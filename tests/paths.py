"""Files of this repository the tests use."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE_PLIST = ROOT / "suites/apps/BGProbe/Info.plist"
