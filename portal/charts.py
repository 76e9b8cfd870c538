"""Charts as inline SVG drawn on the server: no script, no CDN, prints as it shows."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar: a label, a value, and the text printed after it."""

    label: str
    value: float
    text: str


def bar_chart(title: str, bars: list[Bar], *, maximum: float | None = None, width: int = 560) -> str:
    """A horizontal bar chart (one row per bar), as an SVG element."""
    row, label_width, top = 22, 170, 26
    height = top + row * max(len(bars), 1) + 6
    scale = maximum if maximum else max((b.value for b in bars), default=0) or 1
    plot = width - label_width - 80
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="{escape(title)}">',
        f'<text x="0" y="16" class="chart-title">{escape(title)}</text>',
    ]
    for i, bar in enumerate(bars):
        y = top + i * row
        length = max(0.0, min(bar.value / scale, 1.0)) * plot
        label = bar.label if len(bar.label) <= 12 else bar.label[:11] + "…"
        parts.append(
            f'<text x="{label_width - 6}" y="{y + 14}" text-anchor="end" class="chart-label">{escape(label)}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{length:.1f}" height="{row - 8}" class="chart-bar"/>'
            f'<text x="{label_width + length + 4:.1f}" y="{y + 14}" class="chart-value">{escape(bar.text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
