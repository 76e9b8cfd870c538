"""Small inline SVG charts for the HTML report: nothing fetched, readable offline and in print.

Each function returns an ``<svg>`` element as ``Markup``; labels are escaped here.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

FONT = "font-family=\"'Noto Sans CJK SC','WenQuanYi Micro Hei','Microsoft YaHei',sans-serif\""
BAR = "#4472c4"
LOW = "#c0504d"
GRID = "#d9d9d9"


def _text_width(text: str, size: float) -> float:
    return sum(size if ord(ch) > 0x2E80 else size * 0.6 for ch in text)


def hbars(
    rows: Sequence[tuple[str, float | None, str]],
    *,
    maximum: float | None = None,
    threshold: float | None = None,
    width: int = 640,
    title: str = "",
) -> Markup:
    """Horizontal bars: (label, value, value text) per row; bars under ``threshold`` in red."""
    size, bar_h, gap = 12.0, 16, 6
    label_w = max([_text_width(label, size) for label, _, _ in rows] + [40.0]) + 8
    top = 22 if title else 4
    height = top + len(rows) * (bar_h + gap) + 4
    high = maximum or max([v for _, v, _ in rows if v is not None] + [1.0])
    plot = width - label_w - 70
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" {FONT} font-size="{size}">'
    ]
    if title:
        parts.append(f'<text x="0" y="14" font-weight="bold">{escape(title)}</text>')
    for i, (label, value, shown) in enumerate(rows):
        y = top + i * (bar_h + gap)
        parts.append(f'<text x="{label_w - 6:.0f}" y="{y + 12}" text-anchor="end">{escape(label)}</text>')
        if value is not None:
            length = max(plot * value / high, 1)
            colour = LOW if threshold is not None and value < threshold else BAR
            parts.append(
                f'<rect x="{label_w:.0f}" y="{y}" width="{length:.1f}" height="{bar_h}" fill="{colour}">'
                f"<title>{escape(label)}: {escape(shown)}</title></rect>"
            )
            parts.append(f'<text x="{label_w + length + 4:.1f}" y="{y + 12}">{escape(shown)}</text>')
        else:
            parts.append(f'<text x="{label_w + 4:.0f}" y="{y + 12}" fill="#888">{escape(shown)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None], str]],
    *,
    low: float = 0.0,
    high: float = 1.0,
    width: int = 640,
    height: int = 220,
    percent: bool = True,
) -> Markup:
    """Lines over periods: (name, values, colour) per series; a missing value breaks the line."""
    left, right, top, bottom = 48, 16, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    count = max(len(labels) - 1, 1)

    def x(i: int) -> float:
        return left + plot_w * i / count

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - low) / ((high - low) or 1))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" {FONT} font-size="11">'
    ]
    for step in range(5):
        tick = low + (high - low) * step / 4
        text = f"{tick:.0%}" if percent else f"{tick:,.0f}"
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="{GRID}"/>')
        parts.append(f'<text x="{left - 4}" y="{y(tick) + 4:.1f}" text-anchor="end">{text}</text>')
    for i, label in enumerate(labels):
        parts.append(f'<text x="{x(i):.1f}" y="{height - bottom + 16}" text-anchor="middle">{escape(label)}</text>')
    for name, values, colour in series:
        run: list[str] = []
        for i, v in enumerate(values):
            if v is None:
                if len(run) > 1:
                    parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(run)}"/>')
                run = []
                continue
            run.append(f"{x(i):.1f},{y(v):.1f}")
            shown = f"{v:.1%}" if percent else f"{v:,.0f}"
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3" fill="{colour}">'
                f"<title>{escape(name)} {escape(labels[i])}: {shown}</title></circle>"
            )
        if len(run) > 1:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(run)}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def spark(values: Sequence[float | None], *, width: int = 96, height: int = 22) -> Markup:
    """A tiny trend line of rates (0–100 %) for a table cell."""
    points = [(i, v) for i, v in enumerate(values) if v is not None]
    if not points:
        return Markup("")
    step = (width - 4) / max(len(values) - 1, 1)
    coords = " ".join(f"{2 + i * step:.1f},{2 + (height - 4) * (1 - v):.1f}" for i, v in points)
    last_x, last_v = points[-1]
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f'<polyline fill="none" stroke="{BAR}" stroke-width="1.5" points="{coords}"/>'
        f'<circle cx="{2 + last_x * step:.1f}" cy="{2 + (height - 4) * (1 - last_v):.1f}" r="2" fill="{BAR}"/></svg>'
    )
