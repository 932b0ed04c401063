"""Deciding which events a record holds: its triggers pick rules, the first that matches wins."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any

from harness.core.events import KINDS, Event, LogEntry
from harness.core.logparse.containers import (
    NO_PID,
    NO_TIME,
    PROBE_PREFIX,
    PROBE_SUBSYSTEM,
    _Fields,
    _records,
)
from harness.core.logparse.rules import _ACTIVITY, _BY_TRIGGER, _ref, _Rule
from harness.core.logparse.triggers import _has_trigger, _triggers_in

_FRAMEWORK_IMAGES = frozenset({"BackgroundTasks", "DuetActivityScheduler"})

_DAEMONS = {
    "dasd": "dasd",
    "SpringBoard": "springboard",
    "runningboardd": "runningboard",
    "assertiond": "runningboard",
    "kernel": "kernel",
    "lldb": "lldb",
    "bgharness-virtual": "virtual",
}

# kind, task, attrs, source: an event before it is given its record.
_Finding = tuple[str, "str | None", dict[str, Any], str]


def _source(process: str, subsystem: str, image: str, usual: str) -> str:
    """Who said it: the record's sender, or the message's `usual` sender when it names none."""
    if subsystem == PROBE_SUBSYSTEM:
        return "probe"
    if process in _DAEMONS:
        return _DAEMONS[process]
    if subsystem == "com.apple.BackgroundTasks" or image in _FRAMEWORK_IMAGES:
        return "framework"
    return usual if not subsystem and not image else "app"


def _apply(
    rule: _Rule, m: re.Match[str], message: str, detail: bool = True
) -> list[tuple[str | None, dict]] | None:
    """(task, attrs) for each event `rule` found in match `m`; None when `rule.more` declines.

    Without `detail` only the number of events is right (tasks None, attrs empty): counting
    needs no more, and building attrs was most of the cost of a relevant line.
    """
    more = None
    if rule.more is not None:
        more = rule.more(m, message)
        if more is None:
            return None
    ref = m["ref"] if rule.has_ref else None
    refs = [a.group() for a in _ACTIVITY.finditer(ref)] if ref and rule.per_activity else [ref]
    if not detail:
        return [(None, _NO_ATTRS)] * len(refs)
    attrs = dict(rule.attrs)
    for name, convert in rule.groups:
        value = m[name]
        if value is not None:
            attrs[name] = value if convert is None else convert(value)
    if more:
        attrs.update(more)
    if ref is None:
        return [(None, attrs)]
    found = []
    for one in refs:
        task, ref_attrs = _ref(one or "")  # `one` is never None here: `ref` is not
        found.append((task, {**ref_attrs, **attrs}))
    return found


_NO_ATTRS: dict[str, Any] = {}


def _probe(message: str) -> list[_Finding]:
    """The event a probe app reported as `bgprobe {json}`; none when it is malformed."""
    try:
        report = json.loads(message[len(PROBE_PREFIX) :])
    except (ValueError, RecursionError):
        return []
    if not isinstance(report, dict):
        return []
    kind, task = report.get("event"), report.get("task")
    if not isinstance(kind, str) or kind not in KINDS:
        return []
    if task is not None and not isinstance(task, str):
        return []
    attrs = {k: v for k, v in report.items() if k not in ("event", "task")}
    return [(kind, task, attrs, "probe")]


def _findings(
    process: str, subsystem: str, image: str, message: str, detail: bool = True
) -> list[_Finding]:
    """The events in one record's message, before they are given the record (see `_apply`)."""
    if message.startswith(PROBE_PREFIX):
        return _probe(message)
    for trigger in _triggers_in(message):
        for rule in _BY_TRIGGER.get(trigger, ()):
            if rule.processes is not None and process not in rule.processes:
                continue
            m = rule.pattern.search(message)
            if m is None:
                continue
            found = _apply(rule, m, message, detail)
            if found is None:
                continue
            source = _source(process, subsystem, image, rule.source) if detail else ""
            return [(rule.kind, task, attrs, source) for task, attrs in found]
    return []


def _events(fields: _Fields, raw: str, found: list[_Finding]) -> list[Event]:
    time = None if fields[0] == NO_TIME else fields[0]
    pid = None if fields[2] == NO_PID else fields[2]
    return [
        Event(kind, task, time, source, fields[1], pid, attrs, raw)
        for kind, task, attrs, source in found
    ]


def parse_entry(entry: LogEntry) -> list[Event]:
    """The events in one log record (usually none or one); `raw` is its syslog line."""
    found = _findings(entry.process, entry.subsystem, entry.image, entry.message)
    if not found:
        return []
    fields = (entry.time, entry.process, entry.pid, entry.message, entry.subsystem,
              entry.category, entry.level, entry.image)  # fmt: skip
    return _events(fields, entry.syslog_line(), found)


# What counting found in a (process, message): logs say the same thing many times over, and
# without `detail` the findings hold nothing that depends on more (nor anything mutable).
_COUNTED: dict[tuple[str, str], list[_Finding]] = {}
_COUNTED_MAX = 1 << 16


def _text_findings(
    lines: Iterable[str], prefilter: bool = True, detail: bool = True, light: bool = False
) -> Iterator[tuple[_Fields, str, list[_Finding]]]:
    """Each record of `lines` that holds events: its fields, its text and what it holds.

    With `prefilter`, a record with no trigger after its header is dropped before its fields
    are even built (a JSON record is always read: its message may spell a trigger with
    escapes). The fast path turns it off: nearly every record it reads holds an event. With
    `light`, the fields are process and message only; `detail` is `_apply`'s.
    """
    for header, text in _records(lines):
        if header is None:
            if prefilter and not _has_trigger(text):
                continue
            fields: _Fields = (NO_TIME, "", NO_PID, text, "", "", "NOTICE", "")
        else:
            (_, build, build_light), found = header
            if prefilter and isinstance(found, re.Match) and not _has_trigger(text, found.end()):
                continue
            if light:
                process, message = build_light(found, text)
                fields = (NO_TIME, process, NO_PID, message, "", "", "NOTICE", "")
            else:
                fields = build(found, text)
        if detail:
            events = _findings(fields[1], fields[4], fields[7], fields[3])
        else:
            key = fields[1], fields[3]
            events = _COUNTED.get(key)  # type: ignore[assignment]
            if events is None:
                if len(_COUNTED) >= _COUNTED_MAX:
                    _COUNTED.clear()
                events = _COUNTED[key] = _findings(*key[:1], "", "", key[1], detail=False)
        if events:
            yield fields, text, events


def parse_lines(lines: Iterable[str]) -> Iterator[Event]:
    """The events in log text: `parse_entry` over `read_entries`, with `raw` the record's text."""
    for fields, text, found in _text_findings(lines):
        yield from _events(fields, text, found)
