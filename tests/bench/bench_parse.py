"""`bgharness parse --count` over a million-line device log, against grep and a device's pace.

Two logs in `pymobiledevice3 syslog live --label` format are generated into a temporary folder:
one of realistic noise from many processes (tests/data/noise.py) with about 3 % relevant lines
(framework, dasd, probe, RunningBoard, SpringBoard and kernel records, some over several
lines), and one where every line is relevant. Each is counted in process through the CLI's own
code path (file read → count), best of a few runs, timed in CPU seconds of this process (one
core; other work on the machine does not count) and in wall seconds. `grep -E -c` with the
parser's trigger literals times the same scan in C. `parse_entry` on single records gives the
live path's cost per record, set against a busy iPhone's log rate.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from harness import logparse  # noqa: E402
from harness.core.events import LogEntry  # noqa: E402
from harness.core.logparse import TRIGGERS, parse_entry, parse_lines  # noqa: E402
from harness.surfaces.cli import main  # noqa: E402
from tests.data import noise  # noqa: E402

LINES = 1_000_000
RELEVANT_SHARE = 0.03
RUNS = 3
BUSY_IPHONE_LINES_PER_S = 10_000  # a phone launching apps logs some thousands of lines a second
T0 = 1_767_603_600.0  # 2026-01-05 09:00:00 UTC
UUID = "3A0000C6-D07E-F7B7-7E90-D3593AD699FC"

FRAMEWORK = ("BGProbe", 412, "com.apple.BackgroundTasks", "Framework", "BackgroundTasks")
DAS_CLIENT = ("BGProbe", 412, "com.apple.duetactivityscheduler", "client", "DuetActivityScheduler")
DASD = ("dasd", 97, "com.apple.duetactivityscheduler", "lifecycle", "DuetActivityScheduler")
PROBE = ("BGProbe", 412, "dev.bgharness.probe", "lifecycle", "BGProbe.debug.dylib")
RUNNINGBOARD = ("runningboardd", 31, "com.apple.runningboard", "ttl", "RunningBoard")
SPRINGBOARD = ("SpringBoard", 34, "com.apple.FrontBoard", "Process", "FrontBoard")
KERNEL = ("kernel", 0, "com.apple.xnu", "memorystatus", "kernel")


def relevant_record(rng: random.Random) -> tuple[tuple[str, int, str, str, str], str]:
    """A record iOS or the probe writes about a task: its sender and message."""
    kind = rng.choice(("refresh", "db", "export"))
    task = f"dev.bgharness.probe.{kind}{rng.randrange(50)}"
    cls = {"refresh": "BGAppRefreshTask", "db": "BGProcessingTask"}.get(kind, "BGAppRefreshTask")
    prefix = "bgProcessing" if kind == "db" else "bgRefresh"
    activity = f"{prefix}-{task}:{rng.randrange(1 << 24):06X}"
    app = f"[app<dev.bgharness.probe({UUID})>:{rng.randrange(400, 900)}]"
    group = "...Tasks running in group [com.apple.dasd.default] are 1!"
    progress = f'"completed": {rng.randrange(10)}, "event": "task.progress", "task": "{task}"'
    launched = f'"event": "task.launched", "simulated": false, "task": "{task}"'
    forms = (
        (FRAMEWORK, f"registerForTaskWithIdentifier: {task}"),
        (FRAMEWORK, f"submitTaskRequest: <{cls}Request: {task}, earliestBeginDate: (null)>"),
        (DASD, f"SUBMITTED: {activity} at priority 10"),
        (DAS_CLIENT, f"Handling launch from daemon for activities: {{(\n    {activity}\n)}}"),
        (FRAMEWORK, f"Running task: <{cls}: {task}>"),
        (FRAMEWORK, f"Starting task: <{cls}: {task}>"),
        (FRAMEWORK, f"Simulating launch for task with identifier {task}"),
        (FRAMEWORK, f"Marking task <{cls}: {task}> complete with success: {rng.randrange(2)}"),
        (FRAMEWORK, f"Expiring task: <{cls}: {task}>"),
        (DASD, f"NO LONGER RUNNING {activity} {group}"),
        (DASD, f"CANCELED: {activity} at priority 10"),
        (PROBE, f'bgprobe {{{progress}, "total": 10}}'),
        (PROBE, f'bgprobe {{{launched}, "type": "{kind}"}}'),
        (RUNNINGBOARD, f"{app} Suspending task."),
        (RUNNINGBOARD, f"{app} Resuming task."),
        (SPRINGBOARD, 'SBWorkspaceTerminateApplication: com.x.app: "killed from app switcher"'),
        (KERNEL, f"memorystatus: killing_top_process pid {rng.randrange(400, 900)} [BGProbe]"),
    )  # fmt: skip
    return rng.choice(forms)


def syslog_line(when: float, sender: tuple[str, int, str, str, str], message: str) -> str:
    process, pid, subsystem, category, image = sender
    return LogEntry(when, process, pid, message, subsystem, category, "NOTICE", image).syslog_line()


def write_log(path: Path, relevant_share: float, rng: random.Random) -> dict[str, int]:
    """A LINES-line log. Noise comes from a pool, so writing does not take minutes (the fast
    path never reads it); every relevant record is drawn afresh, so its messages repeat only
    as much as a phone's do (the parser remembers what it found in a message).
    """
    stamp_length = len("2026-01-05 09:00:00.000000")
    noise_pool = []
    for _ in range(20_000):
        sender = noise.noise_sender(rng)
        pid = 97 if sender.process == "dasd" else rng.randrange(30, 999)
        line = syslog_line(T0, (sender.process, pid, sender.subsystem, sender.category,
                                sender.image), noise.noise_message(rng))  # fmt: skip
        noise_pool.append(line[stamp_length:])
    lines = relevant = records = 0
    with path.open("w", encoding="utf-8") as out:
        while lines < LINES:
            micro = lines * 997  # about a thousand records a second
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(T0 + micro // 1_000_000))
            if rng.random() < relevant_share:
                record = syslog_line(T0, *relevant_record(rng))[stamp_length:]
                relevant += record.count("\n") + 1
                records += 1
            else:
                record = rng.choice(noise_pool)
            out.write(f"{stamp}.{micro % 1_000_000:06d}{record}\n")
            lines += record.count("\n") + 1
    return {"lines": lines, "relevant_lines": relevant, "relevant_records": records}


def cpu_and_wall(run: Callable[[], Any]) -> tuple[float, float, Any]:
    """The best CPU and wall seconds of RUNS runs of `run`, and what it returned."""
    cpu = wall = float("inf")
    result = None
    for _ in range(RUNS):
        started_cpu, started_wall = time.process_time(), time.perf_counter()
        result = run()
        cpu = min(cpu, time.process_time() - started_cpu)
        wall = min(wall, time.perf_counter() - started_wall)
    return cpu, wall, result


def count(path: Path) -> int:
    """`bgharness parse PATH --count`, in process: the CLI's whole path, file read to count.

    Each run starts as a fresh process would, remembering nothing from the run before.
    """
    logparse.recognise._COUNTED.clear()
    logparse.containers._SECONDS.clear()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["parse", str(path), "--count"]) == 0
    return int(out.getvalue())


def grep_pattern() -> str:
    """The parser's trigger literals as one POSIX extended regex."""
    return "|".join(re.sub(r"([.\[\]()*+?{}|^$\\])", r"\\\1", t) for t in TRIGGERS)


