"""The task timeline of one test as a picture: SVG text from events and perturbation spans.

Pure: no I/O, no device, no pytest. A failing test attaches it to its Allure result, so QA sees
at a glance what the device did and when: one lane per task (and one for the app itself, for
events without a task), each event a mark whose shape and colour say its kind (hover for the
details), the time a task ran as a bar, and offline and locked periods shaded across every lane.
Marks at the same instant are spread apart and bracketed, so none hides another; the probe's
housekeeping (`cancelAllTaskRequests` at launch) and dasd's cancellations are grey, not errors.
A failed expectation is drawn as a dashed red box in its task's lane: what was awaited, from the
mark it looked from until the moment it failed.

Time runs left to right in device seconds from the start of the test. A gap of `BREAK_S` or more
with nothing in it (a soak test waiting hours for dasd) is cut to a fixed width and labelled
with its length, so the seconds around a launch stay readable next to a 12-hour wait.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol
from xml.sax.saxutils import escape, quoteattr

from harness.core.events import PROBLEMS, Event

# Gaps at least this long (device seconds) are cut out of the time axis.
BREAK_S = 600.0

WIDTH = 960
LABEL_W = 210  # the lane labels, left of the plot
RIGHT_PAD = 40
TOP = 34  # the title
LANE_H = 30
AXIS_H = 34
LEGEND_H = 26
BREAK_PX = 46
APP_LANE = "app"

# kind (or kind + outcome) -> (shape, colour, legend text)
_STYLE: dict[str, tuple[str, str, str]] = {
    "task.registered": ("dot", "#0891b2", "registered"),
    "task.submitted": ("circle-open", "#2563eb", "submitted"),
    "task.simulate_launch": ("tick", "#7c3aed", "debugger: simulate"),
    "task.simulate_expire": ("tick", "#7c3aed", "debugger: simulate"),
    "task.launched": ("triangle", "#16a34a", "launched"),
    "task.progress": ("dot", "#64748b", "progress"),
    "task.completed": ("circle", "#16a34a", "completed"),
    "task.completed.failed": ("circle", "#dc2626", "completed (failure)"),
    "task.expired": ("diamond", "#ea580c", "expired"),
    "task.no_longer_running": ("dot", "#94a3b8", "dasd done"),
    "task.canceled": ("slash", "#64748b", "canceled"),
    "housekeeping": ("dot", "#94a3b8", "housekeeping (cancel all)"),
    "problem": ("cross", "#dc2626", "rejected / error"),
    "app": ("square", "#0f766e", "app lifecycle"),
    "other": ("dot", "#475569", "other"),
}
_SPAN_FILL = {"offline": "#fde68a", "locked": "#c7d2fe"}
_RUN_ENDS = frozenset({"task.completed", "task.expired", "task.no_longer_running"})
# Marks closer than this (px) in one lane are spread this far apart.
MARK_SPACING = 10.0
MISS_COLOUR = "#dc2626"


class Shaded(Protocol):
    """A period to shade: what `Session.spans` holds (end None: still applied at the end)."""

    @property
    def kind(self) -> str: ...

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float | None: ...


class Missed(Protocol):
    """A failed expectation: what `Session.misses` holds (harness.core.timeline.Miss)."""

    @property
    def awaited(self) -> str: ...

    @property
    def task(self) -> str | None: ...

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float: ...

    @property
    def why(self) -> str: ...


def render(
    events: Sequence[Event],
    spans: Iterable[Shaded] = (),
    *,
    start: float,
    end: float,
    title: str = "",
    misses: Sequence[Missed] = (),
) -> str:
    """The picture as SVG text: events between `start` and `end` (device time), spans shaded,
    failed expectations boxed."""
    end = max(end, start, *(e.time for e in events if e.time is not None), *(m.end for m in misses))
    shaded = [
        (s.kind, max(s.start, start), end if s.end is None else min(s.end, end)) for s in spans
    ]
    lanes = _lanes(events, misses)
    edges = [t for _, a, b in shaded for t in (a, b)] + [
        t for m in misses for t in (max(m.start, start), m.end)
    ]
    axis = _Axis.fit(start, end, [*(e.time for e in events), *edges])
    plot_h = LANE_H * len(lanes)
    height = TOP + plot_h + AXIS_H + LEGEND_H
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="Helvetica, Arial, sans-serif" '
        'font-size="12">',
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>',
        f'<text x="8" y="20" font-size="14" font-weight="bold">{escape(title or "timeline")}'
        "</text>",
    ]
    out += _lane_backgrounds(lanes)
    out += _spans(shaded, axis, plot_h)
    out += _breaks(axis, plot_h)
    out += _run_bars(events, lanes, axis)
    out += _misses(misses, lanes, axis, start)
    out += _marks(events, lanes, axis, start)
    out += _axis(axis, plot_h, start)
    out += _legend(events, shaded, TOP + plot_h + AXIS_H, bool(misses))
    out.append("</svg>")
    return "\n".join(out) + "\n"


# -- Lanes ------------------------------------------------------------------------------------


def _lanes(events: Sequence[Event], misses: Sequence[Missed] = ()) -> list[str]:
    """The app lane, then one lane per task in the order the tasks first appear (a task only
    awaited, never seen, gets a lane too)."""
    tasks = list(dict.fromkeys([*(e.task for e in events if e.task), *(m.task for m in misses)]))
    return [APP_LANE, *(t for t in tasks if t)]


def _lane_y(lanes: list[str], lane: str) -> float:
    return TOP + LANE_H * lanes.index(lane) + LANE_H / 2


def _lane_backgrounds(lanes: list[str]) -> list[str]:
    out = []
    for i, lane in enumerate(lanes):
        y = TOP + LANE_H * i
        fill = "#f8fafc" if i % 2 else "#f1f5f9"
        out.append(
            f'<rect x="{LABEL_W}" y="{y}" width="{_plot_w()}" height="{LANE_H}" fill="{fill}"/>'
        )
        label = lane if len(lane) <= 30 else "…" + lane[-29:]
        out.append(
            f'<text x="{LABEL_W - 8}" y="{y + LANE_H / 2 + 4}" text-anchor="end" '
            f'class="lane">{escape(label)}<title>{escape(lane)}</title></text>'
        )
    return out


def _plot_w() -> float:
    return WIDTH - LABEL_W - RIGHT_PAD


# -- The time axis ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Segment:
    """A stretch of device time and where it is drawn; `cut` stretches have a fixed width."""

    t0: float
    t1: float
    x0: float
    x1: float
    cut: bool

    def x(self, t: float) -> float:
        if self.t1 <= self.t0:
            return self.x0
        return self.x0 + (self.x1 - self.x0) * (t - self.t0) / (self.t1 - self.t0)


@dataclass(frozen=True)
class _Axis:
    segments: tuple[_Segment, ...]

    @classmethod
    def fit(cls, start: float, end: float, times: Iterable[float | None]) -> _Axis:
        """Linear time, except that empty gaps of BREAK_S or more get BREAK_PX each."""
        points = sorted({start, end, *(t for t in times if t is not None and start <= t <= end)})
        gaps = list(itertools.pairwise(points))
        cut = [b - a >= BREAK_S for a, b in gaps]
        linear = sum(b - a for (a, b), c in zip(gaps, cut, strict=True) if not c)
        room = _plot_w() - BREAK_PX * sum(cut)
        scale = room / linear if linear > 0 else 0.0
        segments, x = [], float(LABEL_W)
        for (a, b), c in zip(gaps, cut, strict=True):
            width = BREAK_PX if c else (b - a) * scale
            segments.append(_Segment(a, b, x, x + width, c))
            x += width
        if not segments:  # nothing happened over no time: one point in the middle
            middle = LABEL_W + _plot_w() / 2
            segments.append(_Segment(start, end, middle, middle, False))
        return cls(tuple(segments))

    def x(self, t: float) -> float:
        for segment in self.segments:
            if t <= segment.t1:
                return segment.x(max(t, segment.t0))
        return self.segments[-1].x1

    def ticks(self) -> list[float]:
        """Device times for tick labels: each linear stretch at a round step, plus the ends."""
        found = {self.segments[0].t0, self.segments[-1].t1}
        for seg in self.segments:
            found |= {seg.t0, seg.t1} if seg.cut else set()
            if seg.cut or seg.t1 <= seg.t0 or seg.x1 - seg.x0 < 90:
                continue
            step = _nice_step((seg.t1 - seg.t0) * 90 / (seg.x1 - seg.x0))
            origin = self.segments[0].t0
            k = math.ceil((seg.t0 - origin) / step)
            while origin + k * step < seg.t1:
                found.add(origin + k * step)
                k += 1
        end = self.segments[-1].t1
        ticks: list[float] = []
        for t in sorted(found):
            if not ticks or self.x(t) - self.x(ticks[-1]) >= 60:
                ticks.append(t)
        if ticks[-1] != end:
            if len(ticks) > 1 and self.x(end) - self.x(ticks[-1]) < 60:
                ticks.pop()
            ticks.append(end)
        return ticks


_STEPS = tuple(
    [m * 10.0**e for e in range(-3, 2) for m in (1, 2, 5)]
    + [30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
)


def _nice_step(raw: float) -> float:
    """The smallest round step (1-2-5 seconds, then whole minutes and hours) of `raw` or more."""
    return next((step for step in _STEPS if step >= raw), 86400.0 * math.ceil(raw / 86400))


def _axis(axis: _Axis, plot_h: float, origin: float) -> list[str]:
    y = TOP + plot_h
    x0, x1 = axis.segments[0].x0, axis.segments[-1].x1
    out = [f'<line x1="{x0}" y1="{y}" x2="{max(x1, x0 + 1)}" y2="{y}" stroke="#334155"/>']
    for t in axis.ticks():
        x = axis.x(t)
        out.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 5}" stroke="#334155"/>')
        out.append(
            f'<text x="{x:.1f}" y="{y + 18}" text-anchor="middle" fill="#334155">'
            f"{escape(_offset(t - origin))}</text>"
        )
    out.append(
        f'<text x="{LABEL_W - 26}" y="{y + 18}" text-anchor="end" fill="#64748b">device time</text>'
    )
    return out


def _breaks(axis: _Axis, plot_h: float) -> list[str]:
    """Each cut: dashed edges across the lanes, a // on the axis, and how long it was."""
    out = []
    for seg in axis.segments:
        if not seg.cut:
            continue
        for x in (seg.x0, seg.x1):
            out.append(
                f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}" '
                'stroke="#94a3b8" stroke-dasharray="3,3" class="cut"/>'
            )
        mid = (seg.x0 + seg.x1) / 2
        for dx in (-3, 3):
            out.append(
                f'<path d="M{mid + dx - 4:.1f},{TOP + plot_h + 6} l8,-12" stroke="#334155" '
                'fill="none"/>'
            )
        out.append(
            f'<text x="{mid:.1f}" y="{TOP - 4}" text-anchor="middle" fill="#475569" '
            f'font-size="10">{escape(_length(seg.t1 - seg.t0))}</text>'
        )
    return out


