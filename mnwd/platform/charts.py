"""Small inline SVG bar charts for the admin pages: numbers in, markup out (no user text is drawn, so nothing
needs escaping but the title, which is escaped)."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

__all__ = ["bar_chart"]

WIDTH = 300
HEIGHT = 60


def bar_chart(title: str, labels: Sequence[str], values: Sequence[int | float]) -> str:
    """A chart ``WIDTH`` by ``HEIGHT``: a bar per value, the tallest filling it; each bar's tooltip says its value."""
    most = max(values, default=0) or 1
    step = WIDTH / max(len(values), 1)
    bars = []
    for n, (label, value) in enumerate(zip(labels, values, strict=True)):
        height = round(HEIGHT * value / most, 1)
        bars.append(
            f'<rect x="{n * step:.1f}" y="{HEIGHT - height:.1f}" width="{max(step - 1, 1):.1f}" height="{height}">'
            f"<title>{escape(label)}: {value:g}</title></rect>"
        )
    return (
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg" fill="currentColor">'
        f'<title>{escape(title)}</title><rect x="0" y="{HEIGHT - 1}" width="{WIDTH}" height="1" opacity="0.3"></rect>'
        f"{''.join(bars)}</svg>"
    )
