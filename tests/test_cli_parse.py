"""`bgharness parse`: a log file, standard input or a live device in; events, or a count, out."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.core.events import KINDS, LogEntry
from harness.data.plan import PLAN_ENV, build_plan
from harness.lab.lab import Lab
from harness.surfaces.cli import main
from harness.surfaces.cli import parse as parse_cli

ROOT = Path(__file__).resolve().parents[1]
T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC).timestamp()
FRAMEWORK = {"subsystem": "com.apple.BackgroundTasks", "category": "Framework"}
DASD = {"subsystem": "com.apple.duetactivityscheduler", "category": "lifecycle"}
LOG = "\n".join(
    [
        LogEntry(T0, "BGProbe", 412, "submitTaskRequest: <BGAppRefreshTaskRequest: "
                 "com.x.refresh, earliestBeginDate: (null)>", **FRAMEWORK).syslog_line(),
        LogEntry(T0 + 1, "locationd", 80, "noise that is no event").syslog_line(),
        LogEntry(T0 + 1.5, "dasd", 97, "Submitted: bgProcessing-com.x.db:0A1B2C at priority 10",
                 **DASD).syslog_line(),
        LogEntry(T0 + 2, "BGProbe", 412, "Starting simulated task: <BGAppRefreshTask: "
                 "com.x.refresh>", **FRAMEWORK).syslog_line(),
        LogEntry(T0 + 3, "BGProbe", 412, "Marking simulated task complete: <BGAppRefreshTask: "
                 "com.x.refresh>", **FRAMEWORK).syslog_line(),
    ]
) + "\n"  # fmt: skip
KINDS_IN_LOG = ["task.submitted", "task.submitted", "task.launched", "task.completed"]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "device.log"
    path.write_text(LOG, encoding="utf-8")
    return path


def jsonl(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def test_the_table_lists_the_events(log: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", str(log)]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if "task." in line]
    assert [next(kind for kind in KINDS if kind in row) for row in rows] == KINDS_IN_LOG
    assert "2026-01-05 09:00:02.000" in rows[2]
    assert "4 events" in out


def test_jsonl_prints_one_event_object_a_line(
    log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["parse", str(log), "--format", "jsonl"]) == 0
    events = jsonl(capsys.readouterr().out)
    assert [event["kind"] for event in events] == KINDS_IN_LOG
    assert events[2] == {
        "kind": "task.launched",
        "task": "com.x.refresh",
        "time": T0 + 2,
        "source": "framework",
        "process": "BGProbe",
        "pid": 412,
        "attrs": {"type": "refresh", "simulated": True},
    }


@pytest.mark.parametrize(
    ("flags", "kinds"),
    [
        ([], KINDS_IN_LOG),
        (["--kind", "task.launched"], ["task.launched"]),
        (["--kind", "task.launched", "--kind", "task.completed"],
         ["task.launched", "task.completed"]),
        (["--kind", "task.launched,task.completed"], ["task.launched", "task.completed"]),
        (["--kind", "task."], KINDS_IN_LOG),
        (["--kind", "app"], []),
        (["--task", "com.x.db"], ["task.submitted"]),
        (["--task", "com.x.refresh", "--kind", "task.submitted"], ["task.submitted"]),
        (["--since", "2026-01-05T09:00:02"], ["task.launched", "task.completed"]),
        (["--since", "2026-01-05T11:00:01.5+02:00"], ["task.submitted", "task.launched",
                                                      "task.completed"]),
        (["--since", "09:00:02.5"], ["task.completed"]),
        (["--since", "10:00"], []),
    ],
)  # fmt: skip
def test_flags_pick_the_events(
    flags: list[str], kinds: list[str], log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["parse", str(log), "--format", "jsonl", *flags]) == 0
    assert [event["kind"] for event in jsonl(capsys.readouterr().out)] == kinds
    assert main(["parse", str(log), "--count", *flags]) == 0
    assert capsys.readouterr().out == f"{len(kinds)}\n"


def test_stdin_is_read_for_a_dash(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    crlf = LOG.replace("\n", "\r\n").encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(crlf)))
    assert main(["parse", "-", "--format", "jsonl"]) == 0
    assert [event["kind"] for event in jsonl(capsys.readouterr().out)] == KINDS_IN_LOG


def test_a_text_stdin_is_read_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(LOG))
    assert main(["parse", "-", "--count"]) == 0
    assert capsys.readouterr().out == "4\n"


def test_bytes_that_are_not_utf8_are_replaced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "latin1.log"
    path.write_bytes(b"caf\xe9 noise\n" + LOG.encode())
    assert main(["parse", str(path), "--count"]) == 0
    assert capsys.readouterr().out == "4\n"


@pytest.mark.parametrize("name", ["missing.log", "."])
def test_an_unreadable_log_is_one_line_and_exit_2(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / name
    assert main(["parse", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"bgharness: cannot read {path}: ")
    assert captured.err.count("\n") == 1


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--kind", "task.exploded"], "--kind task.exploded: no such event kind; known kinds: "
                                      "app.launched, "),
        (["--kind", "tasks."], "or a family: app., bgtime., cpu., debugger., file., gpu., "
                               "keychain., memory., plan., task., upload., urlsession."),
        (["--since", "yesterday"], "--since yesterday: not a time; give a date and time"),
        (["--device", "virtual-iphone"], "give a log FILE or --device NAME, not both"),
    ],
)  # fmt: skip
def test_a_bad_flag_is_one_line_naming_the_fix(
    flags: list[str], says: str, log: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["parse", str(log), *flags]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert says in captured.err
    assert captured.err.count("\n") == 1


def test_no_log_at_all_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse"]) == 2
    assert "give a log FILE (or - for standard input), or --device NAME" in capsys.readouterr().err


def test_an_unknown_device_names_the_known_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["parse", "--device", "iphone-13", "--devices", str(ROOT / "devices.yaml")]) == 2
    assert "no device named 'iphone-13'" in capsys.readouterr().err


def test_a_log_without_events_is_an_empty_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "quiet.log"
    path.write_text("nothing to see\n", encoding="utf-8")
    assert main(["parse", str(path)]) == 0
    assert "0 events" in capsys.readouterr().out


# -- A live device --------------------------------------------------------------------------

PROBE = ROOT / "suites/apps/BGProbe/Info.plist"
BUNDLE = "dev.bgharness.probe"


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lab:
    """The repository's lab (a virtual iPhone), which `bgharness parse --device` will open."""
    lab = Lab.load(ROOT / "devices.yaml", tmp_path / "state", lambda line: None)
    monkeypatch.setattr(parse_cli.Lab, "load", lambda *args, **kwargs: lab)
    return lab


