"""Server-rendered SVG charts: no chart library, no other host.

Readable without colour: the lines differ by dash pattern and markers and are labelled in text;
every chart has a <title>/<desc>, and the page shows the numbers as a table beside it.
All text goes through `format_html`/`escape`, so a task name cannot inject markup.
"""

import datetime

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 640, 240
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 28, 36
LEGEND_BOTTOM = 20  # the legend's text sits on y=16 and reaches about 4 below it
LABEL_HEIGHT = 10
MAX_MARKERS = 62


def _scale(value: float, lo: float, hi: float, out_lo: float, out_hi: float) -> float:
    if hi == lo:
        return out_lo
    return out_lo + (value - lo) * (out_hi - out_lo) / (hi - lo)


def day_label(day: datetime.date) -> str:
    return day.strftime("%b %d").replace(" 0", " ")


def _svg(chart_id: str, title: str, desc: str, body: str) -> SafeString:
    return format_html(
        '<svg class="chart" id="{id}" viewBox="0 0 {w} {h}" width="100%" role="img" '
        'aria-labelledby="{id}-title {id}-desc" preserveAspectRatio="xMidYMid meet">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>{body}</svg>',
        id=chart_id,
        w=WIDTH,
        h=HEIGHT,
        title=title,
        desc=desc,
        body=mark_safe(body),  # built below from numbers and escaped text only
    )


def _axes(y_max: int, x_labels: list[tuple[float, str]]) -> str:
    parts = [
        f'<line class="axis" x1="{LEFT}" y1="{HEIGHT - BOTTOM}" x2="{WIDTH - RIGHT}" y2="{HEIGHT - BOTTOM}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{HEIGHT - BOTTOM}"/>',
    ]
    for value in sorted({0, y_max // 2, y_max}):
        y = _scale(value, 0, y_max or 1, HEIGHT - BOTTOM, TOP)
        parts.append(f'<line class="grid" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>')
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:,}</text>')
    last_x = -1e9
    for x, label in x_labels:
        if x - last_x < 60:  # keep labels from overlapping
            continue
        last_x = x
        # Labels at the plot's edges grow inwards so they are not clipped.
        anchor = "start" if x < LEFT + 30 else "end" if x > WIDTH - RIGHT - 30 else "middle"
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="{anchor}">{escape(label)}</text>'
        )
    return "".join(parts)


def _legend(entries: list[tuple[str, str]]) -> str:
    """A key above the plot: each line sample drawn in its own class (dash pattern, markers)."""
    parts, x = [], LEFT
    for cls, text in entries:
        parts.append(f'<line class="{cls}" x1="{x}" y1="12" x2="{x + 24}" y2="12"/>')
        if cls == "actual":
            parts.append(f'<circle class="marker" cx="{x + 12}" cy="12" r="3"/>')
        parts.append(f'<text class="label" x="{x + 30}" y="16">{escape(text)}</text>')
        x += 40 + 7 * len(text)
    return "".join(parts)


def _left_label(x: float, y: float, left: int) -> str:
    """ "N left" beside the last point: above it, unless that would run into the legend (a point at
    the top, as on the first day); then below it. Near the right edge it ends at the point."""
    label_y = y - 6 if y - 6 - LABEL_HEIGHT >= LEGEND_BOTTOM else y + 6 + LABEL_HEIGHT
    anchor, label_x = ("end", x - 6) if x > WIDTH - RIGHT - 60 else ("start", x + 6)
    return (
        f'<text class="label strong" x="{label_x:.1f}" y="{label_y:.1f}" text-anchor="{anchor}">{left:,} left</text>'
    )