# -- What is drawn on the lanes -------------------------------------------------------------------


def _spans(spans: list[tuple[str, float, float]], axis: _Axis, plot_h: float) -> list[str]:
    out = []
    for kind, a, b in spans:
        x0, x1 = axis.x(a), axis.x(b)
        fill = _SPAN_FILL.get(kind, "#e5e7eb")
        out.append(
            f'<rect x="{x0:.1f}" y="{TOP}" width="{max(x1 - x0, 2):.1f}" height="{plot_h}" '
            f'fill="{fill}" fill-opacity="0.7" class="span {escape(kind)}">'
            f"<title>{escape(kind)}</title></rect>"
        )
    return out


def _run_bars(events: Sequence[Event], lanes: list[str], axis: _Axis) -> list[str]:
    """A bar from each task.launched to the end of that run (or the end of the picture)."""
    out, running = [], {}
    for event in events:
        if event.task is None or event.time is None:
            continue
        if event.kind == "task.launched":
            running[event.task] = event.time
        elif event.kind in _RUN_ENDS and event.task in running:
            out.append(_bar(lanes, axis, event.task, running.pop(event.task), event.time))
    for task, began in running.items():
        out.append(_bar(lanes, axis, task, began, axis.segments[-1].t1))
    return out


def _bar(lanes: list[str], axis: _Axis, task: str, a: float, b: float) -> str:
    y = _lane_y(lanes, task)
    x0, x1 = axis.x(a), axis.x(b)
    return (
        f'<rect x="{x0:.1f}" y="{y - 3}" width="{max(x1 - x0, 1):.1f}" height="6" rx="3" '
        'fill="#86efac" class="running"/>'
    )