def follow(lab: Lab, argv: list[str]) -> tuple[threading.Thread, list[int]]:
    """`bgharness parse --device` in a thread, once it reads the phone's log."""
    phone = lab.open("virtual-iphone")
    reading = threading.Event()
    log_stream = phone.log_stream

    def opened() -> Any:
        stream = log_stream()
        reading.set()
        return stream

    phone.log_stream = opened  # type: ignore[method-assign]
    code: list[int] = []
    thread = threading.Thread(target=lambda: code.append(main(argv)), daemon=True)
    thread.start()
    assert reading.wait(5), "bgharness parse never opened the device's log"
    return thread, code


def drive(lab: Lab) -> None:
    """What the phone does: the app registers and submits a refresh task, then is swiped away."""
    phone = lab.open("virtual-iphone")
    phone.install(PROBE)
    plan = build_plan({"register": ["refresh"], "submit": [{"type": "refresh", "id": "refresh"}]},
                      BUNDLE)  # fmt: skip
    phone.launch(BUNDLE, {PLAN_ENV: plan.to_json()}, [])
    phone.force_quit(BUNDLE)
    phone.close()  # the stream ends, as when the device goes away


DEVICE = ["parse", "--device", "virtual-iphone", "--devices", str(ROOT / "devices.yaml")]


