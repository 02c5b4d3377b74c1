"""One date format on every page: the `when` filter writes a <time> with the ISO moment in its
datetime and title; local-time.js shows it in the reader's locale and time zone (tests/e2e)."""

import datetime
import re
from pathlib import Path

import pytest
from django.template import Context, Template, TemplateSyntaxError

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def render(value, arg=""):
    return Template("{% load local_time %}{{ value|when" + arg + " }}").render(Context({"value": value}))


def test_a_moment_carries_its_iso_form_in_datetime_and_title(settings):
    settings.TIME_ZONE = "Europe/Paris"
    moment = datetime.datetime(2026, 3, 4, 13, 5, tzinfo=datetime.UTC)
    html = render(moment)
    assert html == (
        '<time datetime="2026-03-04T14:05:00+01:00" title="2026-03-04T14:05:00+01:00" data-local="datetime">'
        "4 Mar 2026, 14:05 CET</time>"
    )


def test_a_date_and_nothing():
    assert 'datetime="2026-03-04"' in render(datetime.date(2026, 3, 4))
    assert render(None) == ""
    with pytest.raises(TemplateSyntaxError):
        render(datetime.date(2026, 3, 4), ':"weekday"')


def test_no_template_formats_a_date_by_itself():
    """Every moment a person reads goes through `when`: a `|date:"…"` would be a second format. Only
    machine forms are left to `date` (ISO 8601 "c", and "Y-m-d" for a date input's value or a link)."""
    offenders = [
        f"{path.relative_to(TEMPLATES)}: {fmt}"
        for path in TEMPLATES.rglob("*.html")
        for fmt in re.findall(r"\|(?:date|time):\s*[\"']([^\"']*)[\"']", path.read_text())
        if fmt not in ("c", "Y-m-d")
    ]
    assert offenders == []
