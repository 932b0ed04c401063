"""Recall and false task events of the parser on the labelled corpus, and its held-back split.

The lines of `tests/data/corpus/issue-lines.jsonl` are split once, by a hash of their text, into
the four fifths rules were written against and the fifth held back from rule-writing (issue 12).
Run as a script, it prints both scores; `--record NOTE` appends them to score-history.json.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
if str(ROOT.parent) not in sys.path:
    sys.path.insert(0, str(ROOT.parent))

from harness.core.logparse import parse_lines  # noqa: E402

DATA = ROOT / "data"
ISSUE_LINES = DATA / "corpus" / "issue-lines.jsonl"
HISTORY = DATA / "corpus" / "score-history.json"
CHECKED_ATTRS = ("reason",)  # the attrs a label's family must carry (issue 12: reasons)


def load(path: Path = ISSUE_LINES) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def held_back(line: dict[str, Any]) -> bool:
    """Whether a line is in the fifth held back from rule-writing: fixed by its text alone."""
    return hashlib.sha256(line["text"].encode()).digest()[0] % 5 == 0


def found(line: dict[str, Any], checked: Iterable[str] | None = CHECKED_ATTRS) -> bool:
    """Whether the parser finds the labelled event: its kind, task and `checked` attrs (all
    the labelled attrs for None)."""
    attrs = line.get("attrs", {})
    want = {k: v for k, v in attrs.items() if checked is None or k in checked}
    for event in parse_lines(line["text"].split("\n")):
        same = event.kind == line["kind"] and event.task == line["task"]
        if same and all(event.attrs.get(k) == v for k, v in want.items()):
            return True
    return False


def false_events(line: dict[str, Any]) -> int:
    """How many task.* events the parser finds in a negative line (each one is false)."""
    return sum(e.kind.startswith("task.") for e in parse_lines(line["text"].split("\n")))


def score(lines: Iterable[dict[str, Any]]) -> dict[str, Any]:
    lines = list(lines)
    positives = [line for line in lines if not line["negative"]]
    negatives = [line for line in lines if line["negative"]]
    hits = sum(found(line) for line in positives)
    return {
        "positives": len(positives),
        "found": hits,
        "recall": round(hits / len(positives), 3) if positives else None,
        "negatives": len(negatives),
        "false_task_events": sum(false_events(line) for line in negatives),
    }


def misses(lines: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if not line["negative"] and not found(line)]


def main(argv: list[str]) -> int:
    lines = load()
    report = {
        "lines": len(lines),
        "rule_writing": score(line for line in lines if not held_back(line)),
        "held_back": score(line for line in lines if held_back(line)),
    }
    print(json.dumps(report, indent=2))
    if argv[:1] == ["--record"]:
        history = json.loads(HISTORY.read_text()) if HISTORY.exists() else []
        history.append({"note": " ".join(argv[1:]), **report})
        HISTORY.write_text(json.dumps(history, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