def _style(event: Event) -> tuple[str, str, str]:
    if event.kind == "task.completed" and event.attrs.get("success") is False:
        return _STYLE["task.completed.failed"]
    if event.kind == "task.canceled" and event.attrs.get("all"):
        return _STYLE["housekeeping"]  # the probe clears its requests at every launch
    if event.kind in _STYLE:
        return _STYLE[event.kind]
    if event.kind in PROBLEMS:
        return _STYLE["problem"]
    if event.kind.startswith("app."):
        return _STYLE["app"]
    return _STYLE["other"]


def _marks(events: Sequence[Event], lanes: list[str], axis: _Axis, origin: float) -> list[str]:
    out = []
    timed = [e for e in events if e.time is not None]
    placed = _spread([(axis.x(e.time or 0.0), e.task or APP_LANE) for e in timed])
    for event, (x, x_true, first_of) in zip(timed, placed, strict=True):
        shape, colour, _ = _style(event)
        y = _lane_y(lanes, event.task or APP_LANE)
        if first_of:  # a bracket under marks spread from one instant, ticked at that instant
            out.append(
                f'<path d="M{x:.1f},{y + 9} L{x + first_of:.1f},{y + 9} M{x_true:.1f},{y + 9} '
                f'L{x_true:.1f},{y + 12}" stroke="#94a3b8" fill="none" class="together"/>'
            )
        attrs = " ".join(f"{k}={v!r}" for k, v in sorted(event.attrs.items()))
        tip = f"{_offset((event.time or 0.0) - origin)}  {event.kind}  {event.task or ''}  "
        tip += f"{attrs}  ({event.source})"
        why = event.attrs.get("reason") if event.kind == "task.expired" else None
        label = (  # the system's reason for an expiration, which the app is never told
            f'<text class="reason" x="{x + 7:.1f}" y="{y - 6:.1f}" font-size="9" '
            f'fill="{colour}">{escape(str(why))}</text>'
            if why
            else ""
        )
        out.append(
            f'<g class="event" data-kind={quoteattr(event.kind)}>{_shape(shape, x, y, colour)}'
            f"{label}<title>{escape(' '.join(tip.split()))}</title></g>"
        )
    return out


