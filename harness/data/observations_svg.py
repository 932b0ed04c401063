"""The observations table as a picture: SVG text, one panel per scenario and parameter.

Pure: no I/O. For each value of the parameter (left to right) and each device and iOS beside
it, a bar of the outcomes' shares (what the device did, how often), and below it, a strip per
measure (or the one `measure` names) with its distribution: a whisker from min to max, the
median as a wide tick, the 90th percentile as a narrow one, on a scale of device seconds (or
whatever the measure counts).
"""

from __future__ import annotations

from itertools import groupby
from xml.sax.saxutils import escape

from harness.data.observations import Row, format_number, value_order

SLOT_W = 26  # one device's bar
SLOT_GAP = 6
GROUP_GAP = 22  # between two values of the parameter
LEFT = 70
RIGHT = 24
PANEL_TITLE_H = 50
BARS_H = 80
MEASURE_H = 80
LABELS_H = 40
LEGEND_H = 24
MIN_WIDTH = 520

_OUTCOME_COLOURS = {
    "completed": "#16a34a",
    "launched": "#0d9488",
    "passed": "#16a34a",
    "expired": "#ea580c",
    "canceled": "#64748b",
    "not_launched": "#94a3b8",
    "failed": "#dc2626",
    "refused": "#dc2626",
}
_PALETTE = ("#2563eb", "#7c3aed", "#0891b2", "#ca8a04", "#db2777", "#4d7c0f", "#475569")


def render(rows: list[Row], measure: str | None = None, title: str = "observations") -> str:
    """The picture of `rows` (from `summarise`); `measure` names the one drawn (default: first)."""
    colours = _colours(rows)
    panels = [list(g) for _, g in groupby(rows, key=lambda r: (r.scenario, r.parameter))]
    drawn, y, width = [], 34.0, MIN_WIDTH
    for panel in panels:
        svg, height, panel_w = _panel(panel, measure, colours, y)
        drawn += svg
        y += height
        width = max(width, panel_w)
    drawn += _legend(colours, y)
    height = y + LEGEND_H + 24
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0f}" '
        f'viewBox="0 0 {width} {height:.0f}" font-family="Helvetica, Arial, sans-serif" '
        'font-size="11">',
        f'<rect width="{width}" height="{height:.0f}" fill="#ffffff"/>',
        f'<text x="8" y="20" font-size="14" font-weight="bold">{escape(title)}</text>',
    ]
    return "\n".join([*head, *drawn, "</svg>"]) + "\n"


