"""CSV whose cells a spreadsheet will not run: text starting with = + - @ TAB or CR gets a leading
apostrophe (OWASP's CSV-injection advice), so "=HYPERLINK(…)" stays text."""

import csv
import datetime
import io

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value):
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return value
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def to_csv(header: list[str], rows) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()


class _Echo:
    """A file that hands back what is written: csv.writer then yields lines for a streaming response."""

    def write(self, value):
        return value


def csv_lines(header: list[str], rows):
    """The CSV text line by line, for a StreamingHttpResponse over rows of any length."""
    writer = csv.writer(_Echo())
    yield writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        yield writer.writerow([safe_cell(v) for v in row])
