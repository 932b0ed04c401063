"""Observations: what a device did where the facts are uncertain, recorded instead of asserted.

Where a fact is [M] or [L] (how long a progress gap kills a continued task, how late dasd
launches a processing task), a suite records what the device did and passes; the answer is the
table across devices, iOS versions, runs and nights. One `Observation` is one JSON line of
`reports/observations.jsonl`. `ObservationLog.append` writes a line in one `write` on a file
opened for appending, under an advisory lock, so xdist workers share the file safely;
`read_observations` merges files and folders (several runs, several nights' artifacts) and skips
garbled lines with a warning; `summarise` turns them into rows: a sweep's parameter → outcome
per device and iOS, and each measure as a distribution (n, min, median, p90, max).
"""

from __future__ import annotations

import json
import math
import os
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.core.errors import UsageError

try:  # POSIX; elsewhere O_APPEND alone keeps each line whole
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

# Where the plugin appends, relative to the rootdir.
DEFAULT_PATH = Path("reports") / "observations.jsonl"
# Files a folder given to the reader holds observations in (searched recursively).
FILE_GLOB = "observations*.jsonl"

Scalar = str | int | float | bool | None


@dataclass(frozen=True)
class Observation:
    """One thing a device did in an experiment.

    `parameter`/`value` is the knob the scenario turned (a sweep's point; None when it turned
    none), `outcome` what the device did, `measures` numbers it measured (delays in device
    seconds, counts). `scenario` is the test function (its id without parameters), `test` the
    whole test id; `run` names the pytest run, `time` is when it was recorded (UTC, ISO 8601)
    and `device_time` the device clock then.
    """

    scenario: str
    parameter: str | None
    value: Scalar
    outcome: str
    device: str
    model: str = ""
    ios: str = ""
    backend: str = ""
    measures: dict[str, float] = field(default_factory=dict)
    test: str = ""
    run: str = ""
    time: str = ""
    device_time: float | None = None

    def __post_init__(self) -> None:
        check_value(self.value)
        for name, number in self.measures.items():
            check_measure(name, number)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> Observation:
        """An observation from one parsed line; ValueError saying what is wrong."""
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        missing = [k for k in ("scenario", "outcome", "device") if not data.get(k)]
        if missing:
            raise ValueError(f"missing {', '.join(missing)}")
        known = {k: v for k, v in data.items() if k in _FIELDS}  # newer writers may add fields
        measures = known.get("measures") or {}
        if not isinstance(measures, dict):
            raise ValueError("measures is not an object")
        try:
            return cls(**{**known, "measures": dict(measures)})
        except (TypeError, UsageError) as exc:
            raise ValueError(str(exc)) from None

    def describe(self) -> str:
        """One line for a step title: `progress_gap_s=25 → expired (after_s=30)`."""
        knob = f"{self.parameter}={self.value}" if self.parameter else self.scenario
        measured = ", ".join(f"{k}={_number(v)}" for k, v in self.measures.items())
        return f"{knob} → {self.outcome}" + (f" ({measured})" if measured else "")


_FIELDS = frozenset(Observation.__dataclass_fields__)


def check_value(value: Any) -> None:
    if value is not None and not isinstance(value, str | int | float | bool):
        raise UsageError(
            f"an observation's value must be a string, number, bool or None, not {value!r}"
        )


def check_measure(name: str, number: Any) -> None:
    """Measures are numbers (device seconds, counts): the table gives their distribution."""
    if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
        raise UsageError(
            f"measure {name}={number!r} must be a finite number (device seconds, a count); "
            "say in words in `outcome`"
        )


# -- Writing ------------------------------------------------------------------------------------


class ObservationLog:
    """Appends observations to one JSON-lines file as they happen, safely from many processes."""

    def __init__(self, path: Path):
        self.path = path

    def append(self, observation: Observation) -> None:
        line = (json.dumps(observation.as_json(), sort_keys=True) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)  # one writer at a time, whatever the line's size
            os.write(fd, line)  # O_APPEND: the line goes at the end, in one piece
        finally:
            os.close(fd)  # also releases the lock


# -- Reading ------------------------------------------------------------------------------------


@dataclass
class Reading:
    """What `read_observations` found: the observations, the files, and one warning per problem."""

    observations: list[Observation] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: int = 0


