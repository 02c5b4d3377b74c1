"""Reading a manifest (CSV or JSON Lines) as a stream of checked rows.

A manifest may hold ten million rows, so nothing here keeps more than one row: `manifest_rows`
yields each row's number with either the cleaned values or the reason it is refused. The checks
are the rules of a filename, a URL and metadata (docs/imports.md); each is a few string tests on
the common path, and the full walk of `json_problem` runs only for text that might hold what it
looks for (an escape, NaN or Infinity), so the message stays the same one the API gives.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import mimetypes
import operator
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import IO, Any, Final, NamedTuple

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator

from taskboard.inputs import json_problem

METADATA_MAX_BYTES = 64 * 1024
NAME_MAX = 255
DIR_MAX = 1000
URL_MAX = 2000
COLUMNS = ("filename", "url", "metadata")
OCTET_STREAM = "application/octet-stream"

# A control character, a backslash or a lone surrogate (JSON's "\ud800" decodes to one); or an
# empty, "." or ".." part: "//", "/./", "/../", or such a part at the end. One search for both.
_BAD_FILENAME = re.compile(r"[\x00-\x1f\x7f\\\ud800-\udfff]|/\.{0,2}(?=/|\Z)")
# What URLValidator asks of the part after the host: no whitespace (nor, here, a control character).
_URL = re.compile(r"(https?://[^/?#\s\x00-\x1f\x7f\ud800-\udfff]*)([/?#][^\s\x00-\x1f\x7f\ud800-\udfff]*)?\Z", re.I)
# What json_problem looks for can only be spelled with an escape, NaN or Infinity.
_MAYBE_JSON_PROBLEM = re.compile(r"\\u|NaN|Infinity")
# _BAD_FILENAME over filenames joined by line breaks (which it refuses in a filename anyway).
_BAD_FILENAMES = re.compile(r"[\x00-\x09\x0b-\x1f\x7f\\\ud800-\udfff]|/\.{0,2}(?=[/\n]|\Z)")
# CSV rows checked together: one search over their filenames, one over their metadata.
CHECK_ROWS = 1000


# (number, dir, name, filename, mimetype, url, metadata): a plain tuple, the cheapest to make ten
# million times. `metadata` is the JSON text of an object; a CSV cell's text is passed on as written
# once it looks like one, and the database's own parser (jsonb, SQLite's json_valid check) has the
# last word: `metadata_problem` names the row when it refuses a batch.
Row = tuple[int, str, str, str, str, str, str]
NUMBER: Final = 0
FILENAME: Final = 3
METADATA: Final = 6


class RowError(NamedTuple):
    number: int
    error: str


def split_filename(filename: object) -> tuple[str, str]:
    """("/a/b", "c.jpg") for "/a/b/c.jpg"; ValueError with a reason for anything else."""
    if not isinstance(filename, str) or not filename:
        raise ValueError("filename is required")
    if filename[0] != "/":
        raise ValueError("filename must start with /")
    bad = _BAD_FILENAME.search(filename)
    if bad:
        if bad.group()[0] == "/":
            raise ValueError("filename has an empty, '.' or '..' part")
        if "\ud800" <= bad.group() <= "\udfff":
            raise ValueError("filename contains a lone surrogate (\\ud800 to \\udfff), which is not valid Unicode")
        raise ValueError("filename contains a control character or a backslash")
    dir_, _, name = filename.rpartition("/")
    if len(name) > NAME_MAX:
        raise ValueError(f"file name longer than {NAME_MAX} characters")
    if len(dir_) > DIR_MAX:
        raise ValueError(f"folder longer than {DIR_MAX} characters")
    return dir_ or "/", name


# extension -> type, or "" when the type depends on more of the name ("a.tar.gz" is a tar archive).
_TYPES_BY_EXTENSION: dict[str, str] = {}


def guess_mimetype(name: str) -> str:
    """The type a name's extension says; looked up once per extension (a manifest has a handful)."""
    extension = name[name.rfind(".") + 1 :] if "." in name else None
    found = _TYPES_BY_EXTENSION.get(extension) if extension is not None else OCTET_STREAM
    if found:
        return found
    if found is None and extension is not None:
        suffix = "." + extension.lower()
        whole_name = suffix in mimetypes.encodings_map or suffix in mimetypes.suffix_map
        if len(_TYPES_BY_EXTENSION) > 4096:
            _TYPES_BY_EXTENSION.clear()
        _TYPES_BY_EXTENSION[extension] = (
            "" if whole_name else mimetypes.guess_type(f"x.{extension}", strict=False)[0] or OCTET_STREAM
        )
        if not whole_name:
            return _TYPES_BY_EXTENSION[extension]
    return mimetypes.guess_type(name, strict=False)[0] or OCTET_STREAM