def grep_count(path: Path) -> tuple[float, float, int]:
    """`grep -E -c` with the triggers: best CPU (of grep) and wall seconds, matching lines."""
    cpu = wall = float("inf")
    matched = 0
    for _ in range(RUNS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        done = subprocess.run(
            ["grep", "-E", "-c", "-e", grep_pattern(), str(path)],
            capture_output=True,
            text=True,
            env={**os.environ, "LC_ALL": "C"},
            check=False,
        )
        wall = min(wall, time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = min(cpu, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        matched = int(done.stdout.strip() or 0)
    return cpu, wall, matched


def per_entry_us(entries: list[LogEntry]) -> float:
    """parse_entry's cost per record in microseconds, best of RUNS passes."""
    cpu, _, _ = cpu_and_wall(lambda: [parse_entry(entry) for entry in entries])
    return cpu / len(entries) * 1e6


def live_figures(rng: random.Random) -> dict[str, float]:
    noise_entries = []
    for _ in range(50_000):
        sender = noise.noise_sender(rng)
        message = noise.noise_message(rng)
        noise_entries.append(
            LogEntry(T0, sender.process, 100, message, sender.subsystem, sender.category,
                     image=sender.image)
        )  # fmt: skip
    relevant_entries = [
        LogEntry(T0, s[0], s[1], message, s[2], s[3], image=s[4])
        for s, message in (relevant_record(rng) for _ in range(20_000))
    ]
    noise_us, relevant_us = per_entry_us(noise_entries), per_entry_us(relevant_entries)
    per_s = 1e6 / noise_us
    return {
        "live_parse_entry_noise_us": round(noise_us, 2),
        "live_parse_entry_relevant_us": round(relevant_us, 2),
        "live_entries_per_s": round(per_s),
        "live_busy_iphone_lines_per_s": BUSY_IPHONE_LINES_PER_S,
        "live_headroom_x": round(per_s / BUSY_IPHONE_LINES_PER_S, 1),
    }


def line_path_per_s(path: Path, lines: int = 200_000) -> float:
    """The line-by-line path (`parse_lines`) on the first `lines` lines, for comparison."""
    with path.open(encoding="utf-8") as log:
        head = [next(log) for _ in range(lines)]
    cpu, _, _ = cpu_and_wall(lambda: sum(1 for _ in parse_lines(head)))
    return lines / cpu


def table_figures(relevant: Path, head: Path, lines: int = 200_000) -> dict[str, Any]:
    """`bgharness parse FILE` (the table) on the first `lines` lines of the all-relevant log:
    events a second and the peak memory of the process, which a streaming table keeps flat.
    """
    with relevant.open(encoding="utf-8") as log, head.open("w", encoding="utf-8") as out:
        out.writelines(next(log) for _ in range(lines))
    bgharness = Path(sys.executable).parent / "bgharness"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [str(bgharness), "parse", str(head)], capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    events = int(done.stdout.rsplit("\n", 2)[-2].split()[0])
    return {
        "table_events": events,
        "table_wall_s": round(wall, 3),
        "table_events_per_s": round(events / wall),
        "table_peak_rss_kb": max(before.ru_maxrss, after.ru_maxrss),
    }


def run() -> dict[str, Any]:
    rng = random.Random(20260105)
    figures: dict[str, Any] = {"load_average_1m": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as folder:
        mixed, relevant = Path(folder, "mixed.log"), Path(folder, "relevant.log")
        shape = write_log(mixed, RELEVANT_SHARE, rng)
        every = write_log(relevant, 1.0, rng)
        cpu, wall, found = cpu_and_wall(lambda: count(mixed))
        figures |= {
            "mixed_lines": shape["lines"],
            "mixed_bytes": mixed.stat().st_size,
            "mixed_relevant_lines": shape["relevant_lines"],
            "mixed_events": found,
            "mixed_cpu_s": round(cpu, 3),
            "mixed_wall_s": round(wall, 3),
            "mixed_lines_per_s": round(shape["lines"] / cpu),
            "mixed_lines_per_s_wall": round(shape["lines"] / wall),
        }
        cpu, wall, found = cpu_and_wall(lambda: count(relevant))
        figures |= {
            "all_relevant_lines": every["lines"],
            "all_relevant_events": found,
            "all_relevant_cpu_s": round(cpu, 3),
            "all_relevant_wall_s": round(wall, 3),
            "all_relevant_lines_per_s": round(every["lines"] / cpu),
            "all_relevant_lines_per_s_wall": round(every["lines"] / wall),
        }
        if shutil.which("grep"):
            grep_cpu, grep_wall, matched = grep_count(mixed)
            figures |= {
                "grep_mixed_cpu_s": round(grep_cpu, 3),
                "grep_mixed_wall_s": round(grep_wall, 3),
                "grep_mixed_matching_lines": matched,
                "parse_to_grep_cpu_ratio": round(figures["mixed_cpu_s"] / grep_cpu, 2),
                "parse_to_grep_wall_ratio": round(figures["mixed_wall_s"] / grep_wall, 2),
                "grep_triggers": len(TRIGGERS),
            }
        figures["line_path_mixed_lines_per_s"] = round(line_path_per_s(mixed))
        figures |= table_figures(relevant, Path(folder, "table.log"))
    figures |= live_figures(rng)
    figures["target_mixed_lines_per_s"] = 1_000_000
    figures["target_all_relevant_lines_per_s"] = 200_000
    return figures


if __name__ == "__main__":
    print(run())
