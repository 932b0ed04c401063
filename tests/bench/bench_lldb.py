"""The debugger bridge's cost: attach → evaluate → detach with the real lldb, 20 times.

Against the C stand-in (tests/fixtures/bgh_fixture.c) on this host, attached by pid: what one
`bg.trigger` pays for lldb itself (start, attach, one call, detach, quit), before any tunnel or
phone. Skipped, with the reason, where lldb or a C compiler is missing.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repo, for tests.fixtures

from harness.device.lldb import LldbBridge, lldb_command
from tests.fixtures import native

RUNS = 20


def run() -> dict:
    reason = native.missing()
    if reason:
        return {"skipped": reason}
    version = subprocess.run(
        [*lldb_command(), "--version"], capture_output=True, text=True, timeout=30
    ).stdout.splitlines()[0]
    with tempfile.TemporaryDirectory() as folder:
        program = native.FixtureProgram(native.build(Path(folder)), Path(folder) / "fixture.log")
        try:
            bridge = LldbBridge(None, platform=None, device="host")
            times = []
            steps: dict[str, list[float]] = {}
            for _ in range(RUNS):
                started = time.perf_counter()
                with bridge.attach(program.pid) as session:
                    session.evaluate("expr -- (void)bgh_fixture_ping()")
                times.append(time.perf_counter() - started)
                for step, seconds in session.timings:
                    steps.setdefault(step.value.replace(" ", "_"), []).append(seconds)
            pings = program.pings()
        finally:
            program.stop()
    if pings != RUNS:
        raise RuntimeError(f"the program logged {pings} calls for {RUNS} runs")
    return {
        "lldb": version,
        "runs": RUNS,
        "attach_evaluate_detach_median_s": round(statistics.median(times), 4),
        "attach_evaluate_detach_min_s": round(min(times), 4),
        "attach_evaluate_detach_max_s": round(max(times), 4),
        # Where the time goes, per step lldb answered (summed when a step runs twice).
        "median_by_step_s": {
            name: round(statistics.median(values) * len(values) / RUNS, 4)
            for name, values in steps.items()
        },
    }