def test_a_live_device_log_is_followed_until_it_ends(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    thread, code = follow(lab, [*DEVICE, "--format", "jsonl"])
    drive(lab)
    thread.join(5)
    assert code == [0]
    events = [(e["kind"], e["task"], e["source"]) for e in jsonl(capsys.readouterr().out)]
    refresh = f"{BUNDLE}.refresh"
    for expected in [
        ("app.launched", None, "probe"),
        ("task.registered", refresh, "framework"),
        ("task.registered", refresh, "probe"),
        ("task.submitted", refresh, "framework"),
        ("task.submitted", refresh, "dasd"),
        ("app.terminated", None, "springboard"),
        ("app.terminated", None, "runningboard"),
    ]:
        assert expected in events


def test_a_live_device_can_be_counted_and_filtered(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    thread, code = follow(lab, [*DEVICE, "--count", "--kind", "task.submitted"])
    drive(lab)
    thread.join(5)
    assert code == [0]
    captured = capsys.readouterr()
    assert captured.out == "3\n"  # the framework, dasd and the probe each say so
    assert "reading virtual-iphone's log; Ctrl-C stops" in captured.err


def test_a_live_table_prints_a_row_as_each_event_comes(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    thread, code = follow(lab, [*DEVICE, "--kind", "app.terminated"])
    drive(lab)
    thread.join(5)
    assert code == [0]
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["time", "(UTC)", "kind", "task", "source", "process", "pid", "attrs"]
    assert [row.split()[2] for row in rows] == ["app.terminated", "app.terminated"]
    assert "reason=user_force_quit" in rows[0]


# -- Hostile and huge logs (issue 14): one line or success, never a traceback ---------------

EXTREMES = "\n".join(
    [
        "0001-01-01 00:00:00.000000+0100 BGProbe[1:2] Running task: <BGAppRefreshTask: com.x.a>",
        "9999-12-31 23:59:59.999999-0100 BGProbe[1:2] Running task: <BGAppRefreshTask: com.x.b>",
        "0001-01-01 00:00:00.000000+0000 BGProbe[1:2] Running task: <BGAppRefreshTask: com.x.c>",
        "2026-01-05 09:30:00.000000+0000 BGProbe[1:2] Running task: <BGAppRefreshTask: com.x.d>",
    ]
)


@pytest.mark.parametrize(
    "flags", [[], ["--format", "jsonl"], ["--since", "09:00"], ["--since", "2026-01-05T09:00"]]
)
def test_records_dated_year_1_and_9999_are_listed_in_every_mode(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    path = tmp_path / "extremes.log"
    path.write_text(EXTREMES + "\n", encoding="utf-8")
    assert main(["parse", str(path), *flags]) == 0
    out = capsys.readouterr().out
    assert "com.x.d" in out
    if not flags:  # every record is listed; a moment no calendar date holds shows its seconds
        assert "0001-01-01 00:00:00.000" in out
        assert "253402304400.000 s" in out  # 9999-12-31 23:59:59.999999-01:00
        assert "4 events" in out


def test_a_since_in_year_1_picks_every_record_after_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "extremes.log"
    path.write_text(EXTREMES + "\n", encoding="utf-8")
    assert main(["parse", str(path), "--since", "0001-01-01T00:00+01:00"]) == 0
    assert "4 events" in capsys.readouterr().out


HUGE = "9" * 5000  # Python refuses to turn more than 4,300 digits into an int or back


@pytest.mark.parametrize("flags", [[], ["--format", "jsonl"], ["--count"]])
def test_numbers_of_thousands_of_digits_are_printed_as_logged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str]
) -> None:
    path = tmp_path / "huge.log"
    path.write_text(
        f'Background Task {HUGE} ("x"), was created over 30 seconds ago.\n'
        f"Message from debugger: Terminated due to signal {HUGE}\n"
        f"2026-01-01 00:00:00.000000+0000 BGProbe[{HUGE}:2] Running task: "
        "<BGAppRefreshTask: com.x.b>\n",
        encoding="utf-8",
    )
    assert main(["parse", str(path), *flags]) == 0
    out = capsys.readouterr().out
    if flags == ["--count"]:
        assert out == "3\n"
    else:
        assert HUGE in out  # the identifier as the log wrote it
        assert "com.x.b" in out


def test_the_table_prints_each_row_before_it_reads_the_next_event(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    seen: list[int] = []

    def events() -> Any:
        for n in range(3):
            seen.append(out.getvalue().count("task.launched"))  # rows printed before this one
            yield parse_cli.Event("task.launched", f"com.x.{n}", T0, "framework")

    parse_cli._print_table(events(), follow=False)
    assert seen == [0, 1, 2]  # nothing held: a million events take no more memory than one
    assert out.getvalue().splitlines()[-1] == "3 events"


def test_a_reader_that_stops_early_ends_the_output_quietly(tmp_path: Path) -> None:
    path = tmp_path / "long.log"
    path.write_text(LOG * 3000, encoding="utf-8")  # more than a pipe holds
    bgharness = Path(sys.executable).parent / "bgharness"
    with subprocess.Popen(
        [str(bgharness), "parse", str(path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    ) as run:
        assert run.stdout is not None and run.stderr is not None
        run.stdout.readline()
        run.stdout.close()  # as `| head -1` does
        err = run.stderr.read().decode()
        assert run.wait(timeout=60) == 0
    assert err == ""


# Log text a fuzzer builds: the containers' headers around real message forms, stamps of any
# year and zone, numbers of any length, JSON records, and plain junk.
_STAMPS = st.builds(
    "{:04d}-{:02d}-{:02d} {:02d}:{:02d}:{:02d}.{:06d}{}".format,
    st.integers(1, 9999), st.integers(1, 12), st.integers(1, 28), st.integers(0, 23),
    st.integers(0, 59), st.integers(0, 59), st.integers(0, 999_999),
    st.sampled_from(["", "+0000", "+1400", "-1200", "+0530"]),
)  # fmt: skip
_NUMBERS = st.integers(1, 6000).map(lambda n: "9" * n) | st.integers().map(str)
_MESSAGES = st.sampled_from(
    [
        "Running task: <BGAppRefreshTask: com.x.{n}>",
        'Background Task {n} ("x"), was created over 30 seconds ago.',
        "Can't endBackgroundTask: no background task exists with identifier {n}",
        "Message from debugger: Terminated due to signal {n}",
        "ActivityExpirationEvent(bgRefresh-com.x:{n} reasons: {n})",
        "kernel: killing_specific_process pid {n} [x] (per-process-limit)",
        "[application<com.x>:{n}] termination reported by launchd ({n}, {n}, {n})",
        "Exception Type:  EXC_CRASH (SIGKILL)\nTermination Reason: Namespace X, Code {n}",
        'bgprobe {{"event": "task.progress", "task": "t", "completed": {n}}}',
    ]
)
_LINES = st.one_of(
    st.builds(lambda s, n, m: f"{s} BGProbe[{n}:2] " + m.format(n=n), _STAMPS, _NUMBERS, _MESSAGES),
    st.builds(lambda n, m: m.format(n=n), _NUMBERS, _MESSAGES),
    st.builds(
        lambda s, n: json.dumps({"message": f"Running task: <BGAppRefreshTask: com.x.{n}>",
                                 "filename": "/x/BGProbe", "pid": n, "timestamp": s}),
        _STAMPS, _NUMBERS,
    ),
    st.text(max_size=80),
)  # fmt: skip
_MODES = st.sampled_from(
    [[], ["--format", "jsonl"], ["--count"], ["--since", "09:00"], ["--kind", "task,app"],
     ["--since", "2026-01-05T09:00", "--format", "jsonl"], ["--task", "com.x.1", "--count"]]
)  # fmt: skip


@settings(max_examples=60, deadline=None)  # a busy machine is slow, not wrong
@given(st.lists(_LINES, max_size=8), _MODES)
def test_any_log_text_in_any_mode_is_a_result_or_one_line_never_a_traceback(
    lines: list[str], mode: list[str]
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.log"
        path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(["parse", str(path), *mode])
    assert code in (0, 2)
    if code == 2:
        assert len(err.getvalue().splitlines()) == 1