def _colours(rows: list[Row]) -> dict[str, str]:
    outcomes = list(dict.fromkeys(o for r in rows for o in r.outcomes))
    spare = iter(_PALETTE * (1 + len(outcomes) // len(_PALETTE)))
    return {o: _OUTCOME_COLOURS.get(o) or next(spare) for o in outcomes}


def _panel(
    rows: list[Row], measure: str | None, colours: dict[str, str], top: float
) -> tuple[list[str], float, int]:
    """One scenario and parameter: its SVG, its height and the width it needs."""
    values = sorted({_key(r.value): r.value for r in rows}.values(), key=value_order)
    series = list(dict.fromkeys(_series(r) for r in rows))
    names = [measure] if measure else list(dict.fromkeys(m for r in rows for m in r.measures))
    names = [n for n in names if any(n in r.measures for r in rows)]
    group_w = len(series) * (SLOT_W + SLOT_GAP) - SLOT_GAP
    width = max(MIN_WIDTH, int(LEFT + len(values) * (group_w + GROUP_GAP) + RIGHT))
    bars_top = top + PANEL_TITLE_H
    strips = {name: bars_top + BARS_H + 30 + i * (MEASURE_H + 30) for i, name in enumerate(names)}
    labels_top = bars_top + BARS_H + len(names) * (MEASURE_H + 30) + 6
    height = labels_top - top + LABELS_H
    first = rows[0]
    cells = {(_key(r.value), _series(r)): r for r in rows}
    head = first.scenario + (f" · {first.parameter}" if first.parameter else "")
    numbered = "   ".join(f"{j + 1}: {w}" for j, w in enumerate(series))
    width = max(width, int(16 + 7.5 * len(head)), int(16 + 6 * len(numbered)))
    out = [
        f'<text x="8" y="{top + 16}" font-size="12" font-weight="bold">{escape(head)}</text>',
        f'<text x="8" y="{top + 31}" fill="#475569">'
        f"{escape(series[0] if len(series) == 1 else numbered)}</text>",
        f'<text x="{LEFT - 8}" y="{bars_top + BARS_H / 2}" text-anchor="end" '
        'fill="#475569">outcomes</text>',
    ]
    highs = {n: max(r.measures[n].max for r in rows if n in r.measures) for n in names}
    for name, strip_top in strips.items():
        out += _measure_axis(name, highs[name], strip_top)
    for i, value in enumerate(values):
        x0 = LEFT + i * (group_w + GROUP_GAP)
        out.append(
            f'<text x="{x0 + group_w / 2:.1f}" y="{labels_top + 28}" text-anchor="middle" '
            f'font-weight="bold">{escape("–" if value is None else str(value))}</text>'
        )
        for j, who in enumerate(series):
            x = x0 + j * (SLOT_W + SLOT_GAP)
            row = cells.get((_key(value), who))
            if len(series) > 1:
                out.append(
                    f'<text x="{x + SLOT_W / 2:.1f}" y="{labels_top + 12}" text-anchor="middle" '
                    f'font-size="9" fill="#475569">{j + 1}<title>{escape(who)}</title></text>'
                )
            if row is None:
                continue
            out += _bar(row, x, bars_top, colours)
            for name, strip_top in strips.items():
                if name in row.measures:
                    out += _whisker(row, name, x, strip_top, highs[name])
    return out, height, width


def _bar(row: Row, x: float, top: float, colours: dict[str, str]) -> list[str]:
    """The outcomes' shares, stacked from the bottom, with n on top."""
    out, y = [], top + BARS_H
    for outcome, count in row.outcomes.items():
        h = BARS_H * count / row.n
        y -= h
        out.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{SLOT_W}" height="{h:.1f}" '
            f'fill="{colours[outcome]}" class="outcome"><title>{escape(_series(row))}: '
            f"{escape(str(row.value))} → {escape(outcome)} {count} of {row.n}</title></rect>"
        )
    out.append(
        f'<text x="{x + SLOT_W / 2:.1f}" y="{top - 3}" text-anchor="middle" font-size="9" '
        f'fill="#334155">n={row.n}</text>'
    )
    return out


def _measure_axis(name: str, high: float, top: float) -> list[str]:
    out = [
        f'<text x="{LEFT}" y="{top - 8}" fill="#334155" font-size="10">{escape(name)}</text>',
        f'<line x1="{LEFT - 4}" y1="{top}" x2="{LEFT - 4}" y2="{top + MEASURE_H}" '
        'stroke="#94a3b8"/>',
    ]
    for frac in (0.0, 0.5, 1.0):
        y = top + MEASURE_H * (1 - frac)
        out.append(
            f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end" font-size="9" '
            f'fill="#475569">{format_number(high * frac)}</text>'
        )
    return out


def _whisker(row: Row, name: str, x: float, top: float, high: float) -> list[str]:
    d = row.measures[name]

    def y(v: float) -> float:
        return top + MEASURE_H * (1 - (v / high if high > 0 else 0.0))

    mid = x + SLOT_W / 2
    tip = (
        f"{_series(row)}: {row.value} → {name}: n={d.n} min={format_number(d.min)} "
        f"median={format_number(d.median)} p90={format_number(d.p90)} max={format_number(d.max)}"
    )
    return [
        f'<g class="measure"><title>{escape(tip)}</title>',
        f'<line x1="{mid:.1f}" y1="{y(d.min):.1f}" x2="{mid:.1f}" y2="{y(d.max):.1f}" '
        'stroke="#334155"/>',
        f'<line x1="{x + 2:.1f}" y1="{y(d.median):.1f}" x2="{x + SLOT_W - 2:.1f}" '
        f'y2="{y(d.median):.1f}" stroke="#0f172a" stroke-width="3"/>',
        f'<line x1="{mid - 5:.1f}" y1="{y(d.p90):.1f}" x2="{mid + 5:.1f}" y2="{y(d.p90):.1f}" '
        'stroke="#334155" stroke-dasharray="2,1"/>',
        "</g>",
    ]


def _legend(colours: dict[str, str], y: float) -> list[str]:
    out, x = [], 8.0
    for outcome, colour in colours.items():
        out.append(f'<rect x="{x:.1f}" y="{y + 4}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{x + 16:.1f}" y="{y + 14}">{escape(outcome)}</text>')
        x += 28 + 6.2 * len(outcome)
    out.append(
        f'<text x="8" y="{y + 32}" fill="#475569">measures: whisker min–max, thick tick median, '
        "dashed tick p90</text>"
    )
    return out


def _series(row: Row) -> str:
    return f"{row.device} · iOS {row.ios or '?'}"


def _key(value: object) -> str:
    return repr(value)
