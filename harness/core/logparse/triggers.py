"""The pre-filter: the literals every message form holds, found in text by one C-speed scan."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from typing import NamedTuple

from harness.core.logparse.containers import PROBE_PREFIX
from harness.core.logparse.rules import _BY_TRIGGER

# -- Triggers -------------------------------------------------------------------------------

TRIGGERS: tuple[str, ...] = tuple(sorted({*_BY_TRIGGER, PROBE_PREFIX}))
"""Every literal a message must contain to hold an event: the parser's pre-filter."""

# Each trigger is found by a key character it holds. A message is scanned with one regex whose
# alternatives all start with a key, so re skips every other character in C (a trie of all the
# triggers made it try some 40 words at each position). A byte block gets one scan per common
# key (re's C loop beats a Python loop over its hits), a memchr loop per rare key with a check
# at each hit, and a whole-text scan for a trigger holding neither; in a message, such a
# trigger is keyed by its rarest character. Forms that count only at the start of a bare line
# (lldb's errors, crash-report fields) are looked for only there.
_COMMON_KEYS = "kg"
_RARE_KEYS = "'|"  # bytes rare in any log; a trigger with neither is scanned for whole
_RARER_FIRST = "'|KqxzjQXZJVWYHLUGNy-"  # a keyless trigger's key in a message: the first held
_AT_LINE_START = ("error: ", "Exception Type:", "Termination Reason:")


class _Plan(NamedTuple):
    """Which key finds each trigger."""

    common: dict[str, list[str]]
    rare: dict[str, list[str]]
    whole: list[str]


def _plan(triggers: Iterable[str]) -> _Plan:
    plan = _Plan({}, {}, [])
    for trigger in triggers:
        assert trigger.isascii(), "triggers are matched in bytes as well as in text"
        if trigger in _AT_LINE_START:
            continue
        key = next((k for k in _COMMON_KEYS if k in trigger), None)
        if key is not None:
            plan.common.setdefault(key, []).append(trigger)
            continue
        key = next((k for k in _RARE_KEYS if k in trigger), None)
        if key is not None:
            plan.rare.setdefault(key, []).append(trigger)
        else:
            plan.whole.append(trigger)
    return plan


def _trie(pairs: Iterable[tuple[str, str]]) -> str:
    """A regex for any word of `pairs`, each followed by its own tail regex; a prefix trie."""
    tails: list[str] = []
    by_first: dict[str, list[tuple[str, str]]] = {}
    for word, tail in pairs:
        if word:
            by_first.setdefault(word[0], []).append((word[1:], tail))
        else:
            tails.append(tail)
    branches = [re.escape(first) + _trie(rest) for first, rest in sorted(by_first.items())]
    branches += tails
    return branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"


def _keyed(key: str, triggers: Iterable[str], leaf: Callable[[str], str]) -> str:
    """A regex whose match starts at `key` in any of `triggers` and ends after it.

    After the key come the rest of the trigger, then a look back at the whole of it.
    """
    pairs = [
        (trigger[trigger.index(key) + 1 :], f"(?<={re.escape(trigger)})" + leaf(trigger))
        for trigger in triggers
    ]
    return re.escape(key) + _trie(pairs)


# In a message, lines have lost their lldb prompts already; a paste may quote them (`> `).
_LINE_START_TEXT = "[ \t]*(?:> ?)?"
_PLAN = _plan(TRIGGERS)
_LEAVES: dict[str, str] = {}  # group name → trigger


def _leaf(trigger: str) -> str:
    name = f"t{len(_LEAVES)}"
    _LEAVES[name] = trigger
    return f"(?P<{name}>)"


def _message_pattern() -> re.Pattern[str]:
    by_key: dict[str, list[str]] = {}
    for key, triggers in (*_PLAN.common.items(), *_PLAN.rare.items()):
        by_key.setdefault(key, []).extend(triggers)
    for trigger in _PLAN.whole:
        key = next((k for k in _RARER_FIRST if k in trigger), trigger[0])
        by_key.setdefault(key, []).append(trigger)
    branches = [_keyed(key, triggers, _leaf) for key, triggers in by_key.items()]
    at_line = _trie((trigger, _leaf(trigger)) for trigger in _AT_LINE_START)
    branches.append("\n" + _LINE_START_TEXT + at_line)
    return re.compile("|".join(branches))


_MESSAGE_TRIGGERS = _message_pattern()
_AT_START = re.compile(_LINE_START_TEXT + _trie((t, _leaf(t)) for t in _AT_LINE_START))


def _triggers_in(message: str) -> Iterator[str]:
    """The triggers in `message`, in the order the rules are tried: its start, then by key."""
    start = _AT_START.match(message)
    if start:
        yield _LEAVES[start.lastgroup]  # type: ignore[index]
    for hit in _MESSAGE_TRIGGERS.finditer(message):
        yield _LEAVES[hit.lastgroup]  # type: ignore[index]


def _has_trigger(text: str, start: int = 0) -> bool:
    """Whether a record's text (from `start`) holds a trigger: a superset of `_triggers_in`."""
    found = _MESSAGE_TRIGGERS.search(text, start)
    return found is not None or _AT_START.match(text, start) is not None
