"""`make bench`: run every tests/bench/bench_*.py and keep its figures in benchmarks.json.

Each module has `run() -> dict` returning its figures (numbers with their units in the key,
e.g. `lines_per_s`). Figures are merged by module name, so one benchmark can be rerun alone:
`python tests/bench/run.py bench_parse`. Speed is measured here, never asserted in tests.
"""

from __future__ import annotations

import importlib
import json
import platform
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parents[1] / "benchmarks.json"


def main(names: list[str]) -> int:
    sys.path.insert(0, str(HERE))
    names = names or sorted(p.stem for p in HERE.glob("bench_*.py"))
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in names:
        print(f"== {name}", flush=True)
        figures = importlib.import_module(name).run()
        if "skipped" in figures and name in results:
            print(f"{name} skipped ({figures['skipped']}); keeping the figures measured before")
            continue
        figures["measured"] = time.strftime("%Y-%m-%d %H:%M:%S")
        figures["machine"] = (
            f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}"
        )
        results[name] = figures
        print(json.dumps(figures, indent=2), flush=True)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"figures written to {RESULTS.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
