"""The run's summary: each device's results tallied by suite (on the controller, from every
worker's reports), and the `bgharness` section pytest_terminal_summary prints from it."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import pytest


class Tally:
    """Outcomes by device and suite (`infra` counts the infra failures among them), and the
    reasons each device's suite was skipped."""

    def __init__(self) -> None:
        self.counts: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
        self.skips: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)

    def __bool__(self) -> bool:
        return bool(self.counts)

    def __contains__(self, name: object) -> bool:
        return name in self.counts

    def add(self, report: pytest.TestReport) -> None:
        """Count one report of a device's test (reports of tests without a device are not)."""
        props: dict[str, Any] = dict(report.user_properties)
        name = props.get("device")
        if name is None:
            return
        outcome = _outcome(report)
        if outcome is None:
            return
        suite = report.nodeid.split("::")[0]
        self.counts[name][suite][outcome] += 1
        if props.get("failure") == "infra":
            self.counts[name][suite]["infra"] += 1
        if outcome == "skipped":
            self.skips[(name, suite)][_skip_reason(report)] += 1

    def write(
        self,
        terminalreporter: Any,
        said: list[str],
        order: Callable[[], list[str]],
        kind_of: Callable[[str], str],
    ) -> None:
        """The `bgharness` section: what was said during the run, then each device (in the
        inventory's order, `order()`, described by `kind_of`) with a line per suite."""
        terminalreporter.section("bgharness")
        for line in said:
            terminalreporter.write_line(line, yellow=True)
        width = max((len(s) for suites in self.counts.values() for s in suites), default=0)
        names = [n for n in order() if n in self.counts]
        for name in names + [n for n in self.counts if n not in names]:
            suites = self.counts[name]
            total: Counter[str] = Counter()
            for counts in suites.values():
                total.update(counts)
            terminalreporter.write_line(f"{name} ({kind_of(name)}): {tally_text(total)}")
            for suite, counts in sorted(suites.items()):
                reasons = self.skips.get((name, suite), Counter())
                why = "; ".join(
                    f"{reason}" + (f" (×{n})" if n > 1 else "") for reason, n in reasons.items()
                )
                line = f"    {suite:<{width}}  {tally_text(counts)}"
                terminalreporter.write_line(line + (f": {why}" if why else ""))


def tally_text(counts: Counter[str]) -> str:
    parts = []
    for outcome in ("passed", "failed", "error", "skipped"):
        if counts[outcome]:
            parts.append(f"{counts[outcome]} {outcome}")
    if counts["infra"]:
        parts.append(f"of which {counts['infra']} infra")
    return ", ".join(parts) or "nothing run"


def _outcome(report: pytest.TestReport) -> str | None:
    if report.when == "call":
        return report.outcome
    if report.failed:
        return "error"
    if report.skipped:
        return "skipped"
    return None


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return "skipped"