def _spread(marks: list[tuple[float, str]]) -> list[tuple[float, float, float]]:
    """Where each mark (x, lane) is drawn: marks of one lane closer than MARK_SPACING to the
    first of their group are spread MARK_SPACING apart around the group's middle (kept off the
    lane labels). Each gets
    (drawn x, true x, width of its group's bracket if it is the group's first, else 0)."""
    placed = [(x, x, 0.0) for x, _ in marks]
    by_lane: dict[str, list[int]] = {}
    for i, (_, lane) in enumerate(marks):
        by_lane.setdefault(lane, []).append(i)
    for indexes in by_lane.values():
        indexes.sort(key=lambda i: marks[i][0])
        groups: list[list[int]] = []
        for i in indexes:
            if groups and marks[i][0] - marks[groups[-1][0]][0] < MARK_SPACING:
                groups[-1].append(i)
            else:
                groups.append([i])
        for group in (g for g in groups if len(g) > 1):
            middle = sum(marks[i][0] for i in group) / len(group)
            span = MARK_SPACING * (len(group) - 1)
            left = min(max(middle - span / 2, LABEL_W + 6), WIDTH - RIGHT_PAD / 2 - span)
            for k, i in enumerate(group):
                placed[i] = (left + k * MARK_SPACING, middle, span if k == 0 else 0.0)
    return placed


def _misses(misses: Sequence[Missed], lanes: list[str], axis: _Axis, origin: float) -> list[str]:
    """Each failed expectation: a dashed red box over the time it was awaited, labelled."""
    out = []
    for miss in misses:
        y = _lane_y(lanes, miss.task or APP_LANE)
        x0, x1 = axis.x(max(miss.start, axis.segments[0].t0)), axis.x(miss.end)
        tip = (
            f"awaited {miss.awaited} from {_offset(miss.start - origin)} until "
            f"{_offset(miss.end - origin)}: {miss.why}"
        )
        label = f"✗ {miss.awaited.split(' task=')[0]}"
        anchor, lx = ("end", x1 - 4) if x1 - x0 > 6.5 * len(label) + 8 else ("start", x1 + 4)
        out.append(
            f'<g class="miss"><title>{escape(tip)}</title>'
            f'<rect x="{x0:.1f}" y="{y - 12}" width="{max(x1 - x0, 2):.1f}" height="24" '
            f'fill="{MISS_COLOUR}" fill-opacity="0.06" stroke="{MISS_COLOUR}" '
            'stroke-dasharray="5,3"/>'
            f'<line x1="{x1:.1f}" y1="{y - 14}" x2="{x1:.1f}" y2="{y + 14}" '
            f'stroke="{MISS_COLOUR}" stroke-width="2"/>'
            f'<text x="{lx:.1f}" y="{y - 3}" text-anchor="{anchor}" font-size="10" '
            f'fill="{MISS_COLOUR}">{escape(label)}</text></g>'
        )
    return out


