import csv
import datetime
import io

import pytest

from taskboard.dashboards import charts
from taskboard.dashboards.csv_export import safe_cell, to_csv


@pytest.mark.parametrize(
    "value,expected",
    [
        ("=SUM(A1:A2)", "'=SUM(A1:A2)"),
        ("+1", "'+1"),
        ("-1+2", "'-1+2"),
        ("@cmd", "'@cmd"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("bob@example.com", "bob@example.com"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
        (5, 5),
        (0.25, 0.25),
    ],
)
def test_safe_cell(value, expected):
    assert safe_cell(value) == expected


def test_csv_round_trips_with_every_formula_cell_neutralised():
    text = to_csv(["email", "n"], [["=1+1", 3], ["@SUM(1)", 4], ["ok@example.com", -2]])
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [["email", "n"], ["'=1+1", "3"], ["'@SUM(1)", "4"], ["ok@example.com", "-2"]]
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")) or cell.lstrip("-").isdigit()


D = datetime.date(2026, 11, 20)


def test_burndown_svg_has_title_desc_patterns_and_labels():
    points = [(D + datetime.timedelta(days=i), 10 - i) for i in range(4)]
    svg = charts.burndown_svg(points, total=10, start=D, due=D + datetime.timedelta(days=8))
    assert svg.startswith("<svg") and 'role="img"' in svg
    assert "<title" in svg and "<desc" in svg
    assert (
        'class="ideal"' in svg and "ideal to the due date (dashed)" in svg
    )  # told apart by dash and text, not colour
    assert svg.count('class="marker"') == 5 and "7 left" in svg  # four days and the legend


def test_burndown_svg_with_no_points_and_no_due_date():
    svg = charts.burndown_svg([], total=0, start=D, due=None)
    assert "<svg" in svg and "<polyline" not in svg


def test_throughput_svg_labels_bars_and_hatches_negative_days():
    points = [(D, 3), (D + datetime.timedelta(days=1), 0), (D + datetime.timedelta(days=2), -2)]
    svg = charts.throughput_svg(points, chart_id='x"><script>')
    assert "<script>" not in svg  # ids are escaped
    assert 'class="bar negative"' in svg and "-hatch)" in svg
    assert ">3</text>" in svg and ">-2</text>" in svg


def test_burndown_left_label_never_overlaps_the_legend():
    """On the first day the only point is at the top of the plot, right under the legend: its
    "N left" label goes below the point instead of into the legend."""
    import re

    svg = charts.burndown_svg([(D, 30)], total=30, start=D, due=D + datetime.timedelta(days=7))
    label_y = float(re.search(r'<text class="label strong" x="[\d.]+" y="([\d.]+)"[^>]*>30 left', svg).group(1))
    legend_bottom = max(float(y) for y in re.findall(r'<text class="label" x="[\d.]+" y="([\d.]+)">', svg)[:2])
    assert label_y - charts.LABEL_HEIGHT > legend_bottom + 2
