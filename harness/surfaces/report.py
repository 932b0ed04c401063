"""What QA reads in Allure: labels, failure kinds, environment, categories, and the HTML build.

The pytest plugin asks this module what to write and writes it through allure-pytest; this
module never imports allure or pytest, so the same words serve the plugin, `bgharness report`
and the tests. Three parts:

- Labels and failure kinds: every result is labelled with the device (name, model, iOS,
  backend, app version), and every failure is classified as `infra` (the lab failed: device,
  tunnel, lldb, lease), `product` (the app did not do what the test expected) or `test` (the
  test or its inputs are wrong). The kind travels as one marker line in the failure's text,
  `bgharness: infra failure (...)`, which `categories.json` matches, because Allure's
  categories match only a result's status, message and trace.
- `environment.properties` and `categories.json`, written once per run by the controller.
- `merge_results` and `build_html`: many jobs' allure-results folders (one per lab host) become
  one folder, and Allure's own command-line tool (the npm package `allure`) turns it into HTML.
- `device_log`: the device log a failing test attaches. Reports get published (the nightly), so by
  default it holds only the app's own lines and those of the daemons that schedule background
  work, never the rest of the phone; the whole log is an opt-in (`--bg-full-log`). Capped.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.core.errors import Category, HarnessError, InfraError, UsageError
from harness.core.events import LogEntry
from harness.data.appbundle import AppInfo
from harness.data.inventory import DeviceRecord
from harness.device.contract import DeviceInfo

FailureKind = Category

ALLURE_ENV = "BGHARNESS_ALLURE"
# Where `make report` installs the npm package `allure` (relative to the checkout).
LOCAL_ALLURE = Path(".allure/node_modules/.bin/allure")

_MARK = "bgharness: {kind} failure"
_WHY = {
    "infra": "the lab failed (device, tunnel, lldb or lease), not the app under test",
    "product": "the app did not do what the test expected",
    "test": "the test or its inputs (plan, devices.yaml, task identifier) are wrong",
}
# Allure 2 matches a category's regexes against the whole text, Allure 3 anywhere in it;
# `[\s\S]*` on both sides works for both (and for JavaScript, which has no (?s)).
_ANY = r"[\s\S]*"


# -- Labels -------------------------------------------------------------------------------------


def device_kind(record: DeviceRecord, info: DeviceInfo | None = None) -> str:
    """`virtual iPhone, iOS 26.1` or `iPhone14,5, iOS 16.7`: how a device is named to people."""
    if record.backend == "virtual":
        kind = "virtual iPhone"
    else:
        kind = (info.model if info else None) or record.model or "iPhone"
    ios = (info.ios_version if info else None) or record.ios
    return f"{kind}, iOS {ios}" if ios else kind


def device_labels(record: DeviceRecord, info: DeviceInfo | None = None) -> list[tuple[str, str]]:
    """(name, value) labels for every result on this device; info (when open) beats the record.

    A virtual run is marked in two visible places: the `virtual` tag and the backend label.
    """
    model = (info.model if info else None) or record.model
    ios = (info.ios_version if info else None) or record.ios
    labels = [("device", record.name), ("backend", record.backend)]
    labels += [("device_model", model)] if model else []
    labels += [("ios", ios)] if ios else []
    if info is not None and info.ios_build:
        labels.append(("ios_build", info.ios_build))
    labels.append(("tag", "virtual" if record.backend == "virtual" else "hardware"))
    return labels


def app_label(info: AppInfo) -> tuple[str, str]:
    """`app_version`: `dev.bgharness.probe 1.0 (1)`, the bundle with its version and build."""
    return ("app_version", f"{info.bundle_id} {info.version} ({info.build})")


# -- Failure kinds ------------------------------------------------------------------------------


def classify(error: BaseException) -> tuple[FailureKind, BaseException] | None:
    """What kind of failure `error` is, and the exception that says so (looking through its
    cause and context, so a pytest.fail raised for a LeaseError is infra); None: unknown.

    A HarnessError says its own category (`category`, harness.core.errors): an infra one anywhere in
    the chain wins; otherwise the outermost AssertionError (ExpectationFailed, a plain assert)
    is product, and the outermost HarnessError is what its class says.
    """
    seen: set[int] = set()
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or current.__context__
    for exc in chain:
        if isinstance(exc, HarnessError) and exc.category == "infra":
            return "infra", exc
    for exc in chain:  # outermost first: a test that asserts after catching an error is product
        if isinstance(exc, AssertionError):
            return "product", exc
        if isinstance(exc, HarnessError):
            return exc.category, exc
    return None


def failure_marker(kind: FailureKind, error: BaseException) -> str:
    """The line added to a failure's text: what categories.json matches, and what people read."""
    return f"{_MARK.format(kind=kind)} ({type(error).__name__}): {_WHY[kind]}"