def _shape(shape: str, x: float, y: float, colour: str) -> str:
    if shape == "circle":
        return f'<circle cx="{x:.1f}" cy="{y}" r="5" fill="{colour}"/>'
    if shape == "circle-open":
        return (
            f'<circle cx="{x:.1f}" cy="{y}" r="5" fill="#fff" stroke="{colour}" stroke-width="2"/>'
        )
    if shape == "triangle":
        return (
            f'<path d="M{x - 4:.1f},{y - 6} L{x + 6:.1f},{y} L{x - 4:.1f},{y + 6} Z" '
            f'fill="{colour}"/>'
        )
    if shape == "diamond":
        return (
            f'<path d="M{x:.1f},{y - 6} L{x + 6:.1f},{y} L{x:.1f},{y + 6} L{x - 6:.1f},{y} Z" '
            f'fill="{colour}"/>'
        )
    if shape == "cross":
        return (
            f'<path d="M{x - 5:.1f},{y - 5} L{x + 5:.1f},{y + 5} M{x - 5:.1f},{y + 5} '
            f'L{x + 5:.1f},{y - 5}" stroke="{colour}" stroke-width="2.5"/>'
        )
    if shape == "slash":
        return (
            f'<path d="M{x - 4:.1f},{y + 6} L{x + 4:.1f},{y - 6}" stroke="{colour}" '
            'stroke-width="2"/>'
        )
    if shape == "tick":
        return f'<path d="M{x:.1f},{y - 9} L{x:.1f},{y + 9}" stroke="{colour}" stroke-width="2.5"/>'
    if shape == "square":
        return f'<rect x="{x - 4:.1f}" y="{y - 4}" width="8" height="8" fill="{colour}"/>'
    return f'<circle cx="{x:.1f}" cy="{y}" r="3" fill="{colour}"/>'


def _legend(
    events: Sequence[Event], spans: list[tuple[str, float, float]], y: float, missed: bool = False
) -> list[str]:
    """Only what this picture shows, in a fixed order."""
    shown = {_style(e) for e in events if e.time is not None}
    out, x = [], 8.0
    for style in dict.fromkeys(_STYLE.values()):
        if style not in shown:
            continue
        shape, colour, text = style
        out.append(_shape(shape, x + 6, y + 12, colour))
        out.append(f'<text x="{x + 16:.1f}" y="{y + 16}">{escape(text)}</text>')
        x += 26 + 6.5 * len(text)
    for kind in dict.fromkeys(kind for kind, _, _ in spans):
        fill = _SPAN_FILL.get(kind, "#e5e7eb")
        out.append(f'<rect x="{x:.1f}" y="{y + 5}" width="14" height="14" fill="{fill}"/>')
        out.append(f'<text x="{x + 18:.1f}" y="{y + 16}">{escape(kind)}</text>')
        x += 30 + 6.5 * len(kind)
    if missed:
        out.append(
            f'<rect x="{x:.1f}" y="{y + 5}" width="14" height="14" fill="none" '
            f'stroke="{MISS_COLOUR}" stroke-dasharray="3,2"/>'
        )
        out.append(f'<text x="{x + 18:.1f}" y="{y + 16}">awaited, failed</text>')
    return out


# -- Words --------------------------------------------------------------------------------------


def _offset(seconds: float) -> str:
    """A tick label: `+0 s`, `+2.5 s`, `+42 s`, then clock style `+5:03`, `+6:30:02`."""
    if seconds < 0.0005:
        return "+0 s"
    if seconds < 10:
        return f"+{seconds:.3g} s"
    if seconds < 60:
        return f"+{seconds:.0f} s"
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"+{hours}:{minutes:02d}:{secs:02d}" if hours else f"+{minutes}:{secs:02d}"


def _length(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min" + (f" {rest} s" if rest else "")
    hours, rest = divmod(round(seconds), 3600)
    return f"{hours} h" + (f" {rest // 60} min" if rest // 60 else "")