@lru_cache(maxsize=4096)
def _host_ok(scheme_and_host: str) -> bool:
    # A manifest's URLs share a few hosts: Django's validator runs once per host, and the rest of
    # the URL only has to be free of whitespace, which is all the validator asks of it.
    try:
        URLValidator(schemes=["http", "https"])(scheme_and_host)
    except ValidationError:
        return False
    return True


def _check_url(url: object) -> str:
    if not url:
        return ""
    if not isinstance(url, str):
        raise ValueError("url must be text")
    url = url.strip()
    if not url:
        return ""
    if len(url) > URL_MAX:
        raise ValueError(f"url longer than {URL_MAX} characters")
    match = _URL.match(url)
    if not match or not _host_ok(match.group(1)):
        raise ValueError("url must be an http or https address")
    return url


def _metadata_text(text: str | None) -> str:
    """A CSV cell's metadata as JSON text: "{}" when empty, else the cell when it looks like an object
    that holds nothing the database refuses without saying (checked in full when it might)."""
    text = (text or "").strip()
    if not text:
        return "{}"
    if text[0] != "{" or text[-1] != "}":
        raise ValueError("metadata must be a JSON object")
    if len(text) > METADATA_MAX_BYTES // 4 or _MAYBE_JSON_PROBLEM.search(text):
        return _checked_metadata_text(text)
    return text


def metadata_problem(text: str) -> str | None:
    """Why a row's metadata text cannot be stored, in the words of the row checks; None when it can."""
    try:
        _checked_metadata_text(text)
    except ValueError as exc:
        return str(exc)
    return None


def _checked_metadata_text(text: str) -> str:
    try:
        value = json.loads(text)
    except ValueError:
        raise ValueError("metadata must be a JSON object") from None
    if not isinstance(value, dict):
        raise ValueError("metadata must be a JSON object")
    if _MAYBE_JSON_PROBLEM.search(text):
        problem = json_problem(value, "metadata")  # NUL or NaN, which jsonb refuses
        if problem:
            raise ValueError(problem.rstrip("."))
    size = len(text) if text.isascii() else len(text.encode())
    if size > METADATA_MAX_BYTES:
        raise ValueError(f"metadata larger than {METADATA_MAX_BYTES:,} bytes")
    return text


def _metadata_json(value: object) -> str:
    """A JSON line's (already decoded and checked) metadata as JSON text."""
    if value is None or value == {}:
        return "{}"
    if not isinstance(value, dict):
        raise ValueError("metadata must be a JSON object")
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    size = len(text) if text.isascii() else len(text.encode())
    if size > METADATA_MAX_BYTES:
        raise ValueError(f"metadata larger than {METADATA_MAX_BYTES:,} bytes")
    return text


def _row(number: int, filename: object, url: object, metadata: str) -> Row:
    dir_, name = split_filename(filename)
    assert isinstance(filename, str)  # split_filename refused anything else
    return (number, dir_, name, filename, guess_mimetype(name), _check_url(url) if url else "", metadata)


# ---------------------------------------------------------------- the two formats