def categories() -> list[dict[str, object]]:
    """categories.json: infra first (a lab failure is never counted as a product bug)."""
    return [
        {
            "name": "Infrastructure: device, tunnel, lldb, lease",
            "matchedStatuses": ["broken", "failed"],
            "traceRegex": _ANY + _MARK.format(kind="infra") + _ANY,
        },
        {
            "name": "Product: the app did not do what the test expected",
            "matchedStatuses": ["failed", "broken"],
            "traceRegex": _ANY + _MARK.format(kind="product") + _ANY,
        },
        {
            "name": "Test: the test or its inputs are wrong",
            "matchedStatuses": ["failed", "broken"],
            "traceRegex": _ANY + _MARK.format(kind="test") + _ANY,
        },
        {"name": "Harness or test code errors", "matchedStatuses": ["broken"]},
    ]


# -- Environment --------------------------------------------------------------------------------


def environment(
    records: Iterable[DeviceRecord],
    apps: Mapping[str, AppInfo],
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """environment.properties for one run: versions, each device and app, and `extra`.

    Keys name what they describe (`device.<name>`, `app.<name>`), so merging many hosts' files
    keeps them all.
    """
    env = dict(extra or {})
    for record in records:
        where = []
        if record.udid:
            where.append(f"udid {record.udid}")
        if record.usbmux:
            where.append(f"usbmux {record.usbmux}")
        if record.backend == "virtual":
            where.append(f"time_scale {record.time_scale:g}")
        detail = f" ({', '.join(where)})" if where else ""
        env[f"device.{record.name}"] = f"{device_kind(record)}{detail}"
    for name, info in apps.items():
        env[f"app.{name}"] = f"{info.bundle_id} {info.version} ({info.build})"
    return env


def properties_text(values: Mapping[str, str]) -> str:
    """Java .properties text (what Allure reads), keys sorted, special characters escaped."""
    return "".join(f"{_escape(k, key=True)}={_escape(v)}\n" for k, v in sorted(values.items()))


def parse_properties(text: str) -> dict[str, str]:
    """The simple .properties we and allure-pytest write: key=value lines, # comments."""
    values = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#!":
            continue
        key, _, value = _split_property(line)
        values[_unescape(key)] = _unescape(value)
    return values


def write_run_files(alluredir: Path, env: Mapping[str, str]) -> None:
    """environment.properties and categories.json into an allure-results folder."""
    alluredir.mkdir(parents=True, exist_ok=True)
    (alluredir / "environment.properties").write_text(properties_text(env), encoding="utf-8")
    (alluredir / "categories.json").write_text(json.dumps(categories(), indent=2) + "\n")


# -- Merging and HTML ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Merged:
    """What `merge_results` found: folders read, results, attachments and skipped duplicates."""

    folders: tuple[Path, ...]
    results: int
    files: int
    duplicates: int


def results_folders(paths: Sequence[Path]) -> list[Path]:
    """The allure-results folders under `paths`: each path itself, or its subfolders when it
    holds the downloaded artifacts of many jobs (one folder each)."""
    found: list[Path] = []
    for path in paths:
        if not path.is_dir():
            raise UsageError(f"{path}: no such folder of Allure results")
        if _is_results(path):
            found.append(path)
            continue
        inner = sorted(p for p in path.iterdir() if p.is_dir() and _is_results(p))
        if not inner:
            raise UsageError(
                f"{path} holds no Allure results (*-result.json), nor do its subfolders; "
                "run the device suites with --alluredir first (make device)"
            )
        found += inner
    return found


def merge_results(folders: Sequence[Path], into: Path) -> Merged:
    """Copy every job's results into one folder; environment files are merged key by key.

    Result and attachment files have UUID names, so jobs never collide; an identical name seen
    twice (the same folder given twice) is kept once.
    """
    into.mkdir(parents=True, exist_ok=True)
    env: dict[str, list[str]] = {}
    results = files = duplicates = 0
    for folder in folders:
        for file in sorted(folder.iterdir()):
            if not file.is_file():
                continue
            if file.name == "environment.properties":
                for key, value in parse_properties(file.read_text(encoding="utf-8")).items():
                    if value not in env.setdefault(key, []):
                        env[key].append(value)
                continue
            if file.name == "categories.json":
                continue  # ours, written below: every job writes the same
            target = into / file.name
            if target.exists():
                duplicates += 1
                continue
            shutil.copyfile(file, target)
            files += 1
            results += file.name.endswith("-result.json")
    merged_env = {key: " | ".join(values) for key, values in env.items()}
    write_run_files(into, merged_env)
    return Merged(tuple(folders), results, files, duplicates)


def find_allure(explicit: str | None = None, cwd: Path | None = None) -> list[str]:
    """The command that runs Allure's CLI: --allure, $BGHARNESS_ALLURE, .allure/ (make report),
    then `allure` on PATH."""
    cwd = Path.cwd() if cwd is None else cwd
    for candidate in (explicit, os.environ.get(ALLURE_ENV)):
        if candidate:
            path = shutil.which(candidate) or (candidate if Path(candidate).is_file() else None)
            if path is None:
                raise UsageError(f"the Allure command-line tool {candidate!r} does not exist")
            return [path]
    local = cwd / LOCAL_ALLURE
    if local.is_file():
        return [str(local)]
    on_path = shutil.which("allure")
    if on_path:
        return [on_path]
    raise InfraError(
        "Allure's command-line tool is not installed: `make report` installs it (the npm "
        "package allure, into .allure/; it needs Node.js 20+), or give its path with --allure"
    )


def build_html(
    results: Sequence[Path], output: Path, allure: Sequence[str], name: str = "bgharness"
) -> Merged:
    """Merge `results` folders and have Allure build the HTML report into `output`."""
    folders = results_folders(results)
    _check_replaceable(output)
    with tempfile.TemporaryDirectory(prefix="bgharness-report-") as tmp:
        merged_dir = Path(tmp) / "allure-results"
        merged = merge_results(folders, merged_dir)
        built = Path(tmp) / "html"
        _run_allure(allure, merged_dir, built, name)
        if not (built / "index.html").is_file():
            raise InfraError(f"Allure finished but wrote no index.html into {built}")
        if output.exists():
            shutil.rmtree(output)
        output.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(built), output)
    return merged