def burndown_svg(
    points: list[tuple[datetime.date, int]],
    *,
    total: int,
    start: datetime.date,
    due: datetime.date | None,
    chart_id: str = "burndown",
) -> SafeString:
    """Remaining items at the end of each day (solid line, dots) against the straight line from
    the total at creation to zero at the due date (dashed, no dots)."""
    last = max([start, *(d for d, _ in points), *([due] if due else [])])
    span = max((last - start).days, 1)
    y_max = max([total, *(n for _, n in points), 1])

    def xy(day, n):
        x = _scale((day - start).days, 0, span, LEFT, WIDTH - RIGHT)
        y = _scale(n, 0, y_max, HEIGHT - BOTTOM, TOP)
        return x, y

    body = [
        _axes(y_max, [(xy(d, 0)[0], day_label(d)) for d in [start, *([due] if due else []), last]]),
        _legend([("actual", "remaining (solid, dots)"), ("ideal", "ideal to the due date (dashed)")]),
    ]
    if due is not None:
        (x1, y1), (x2, y2) = xy(start, total), xy(due, 0)
        body.append(f'<line class="ideal" x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}"/>')
        body.append(f'<line class="due" x1="{x2:.1f}" y1="{TOP}" x2="{x2:.1f}" y2="{HEIGHT - BOTTOM}"/>')
        body.append(f'<text class="label" x="{x2 - 4:.1f}" y="{TOP + 10}" text-anchor="end">due</text>')
    if points:
        coords = [xy(d, n) for d, n in points]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        body.append(f'<polyline class="actual" points="{path}"/>')
        if len(coords) <= MAX_MARKERS:
            body.extend(f'<circle class="marker" cx="{x:.1f}" cy="{y:.1f}" r="3"/>' for x, y in coords)
        last_x, last_y = coords[-1]
        body.append(_left_label(last_x, last_y, points[-1][1]))
    desc = (
        f"Remaining items per day from {day_label(start)}: {points[-1][1] if points else total:,} left of {total:,}"
        + (f"; due {day_label(due)}." if due else ".")
    )
    return _svg(chart_id, "Burn-down", desc, "".join(body))


def throughput_svg(
    points: list[tuple[datetime.date, int]], *, chart_id: str = "throughput", days: int = 30
) -> SafeString:
    """Net items finished per day as bars, each labelled with its number; negative days
    (rework cleared more than was finished) hang below the axis with a hatch pattern."""
    points = points[-days:]
    hi = max([1, *(n for _, n in points)])
    lo = min([0, *(n for _, n in points)])
    slot = (WIDTH - LEFT - RIGHT) / max(len(points), 1)
    bar = min(max(slot * 0.7, 1), 40)

    def y(n):
        return _scale(n, lo, hi, HEIGHT - BOTTOM, TOP)

    zero = y(0)
    body = [
        f'<defs><pattern id="{escape(chart_id)}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" class="hatch"/></pattern></defs>',
        _axes(hi, [(LEFT + slot * (i + 0.5), day_label(d)) for i, (d, _) in enumerate(points)]),
    ]
    for i, (d, n) in enumerate(points):
        x = LEFT + slot * i + (slot - bar) / 2
        top, height = (y(n), zero - y(n)) if n >= 0 else (zero, y(n) - zero)
        cls = "bar" if n >= 0 else "bar negative"
        fill = f' fill="url(#{escape(chart_id)}-hatch)"' if n < 0 else ""
        body.append(
            f'<rect class="{cls}"{fill} x="{x:.1f}" y="{top:.1f}" width="{bar:.1f}" height="{max(height, 0.5):.1f}">'
            f"<title>{escape(day_label(d))}: {n:,}</title></rect>"
        )
        if n and slot >= 7 * len(f"{n:,}"):  # a label only where it fits beside its neighbours
            ty = top - 3 if n >= 0 else top + height + 11
            body.append(f'<text class="value" x="{x + bar / 2:.1f}" y="{ty:.1f}" text-anchor="middle">{n:,}</text>')
    total = sum(n for _, n in points)
    desc = f"Items finished per day over the last {len(points)} days: {total:,} in all."
    return _svg(chart_id, "Throughput per day", desc, "".join(body))