def manifest_kind(name: str, head: bytes) -> str:
    """ "csv" or "jsonl", from the file's name, else from its first character."""
    lowered = name.lower()
    if lowered.endswith(".csv"):
        return "csv"
    if lowered.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return "jsonl" if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{") else "csv"


def _csv_rows(text: IO[str]) -> Iterator[Row | RowError]:
    reader = csv.reader(text)
    header = next(reader, None) or []
    if "filename" not in header:
        raise ValueError("the first line must name the columns, with filename among them")
    extra = set(header) - set(COLUMNS)
    if extra:
        raise ValueError(f"unknown column {sorted(extra)[0]!r} (allowed: filename, url, metadata)")
    width = len(header)
    at_filename = header.index("filename")
    at_metadata = header.index("metadata") if "metadata" in header else width
    maybe_problem = _MAYBE_JSON_PROBLEM.search
    filename_of = operator.itemgetter(at_filename)
    metadata_of = operator.itemgetter(at_metadata) if at_metadata < width else None
    number = 1
    while chunk := list(itertools.islice(reader, CHECK_ROWS)):
        # One search over the chunk's filenames (metadata) stands for one per row; a hit, or a row
        # short of the column, has each row searched alone.
        try:
            filenames = "\n".join(map(filename_of, chunk))
            clean_filenames = filenames.count("\n") == len(chunk) - 1 and not _BAD_FILENAMES.search(filenames)
            clean_metadata = metadata_of is None or not maybe_problem("\n".join(map(metadata_of, chunk)))
        except IndexError:
            clean_filenames = clean_metadata = False
        yield from _csv_chunk_rows(chunk, number, clean_filenames, clean_metadata, header)
        number += len(chunk)


def _csv_chunk_rows(
    chunk: list[list[str]], number: int, clean_filenames: bool, clean_metadata: bool, header: list[str]
) -> Iterator[Row | RowError]:
    width = len(header)
    at_filename = header.index("filename")
    # A missing column reads as the empty cell past the row's end.
    at_url = header.index("url") if "url" in header else width
    at_metadata = header.index("metadata") if "metadata" in header else width
    # The common row takes the inlined checks below; anything they do not pass outright goes
    # through `_row`, which accepts or names the problem. Both give the same row.
    bad_filename, url_match, maybe_problem, types = (
        _BAD_FILENAME.search,
        _URL.match,
        _MAYBE_JSON_PROBLEM.search,
        _TYPES_BY_EXTENSION,
    )
    metadata_fast_max = METADATA_MAX_BYTES // 4
    for values in chunk:
        number += 1
        if len(values) != width:
            if not values:
                continue
            if len(values) > width:
                yield RowError(number, "more values than columns")
                continue
            values += [""] * (width - len(values))
        values.append("")
        filename, url, metadata = values[at_filename], values[at_url], values[at_metadata]
        slash = filename.rfind("/")
        name = filename[slash + 1 :]
        dir_ = filename[:slash] or "/"
        mimetype = types.get(name[name.rfind(".") + 1 :]) if "." in name else OCTET_STREAM
        if (
            slash >= 0
            and filename[0] == "/"
            and len(name) <= NAME_MAX
            and len(dir_) <= DIR_MAX
            and (clean_filenames or not bad_filename(filename))
            and mimetype
            and (not url or ((match := url_match(url)) and len(url) <= URL_MAX and _host_ok(match.group(1))))
            and (
                not metadata
                or (
                    metadata[0] == "{"
                    and metadata[-1] == "}"
                    and len(metadata) <= metadata_fast_max
                    and (clean_metadata or not maybe_problem(metadata))
                )
            )
        ):
            yield (number, dir_, name, filename, mimetype, url, metadata or "{}")
            continue
        try:
            yield _row(number, filename, url, _metadata_text(metadata))
        except ValueError as exc:
            yield RowError(number, str(exc))


def _json_line(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except ValueError as exc:
        # Python refuses to read a number of more than 4,300 digits with a plain ValueError.
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "a number is too long"
        raise ValueError(f"not valid JSON ({reason})") from None
    if not isinstance(value, dict):
        raise ValueError("each line must be a JSON object")
    if _MAYBE_JSON_PROBLEM.search(line):
        # A NUL or NaN in its url or metadata (the filename's own check names control characters).
        problem = json_problem({key: v for key, v in value.items() if key != "filename"})
        if problem:
            raise ValueError(problem.rstrip("."))
    if len(value) > 3 or not set(value) <= set(COLUMNS):
        extra = set(value) - set(COLUMNS)
        raise ValueError(f"unknown key {sorted(extra)[0]!r} (allowed: filename, url, metadata)")
    return value


def _jsonl_rows(text: IO[str]) -> Iterator[Row | RowError]:
    for number, line in enumerate(text, start=1):
        if not line.strip():
            continue
        try:
            value = _json_line(line)
            yield _row(number, value.get("filename"), value.get("url"), _metadata_json(value.get("metadata")))
        except ValueError as exc:
            yield RowError(number, str(exc))


def manifest_rows(raw: IO[bytes], kind: str) -> Iterator[Row | RowError]:
    """Each row of the manifest in `raw` (bytes, read as UTF-8 with or without a BOM), checked.

    Raises ValidationError({"file": ...}) for a file that is not a manifest at all: not UTF-8 text,
    not CSV, or a CSV whose header is not ours."""
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    try:
        yield from (_csv_rows(text) if kind == "csv" else _jsonl_rows(text))
    except UnicodeDecodeError:
        raise ValidationError({"file": "The file is not UTF-8 text."}) from None
    except csv.Error as exc:
        raise ValidationError({"file": f"Not a readable CSV file: {exc}."}) from None
    except ValueError as exc:
        raise ValidationError({"file": f"Not a manifest: {exc}."}) from None
    finally:
        # The wrapper must not close the caller's file when it is collected.
        text.detach()


def manifest_filenames(raw: IO[bytes], kind: str, until: int) -> Iterator[tuple[int, str]]:
    """(row number, filename) of the good rows up to `until`: a second reading that finds where a
    filename listed twice first appeared, on the way to refusing the manifest."""
    for row in manifest_rows(raw, kind):
        if row[NUMBER] > until:
            return
        if not isinstance(row, RowError):
            yield row[NUMBER], row[FILENAME]
