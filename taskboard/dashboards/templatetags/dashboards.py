from django import template

register = template.Library()


@register.filter
def duration(seconds):
    """42 s, 3 min 10 s, 1 h 05 min; an em dash when unknown."""
    if seconds is None:
        return "—"
    seconds = round(float(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.filter
def pct(rate):
    """A 0..1 rate as a whole percentage; an em dash when nothing was measured."""
    return "—" if rate is None else f"{round(100 * rate)}%"


@register.filter
def per_day(pace):
    return "—" if pace is None else f"{pace:,.1f}/day"


@register.filter
def num(value):
    """A whole number with thousands separators (12,345); the page renders without localisation."""
    return "—" if value is None else f"{value:,}"
