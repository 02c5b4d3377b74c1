"""One way to show a moment on every page: `{{ value|when }}`.

The page says it in the reader's own locale and time zone. The server writes a `<time>` with the
ISO 8601 moment in `datetime` and in `title` (shown on hover, and what exports carry), and a fallback
text in the server's time zone; `local-time.js` rewrites the text with the browser's
`Intl.DateTimeFormat`, so a person in Berlin and one in Tokyo each read their own clock.
"""

import datetime

from django import template
from django.utils import timezone
from django.utils.dateformat import format as date_format
from django.utils.html import format_html

register = template.Library()

# The fallback, in the server's time zone, until the script runs (or without scripts).
FALLBACK = {"datetime": "j M Y, H:i T", "date": "j M Y", "time": "H:i:s T"}


@register.filter
def when(value, style: str = "datetime"):
    """A date or datetime as `<time>`; `style` is "datetime" (the default), "date" or "time" (of a
    datetime: the time of day alone); empty stays empty."""
    if value in (None, ""):
        return ""
    if style not in FALLBACK:
        raise template.TemplateSyntaxError(f"when: style is 'datetime', 'date' or 'time', not {style!r}.")
    moment: datetime.date
    if isinstance(value, datetime.datetime):
        moment = timezone.localtime(value) if timezone.is_aware(value) else value
        iso = moment.isoformat(timespec="seconds")
    elif isinstance(value, datetime.date):
        moment, iso, style = value, value.isoformat(), "date"
    else:
        return value
    text = date_format(moment, FALLBACK[style])
    return format_html('<time datetime="{}" title="{}" data-local="{}">{}</time>', iso, iso, style, text)


@register.filter
def iso(value) -> str:
    """The ISO 8601 form of a moment, for a `<time>` whose text says it another way ("3 hours ago")."""
    if isinstance(value, datetime.datetime):
        return (timezone.localtime(value) if timezone.is_aware(value) else value).isoformat(timespec="seconds")
    return value.isoformat() if isinstance(value, datetime.date) else ""
