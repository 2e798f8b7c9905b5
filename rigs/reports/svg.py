"""Inline SVG charts for the HTML report: numeric or categorical series over time, with a limit line.

Pure string building with every text escaped; no scripts, no fonts or styles from outside, so the
report renders offline and from a file:// URL.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2")
LIMIT_COLOUR = "#b00020"
# Series stay apart even where their lines coincide (and in greyscale print): each has its own marker
# shape and dash pattern as well as its colour.
MARKERS = ("circle", "square", "triangle", "diamond", "cross")
DASHES = ("", "6 3", "2 3", "8 3 2 3", "1 2")


@dataclass(frozen=True)
class Series:
    """One line on a chart: a label and (x, y) points in x order. ``colours`` (one per point) colours
    each marker by category, with no line; ``line=False`` draws markers only."""

    label: str
    points: Sequence[tuple[float, float]]
    colours: Sequence[str] | None = None
    line: bool = True


MAX_POINTS = 600  # per series: more than a chart can show; keeps a long OTA's report small


def downsample(points: Sequence[tuple[float, float]], limit: int = MAX_POINTS) -> list[tuple[float, float]]:
    """At most ``limit`` points: the mean of each run of consecutive samples (keeps the shape, not spikes)."""
    if len(points) <= limit:
        return list(points)
    size = len(points) / limit
    out = []
    for n in range(limit):
        bucket = points[int(n * size):int((n + 1) * size)] or points[int(n * size):int(n * size) + 1]
        out.append((sum(x for x, _ in bucket) / len(bucket), sum(y for _, y in bucket) / len(bucket)))
    return out


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(lo / step) * step
    ticks, value = [], first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _fmt(value: float) -> str:
    if abs(value) >= 10000:
        return f"{value:.3g}"
    return f"{value:g}"


def _marker(shape: str, x: float, y: float, colour: str, size: float = 3.2) -> str:
    if shape == "square":
        return (f'<rect x="{x - size:.1f}" y="{y - size:.1f}" width="{2 * size:.1f}" height="{2 * size:.1f}" '
                f'fill="{colour}"/>')
    if shape == "triangle":
        return (f'<polygon points="{x:.1f},{y - size * 1.2:.1f} {x - size:.1f},{y + size:.1f} '
                f'{x + size:.1f},{y + size:.1f}" fill="{colour}"/>')
    if shape == "diamond":
        return (f'<polygon points="{x:.1f},{y - size * 1.3:.1f} {x + size:.1f},{y:.1f} {x:.1f},'
                f'{y + size * 1.3:.1f} {x - size:.1f},{y:.1f}" fill="{colour}"/>')
    if shape == "cross":
        return (f'<path d="M{x - size:.1f},{y - size:.1f}L{x + size:.1f},{y + size:.1f}M{x - size:.1f},'
                f'{y + size:.1f}L{x + size:.1f},{y - size:.1f}" stroke="{colour}" stroke-width="1.8"/>')
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{size:.1f}" fill="{colour}"/>'


def chart(title: str, series: Sequence[Series], *, x_label: str, y_label: str,
          limit: tuple[str, float] | None = None, categories: Sequence[str] | None = None,
          step: bool = False, width: int = 800, height: int = 260,
          x_format: Callable[[float], str] | None = None,
          legend_colours: Sequence[tuple[str, str]] = ()) -> str:
    """An SVG line chart. With ``categories``, y values are indexes into it (a status strip).
    ``x_format`` writes x tick labels (e.g. UTC times); ``legend_colours`` adds (label, colour) keys for
    per-point colours."""
    if categories is None:  # averaging categories would invent states that never happened
        series = [Series(s.label, downsample(s.points), s.colours, s.line) if s.colours is None else s
                  for s in series]
    # Room on the left for the longest y label and on the right for the legend.
    longest_y = max((len(c) for c in categories), default=0) if categories is not None else 6
    longest_legend = max([len(s.label) for s in series] + [len(limit[0]) if limit else 0]
                         + [len(label) for label, _ in legend_colours])
    left, right, top, bottom = max(64, 7 * longest_y + 20), max(120, 7 * longest_legend + 40), 28, 42
    plot_w, plot_h = width - left - right, height - top - bottom
    xs = [x for s in series for x, _ in s.points]
    ys = [y for s in series for _, y in s.points]
    if limit is not None:
        ys.append(limit[1])
    x_lo, x_hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if categories is not None:
        y_lo, y_hi = -0.5, len(categories) - 0.5
    else:
        y_lo, y_hi = (min(0.0, min(ys)), max(ys) * 1.1) if ys else (0.0, 1.0)
        if y_hi <= y_lo:
            y_hi = y_lo + 1.0
    if x_hi <= x_lo:
        x_hi = x_lo + 1.0
    if x_format is not None and x_hi - x_lo < 60:  # a time axis shows at least a minute around its points
        middle = (x_lo + x_hi) / 2
        x_lo, x_hi = middle - 30, middle + 30

    def px(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * plot_w

    def py(y: float) -> float:
        return top + plot_h - (y - y_lo) / (y_hi - y_lo) * plot_h

    out = [f'<svg width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" class="chart">',
           f'<title>{escape(title)}</title>',
           # Styled inside the SVG so the chart reads the same wherever it is embedded.
           "<style>text{font-family:system-ui,sans-serif;fill:#333}.chart-title{font-weight:600;font-size:13px}"
           ".tick,.legend{font-size:11px}.axis{font-size:12px}.empty{font-size:13px;fill:#888}</style>",
           f'<text x="{left}" y="16" class="chart-title">{escape(title)}</text>',
           f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#999"/>']
    for tick in _nice_ticks(x_lo, x_hi):
        if x_lo <= tick <= x_hi:
            out.append(f'<line x1="{px(tick):.1f}" y1="{top + plot_h}" x2="{px(tick):.1f}" '
                       f'y2="{top + plot_h + 4}" stroke="#555"/>'
                       f'<text x="{px(tick):.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                       f'class="tick">{escape(x_format(tick) if x_format else _fmt(tick))}</text>')
    if categories is not None:
        y_ticks = [(float(i), c) for i, c in enumerate(categories)]
    else:
        y_ticks = [(t, _fmt(t)) for t in _nice_ticks(y_lo, y_hi) if y_lo <= t <= y_hi]
    for value, text in y_ticks:
        out.append(f'<line x1="{left}" y1="{py(value):.1f}" x2="{left + plot_w}" y2="{py(value):.1f}" '
                   f'stroke="#e3e3e3"/><text x="{left - 6}" y="{py(value) + 4:.1f}" text-anchor="end" '
                   f'class="tick">{escape(text)}</text>')
    out.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 6}" text-anchor="middle" '
               f'class="axis">{escape(x_label)}</text>')
    out.append(f'<text x="14" y="{top + plot_h / 2:.0f}" text-anchor="middle" class="axis" '
               f'transform="rotate(-90 14 {top + plot_h / 2:.0f})">{escape(y_label)}</text>')
    legend_x, legend_y = left + plot_w + 10, top + 8
    if limit is not None:
        y = py(limit[1])
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                   f'stroke="{LIMIT_COLOUR}" stroke-width="1.5" stroke-dasharray="6 4" class="limit"/>')
        out.append(f'<line x1="{legend_x}" y1="{legend_y}" x2="{legend_x + 18}" y2="{legend_y}" '
                   f'stroke="{LIMIT_COLOUR}" stroke-dasharray="6 4"/><text x="{legend_x + 22}" '
                   f'y="{legend_y + 4}" class="legend">{escape(limit[0])}</text>')
        legend_y += 16
    for n, s in enumerate(series):
        colour = PALETTE[n % len(PALETTE)]
        shape, dash = MARKERS[n % len(MARKERS)], DASHES[n % len(DASHES)]
        points: list[tuple[float, float]] = []
        for i, (x, y) in enumerate(s.points):
            if step and i:
                points.append((x, s.points[i - 1][1]))
            points.append((x, y))
        if len(points) > 1 and s.line and s.colours is None:
            path = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in points)
            dashed = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.8"{dashed} points="{path}"'
                       f' data-series="{escape(s.label)}"/>')
        every = max(1, len(s.points) // 40) if s.colours is None else 1  # markers that stay legible
        out.append(f'<g class="markers" data-series="{escape(s.label)}" data-marker="{shape}">')
        for i, (x, y) in enumerate(s.points):
            if i % every == 0 or i == len(s.points) - 1:
                out.append(_marker(shape, px(x), py(y), s.colours[i] if s.colours else colour))
        out.append("</g>")
        out.append(f'<line x1="{legend_x}" y1="{legend_y}" x2="{legend_x + 18}" y2="{legend_y}" '
                   f'stroke="{colour if s.colours is None else "#666"}" stroke-width="2"'
                   f'{f" stroke-dasharray={chr(34)}{dash}{chr(34)}" if dash and s.colours is None else ""}/>'
                   + _marker(shape, legend_x + 9, legend_y, colour if s.colours is None else "#666")
                   + f'<text x="{legend_x + 22}" y="{legend_y + 4}" class="legend">{escape(s.label)}</text>')
        legend_y += 16
    for label, colour in legend_colours:
        out.append(f'<rect x="{legend_x + 3}" y="{legend_y - 5}" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{legend_x + 22}" y="{legend_y + 4}" class="legend">{escape(label)}</text>')
        legend_y += 16
    if not series:
        out.append(f'<text x="{left + plot_w / 2:.0f}" y="{top + plot_h / 2:.0f}" text-anchor="middle" '
                   'class="empty">no samples recorded</text>')
    out.append("</svg>")
    return "".join(out)