def observation_files(paths: Sequence[Path]) -> list[Path]:
    """Each path as files: a file as itself, a folder as its observations*.jsonl (recursively)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.rglob(FILE_GLOB))
            if not found:
                raise UsageError(
                    f"{path}: no {FILE_GLOB} in this folder or below; a device run writes "
                    f"{DEFAULT_PATH} (run `make device`, or pass the file itself)"
                )
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise UsageError(
                f"{path}: no such file or folder; a device run writes {DEFAULT_PATH} "
                "(run `make device` first, or pass the nightly's downloaded artifacts folder)"
            )
    return list(dict.fromkeys(files))


def read_observations(paths: Sequence[Path]) -> Reading:
    """Every observation in `paths`, once each (the same line in two files counts once)."""
    reading = Reading(files=observation_files(paths))
    seen: set[str] = set()
    for file in reading.files:
        bad: list[int] = []
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            reading.warnings.append(f"{file}: cannot read it: {exc.strerror or exc}")
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                observation = Observation.from_json(json.loads(line))
            except ValueError:  # json's errors are ValueErrors too
                bad.append(number)
                continue
            key = json.dumps(observation.as_json(), sort_keys=True)
            if key not in seen:
                seen.add(key)
                reading.observations.append(observation)
        if bad:
            reading.skipped += len(bad)
            where = ", ".join(map(str, bad[:5])) + (" …" if len(bad) > 5 else "")
            reading.warnings.append(
                f"{file}: skipped {len(bad)} "
                + ("lines that are not observations" if len(bad) > 1 else "line that is not one")
                + f" (line {where})"
            )
    return reading


def select(
    observations: Iterable[Observation],
    scenario: str | None = None,
    devices: Sequence[str] = (),
    parameter: str | None = None,
) -> list[Observation]:
    """Those whose scenario contains `scenario`, on one of `devices`, turning `parameter`."""
    return [
        o
        for o in observations
        if (scenario is None or scenario in o.scenario)
        and (not devices or o.device in devices)
        and (parameter is None or o.parameter == parameter)
    ]


# -- Summarising ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Distribution:
    """A measure over the observations of one row."""

    n: int
    min: float
    median: float
    p90: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Distribution:
        ordered = sorted(values)
        return cls(len(ordered), ordered[0], statistics.median(ordered), _p90(ordered), ordered[-1])


def _p90(ordered: Sequence[float]) -> float:
    """The 90th percentile, interpolated between the observed values (one value: itself)."""
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=10, method="inclusive")[8]


@dataclass(frozen=True)
class Row:
    """One point of one scenario on one device and iOS: how often each outcome, each measure."""

    scenario: str
    parameter: str | None
    value: Scalar
    device: str
    model: str
    ios: str
    backend: str
    n: int
    runs: int
    outcomes: dict[str, int]
    measures: dict[str, Distribution]

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["measures"] = {k: asdict(v) for k, v in self.measures.items()}
        return data


def summarise(observations: Iterable[Observation]) -> list[Row]:
    """Rows by scenario, parameter, device and iOS, then the parameter's value in order."""
    groups: dict[tuple[Any, ...], list[Observation]] = {}
    for o in observations:
        key = (o.scenario, o.parameter or "", o.device, o.ios, o.model, o.backend, _json(o.value))
        groups.setdefault(key, []).append(o)
    rows = []
    for (scenario, parameter, device, ios, model, backend, _), group in groups.items():
        names = list(dict.fromkeys(k for o in group for k in o.measures))
        rows.append(
            Row(
                scenario=scenario,
                parameter=parameter or None,
                value=group[0].value,
                device=device,
                model=model,
                ios=ios,
                backend=backend,
                n=len(group),
                runs=len({o.run for o in group}),
                outcomes=dict(Counter(o.outcome for o in group).most_common()),
                measures={
                    name: Distribution.of([o.measures[name] for o in group if name in o.measures])
                    for name in names
                },
            )
        )
    return sorted(rows, key=_row_order)


def _row_order(row: Row) -> tuple[Any, ...]:
    return (row.scenario, row.parameter or "", row.device, row.ios, *value_order(row.value))


def value_order(value: Scalar) -> tuple[int, float, str]:
    """Numbers in numeric order, then words: 5 before 15 before 'refresh'."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    return (1, 0.0, "" if value is None else str(value))


def _json(value: Scalar) -> str:
    return json.dumps(value)


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def format_number(value: float) -> str:
    """A measure as the table shows it: up to 4 significant digits, no trailing zeros."""
    return f"{value:.4g}"