def _run_allure(allure: Sequence[str], results: Path, output: Path, name: str) -> None:
    version = _allure_version(allure)
    if version.startswith("2."):  # Allure 2 (Java): the flags differ; it reads categories.json
        command = [*allure, "generate", str(results), "-o", str(output), "--clean"]
    else:
        # Allure 3's report takes categories from its config, not from categories.json.
        config = results.parent / "allurerc.json"
        config.write_text(json.dumps({"name": name, "categories": categories()}, indent=2))
        command = [*allure, "generate", str(results), "--config", str(config)]
        command += ["--output", str(output), "--name", name]
    env = {**os.environ, "NO_COLOR": "1", "ALLURE_NO_ANALYTICS": "true"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-15:])
        raise InfraError(f"`{' '.join(command)}` failed (exit {done.returncode}):\n{tail}")


def _allure_version(allure: Sequence[str]) -> str:
    try:
        done = subprocess.run(
            [*allure, "--version"], capture_output=True, text=True, check=False, timeout=60
        )
    except OSError as exc:
        raise InfraError(
            f"cannot run Allure's command-line tool {allure[0]}: {exc.strerror}; it needs "
            "Node.js (`node --version`); reinstall it with `make report`"
        ) from None
    return (done.stdout or "").strip()


def _check_replaceable(output: Path) -> None:
    """Refuse to delete a folder that is not an old report (a typo must not remove a tree)."""
    if output.exists() and any(output.iterdir()) and not (output / "index.html").is_file():
        raise UsageError(
            f"{output} exists and is not an Allure report (no index.html); pick another --output"
        )


