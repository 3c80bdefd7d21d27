"""Small inline SVG plots for the reports: bars against their limits, and trends over runs.

Every plot has an axis with its scale, a mark for each value, and the limit drawn as a dashed
red line where there is one: a number an operator reads against its threshold, at a glance.
"""

from __future__ import annotations

import html

LIMIT = 'stroke="#c00000" stroke-width="1.5" stroke-dasharray="4 3"'
AXIS = 'stroke="#555" stroke-width="1"'
TEXT = 'font-family="sans-serif" font-size="11" fill="#222"'


def _nice(value: float) -> str:
    """Three significant digits, never in exponent form (1900, not 1.9e+03)."""
    if value and abs(value) >= 1000:
        return f"{round(value):d}"
    return f"{value:.3g}"


def bars_svg(values: dict[str, float], unit: str = "", limits: dict[str, float] | None = None,
             limit_label: str = "limit") -> str:
    """Horizontal bars from zero, an x axis with 0 and the scale's end, each bar's value, and
    each bar's limit as a dashed red mark across it (one limit for all: give every label)."""
    if not values:
        return ""
    limits = limits or {}
    top = max([*values.values(), *limits.values(), 0.0]) * 1.1 or 1.0
    left, width, row = 130, 300, 22
    height = row * len(values) + (48 if limits else 34)

    def x(v: float) -> float:
        return left + width * max(v, 0.0) / top

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="sp-plot" width="{left + width + 130}" height="{height}">']
    for i, (label, value) in enumerate(values.items()):
        y = 6 + row * i
        parts.append(f'<text x="0" y="{y + 12}" {TEXT}>{html.escape(label[:22])}</text>'
                     f'<rect x="{left}" y="{y}" width="{x(value) - left:.1f}" height="14" fill="#4a7ab5"/>'
                     f'<circle cx="{x(value):.1f}" cy="{y + 7}" r="2.5" fill="#1d3f6e"/>'
                     f'<text x="{x(value) + 5:.1f}" y="{y + 12}" {TEXT}>{_nice(value)}{html.escape(unit)}</text>')
        if label in limits:
            parts.append(f'<line x1="{x(limits[label]):.1f}" y1="{y - 3}" x2="{x(limits[label]):.1f}" y2="{y + 17}" {LIMIT}/>')
    axis_y = 6 + row * len(values) + 2
    parts.append(f'<line x1="{left}" y1="{axis_y}" x2="{left + width}" y2="{axis_y}" {AXIS}/>'
                 f'<line x1="{left}" y1="2" x2="{left}" y2="{axis_y}" {AXIS}/>'
                 f'<text x="{left - 3}" y="{axis_y + 13}" {TEXT}>0</text>'
                 f'<text x="{left + width - 30}" y="{axis_y + 13}" {TEXT}>{_nice(top)}{html.escape(unit)}</text>')
    if limits:
        parts.append(f'<line x1="{left}" y1="{axis_y + 23}" x2="{left + 16}" y2="{axis_y + 23}" {LIMIT}/>'
                     f'<text x="{left + 20}" y="{axis_y + 27}" {TEXT}>{html.escape(limit_label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def line_svg(values: list[float], limit: float | None = None, width: int = 200, height: int = 64) -> str:
    """A measurement over runs: points joined by a line, a y axis with its lowest and highest
    value, and the limit dashed. A flat series sits mid-height, not on an edge."""
    if len(values) < 2:
        return ""
    shown = [*values, *([limit] if limit is not None else [])]
    lo, hi = min(shown), max(shown)
    pad = (hi - lo) * 0.15 or (abs(hi) * 0.1 or 1.0)
    lo, hi = lo - pad, hi + pad
    left, top, bottom = 44, 6, height - 8

    def y(v: float) -> float:
        return bottom - (bottom - top) * (v - lo) / (hi - lo)

    def x(i: int) -> float:
        return left + 6 + (width - left - 12) * i / (len(values) - 1)

    points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(values))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="sp-plot" width="{width}" height="{height}">',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}" {AXIS}/>',
             f'<line x1="{left}" y1="{bottom}" x2="{width - 2}" y2="{bottom}" {AXIS}/>',
             f'<text x="0" y="{y(max(values)) + 4:.1f}" {TEXT}>{_nice(max(values))}</text>',
             *([f'<text x="0" y="{y(min(values)) + 4:.1f}" {TEXT}>{_nice(min(values))}</text>'] if min(values) != max(values) else [])]
    if limit is not None:
        parts.append(f'<line x1="{left}" y1="{y(limit):.1f}" x2="{width - 2}" y2="{y(limit):.1f}" {LIMIT}/>')
    parts.append(f'<polyline fill="none" stroke="#4a7ab5" stroke-width="1.5" points="{points}"/>')
    parts.extend(f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="2.5" fill="#1d3f6e"/>' for i, v in enumerate(values))
    parts.append("</svg>")
    return "".join(parts)