def _is_results(folder: Path) -> bool:
    return any(folder.glob("*-result.json"))


def _escape(text: str, key: bool = False) -> str:
    out = text.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
    if key:
        out = out.replace("=", "\\=").replace(":", "\\:").replace(" ", "\\ ")
    return out


def _unescape(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append({"n": "\n", "r": "\r", "t": "\t"}.get(nxt, nxt))
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


def _split_property(line: str) -> tuple[str, str, str]:
    """Split at the first unescaped = or :."""
    i = 0
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] in "=:":
            return line[:i].rstrip(), line[i], line[i + 1 :].lstrip()
        i += 1
    return line, "", ""


# -- The device log of a failing test -----------------------------------------------------------

# At most this many lines and bytes go into a failing test's log attachment (the newest).
MAX_LOG_LINES = 20_000
MAX_LOG_BYTES = 4 << 20
# The daemons that schedule background work: all their lines are kept (facts A1-A3: dasd runs
# BGTaskScheduler's activities; the BackgroundTasks framework logs in the app and in dasd).
_SCHEDULER_PROCESSES = frozenset({"dasd"})
_SCHEDULER_SUBSYSTEMS = ("com.apple.duetactivityscheduler", "com.apple.BackgroundTasks")
_SCHEDULER_IMAGES = frozenset({"BackgroundTasks", "DuetActivityScheduler"})
# System processes whose lines are kept only when they name the app (its bundle id, executable
# or pid): launches, suspensions, terminations, the app-switcher swipe, jetsam.
_ABOUT_THE_APP = frozenset({"runningboardd", "RunningBoard", "SpringBoard", "kernel", ""})
# The probe's own subsystem (suites/apps/BGProbe).
_PROBE_SUBSYSTEM = "dev.bgharness.probe"


def device_log(
    entries: Sequence[LogEntry],
    app: AppInfo | None,
    full: bool = False,
    max_lines: int = MAX_LOG_LINES,
    max_bytes: int = MAX_LOG_BYTES,
) -> str:
    """The log lines a failing test attaches, newest kept within the caps; a first line says
    what was left out and why, so a reader knows the log is a selection."""
    pids = frozenset(e.pid for e in entries if app is not None and e.process == app.executable)
    kept = list(entries) if full else [e for e in entries if _ours(e, app, pids)]
    scope = "the whole device log" if full else _scope_line(app, len(entries) - len(kept))
    lines: list[str] = []
    size = 0
    for entry in reversed(kept):
        line = entry.syslog_line() + "\n"
        size += len(line.encode("utf-8", "replace"))
        if len(lines) >= max_lines or size > max_bytes:
            break
        lines.append(line)
    capped = len(kept) - len(lines)
    if capped:
        scope += f"; {capped} earlier lines left out (caps: {max_lines} lines, {max_bytes} bytes)"
    return f"({scope})\n" + "".join(reversed(lines))


def _scope_line(app: AppInfo | None, others: int) -> str:
    who = f"{app.bundle_id}'s" if app else "the app's"
    return (
        f"{who} lines and the background-task daemons' (dasd, BackgroundTasks, and RunningBoard, "
        f"SpringBoard and kernel lines naming the app); {others} other lines of the phone left "
        "out: run with --bg-full-log to attach the whole log"
    )


def _ours(entry: LogEntry, app: AppInfo | None, pids: frozenset[int]) -> bool:
    """Whether a line is the app's, the probe's, or a background-task daemon's."""
    if entry.subsystem.startswith(_PROBE_SUBSYSTEM):
        return True
    if entry.process in _SCHEDULER_PROCESSES or entry.image in _SCHEDULER_IMAGES:
        return True
    if entry.subsystem.startswith(_SCHEDULER_SUBSYSTEMS):
        return True
    if app is None:
        return False
    if entry.process == app.executable:
        return True
    if entry.process in _ABOUT_THE_APP:
        message = entry.message
        names = (app.bundle_id, f"{app.executable}[", f"[{app.executable}]")
        if any(name in message for name in names):
            return True
        return any(re.search(rf"(\[|:|pid ){pid}\b", message) for pid in pids)
    return False
