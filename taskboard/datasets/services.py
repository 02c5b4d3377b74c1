"""Items arriving in a dataset: file uploads and manifests (CSV or JSON Lines).

Both check everything before writing anything: one bad row rejects the whole manifest,
with messages that name the row. Uploaded files are kept under a generated name; only
content Pillow recognises as an image keeps an image type and extension, everything else
becomes `application/octet-stream` stored as `.bin`, so no uploaded HTML or SVG is ever
served inline from the media folder.
"""

from __future__ import annotations

import csv
import io
import json
import mimetypes
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.core.validators import URLValidator
from django.db import transaction

from taskboard.accounts.models import User
from taskboard.datasets import signals, thumbnails
from taskboard.datasets.folders import normalize_folder
from taskboard.datasets.models import Dataset, Item
from taskboard.inputs import json_problem

MANIFEST_MAX_ROWS = 200_000
METADATA_MAX_BYTES = 64 * 1024
MAX_ERRORS_SHOWN = 20
NAME_MAX = 255
DIR_MAX = 1000

# Pillow format -> (mimetype, extension) for the images we accept.
IMAGE_FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
    "BMP": ("image/bmp", "bmp"),
    "TIFF": ("image/tiff", "tiff"),
}
OCTET_STREAM = "application/octet-stream"


@dataclass(frozen=True)
class ImportResult:
    created: int
    skipped: int  # filenames already in the dataset


def _bad_char(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text) or "\\" in text


def split_filename(filename: object) -> tuple[str, str]:
    """("/a/b", "c.jpg") for "/a/b/c.jpg"; ValueError with a reason for anything else."""
    if not isinstance(filename, str) or not filename:
        raise ValueError("filename is required")
    if not filename.startswith("/"):
        raise ValueError("filename must start with /")
    if _bad_char(filename):
        raise ValueError("filename contains a control character or a backslash")
    parts = filename.split("/")[1:]
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError("filename has an empty, '.' or '..' part")
    name = parts[-1]
    dir_ = "/" + "/".join(parts[:-1])
    if len(name) > NAME_MAX:
        raise ValueError(f"file name longer than {NAME_MAX} characters")
    if len(dir_) > DIR_MAX:
        raise ValueError(f"folder longer than {DIR_MAX} characters")
    return dir_, name


def _guess_mimetype(name: str) -> str:
    return mimetypes.guess_type(name, strict=False)[0] or OCTET_STREAM


def _read_limited(file: UploadedFile[bytes], limit: int, field: str) -> bytes:
    size = getattr(file, "size", None)
    if size is not None and size > limit:
        raise ValidationError({field: f"The file is larger than {limit:,} bytes."})
    data: bytes = file.read(limit + 1)
    if len(data) > limit:
        raise ValidationError({field: f"The file is larger than {limit:,} bytes."})
    return data


# ---------------------------------------------------------------- manifests


def _manifest_rows(text: str, kind: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """(row number, dict) for each row; raises ValueError for a file that is not a manifest at all."""
    if kind == "csv":
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = reader.fieldnames or []
        if "filename" not in header:
            raise ValueError("the first line must name the columns, with filename among them")
        extra = set(header) - {"filename", "url", "metadata"}
        if extra:
            raise ValueError(f"unknown column {sorted(extra)[0]!r} (allowed: filename, url, metadata)")
        for number, row in enumerate(reader, start=2):
            if None in row:
                yield number, {"_error": "more values than columns"}
            else:
                yield number, row
        return
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            # Python refuses to read a number of more than 4,300 digits with a plain ValueError.
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "a number is too long"
            yield number, {"_error": f"not valid JSON ({reason})"}
            continue
        if not isinstance(value, dict):
            yield number, {"_error": "each line must be a JSON object"}
            continue
        yield number, value


def _manifest_kind(file: UploadedFile[bytes], text: str) -> str:
    name = (getattr(file, "name", "") or "").lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson", ".json")):
        return "jsonl"
    return "jsonl" if text.lstrip().startswith("{") else "csv"


def _check_row(row: dict[str, Any], kind: str) -> tuple[str | None, dict[str, Any]]:
    """(error, cleaned) for one manifest row."""
    if "_error" in row:
        return row["_error"], {}
    # A JSON line's escaped NUL or NaN in its url or metadata (the filename's own check names control characters).
    problem = json_problem({key: value for key, value in row.items() if key != "filename"})
    if problem:
        return problem.rstrip("."), {}
    if kind == "jsonl":
        extra = set(row) - {"filename", "url", "metadata"}
        if extra:
            return f"unknown key {sorted(extra)[0]!r} (allowed: filename, url, metadata)", {}
    try:
        dir_, name = split_filename(row.get("filename"))
    except ValueError as exc:
        return str(exc), {}
    url = row.get("url") or ""
    if not isinstance(url, str):
        return "url must be text", {}
    url = url.strip()
    if url:
        if len(url) > 2000:
            return "url longer than 2000 characters", {}
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            return "url must be an http or https address", {}
    metadata = row.get("metadata")
    if kind == "csv":
        text = (metadata or "").strip()
        if not text:
            metadata = {}
        else:
            try:
                metadata = json.loads(text)
            except ValueError:
                return "metadata must be a JSON object", {}
    elif metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        return "metadata must be a JSON object", {}
    problem = json_problem(metadata, "metadata")  # a CSV cell's JSON: NUL or NaN, which jsonb refuses
    if problem:
        return problem.rstrip("."), {}
    if len(json.dumps(metadata)) > METADATA_MAX_BYTES:
        return f"metadata larger than {METADATA_MAX_BYTES:,} bytes", {}
    return None, {"dir": dir_, "name": name, "url": url, "metadata": metadata}


@transaction.atomic
def items_import_manifest(*, dataset: Dataset, file: UploadedFile[bytes], by: User) -> ImportResult:
    """Create the items a manifest lists; filenames already in the dataset are skipped.

    Values are stored as given (a metadata value "=SUM(A1)" stays that text); anything
    that writes them out as CSV must neutralise such cells itself.
    """
    raw = _read_limited(file, settings.ITEM_UPLOAD_MAX_BYTES, "file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError({"file": f"The file is not UTF-8 text (byte {exc.start})."}) from None
    if "\x00" in text:
        raise ValidationError({"file": "The file contains NUL characters; it is not a text manifest."})
    kind = _manifest_kind(file, text)

    errors: list[str] = []
    rows: list[dict[str, Any]] = []
    seen: dict[str, int] = {}
    try:
        for number, row in _manifest_rows(text, kind):
            if len(rows) + len(errors) >= MANIFEST_MAX_ROWS:
                raise ValidationError({"file": f"A manifest may list at most {MANIFEST_MAX_ROWS:,} items."})
            error, clean = _check_row(row, kind)
            if error is None:
                filename = Item.join_filename(clean["dir"], clean["name"])
                if filename in seen:
                    error = f"{filename} is listed twice (first on row {seen[filename]})"
                else:
                    seen[filename] = number
            if error is not None:
                errors.append(f"Row {number}: {error}.")
            else:
                rows.append(clean)
    except csv.Error as exc:
        raise ValidationError({"file": f"Not a readable CSV file: {exc}."}) from None
    except ValueError as exc:
        raise ValidationError({"file": f"Not a manifest: {exc}."}) from None
    if errors:
        shown = errors[:MAX_ERRORS_SHOWN]
        if len(errors) > MAX_ERRORS_SHOWN:
            shown.append(f"… and {len(errors) - MAX_ERRORS_SHOWN} more rows with errors. Nothing was imported.")
        else:
            shown.append("Nothing was imported.")
        raise ValidationError({"file": shown})
    if not rows:
        raise ValidationError({"file": "The manifest lists no items."})

    names = list(seen)
    existing: set[str] = set()
    for start in range(0, len(names), 1000):
        existing.update(
            Item.objects.filter(dataset=dataset, filename__in=names[start : start + 1000]).values_list(
                "filename", flat=True
            )
        )
    new = [
        Item(
            dataset=dataset,
            dir=row["dir"],
            name=row["name"],
            filename=Item.join_filename(row["dir"], row["name"]),
            mimetype=_guess_mimetype(row["name"]),
            url=row["url"],
            metadata=row["metadata"],
        )
        for row in rows
        if Item.join_filename(row["dir"], row["name"]) not in existing
    ]
    Item.objects.bulk_create(new, batch_size=1000)
    if new:
        signals.items_arrived.send(sender=Item, dataset=dataset, count=len(new), by=by)
    return ImportResult(created=len(new), skipped=len(rows) - len(new))


# ---------------------------------------------------------------- uploads


def _image_format(data: bytes) -> str | None:
    """Pillow's format name when the bytes are an image we accept, else None."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt = image.format
            image.verify()
    except Exception:  # any failure to parse means "not an image we serve"
        return None
    return fmt if fmt in IMAGE_FORMATS else None


def _upload_name(raw: str | None) -> str:
    # Browsers send a bare name; strip any path a client adds anyway.
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if not name or name in (".", "..") or _bad_char(name) or len(name) > NAME_MAX:
        raise ValueError("not a usable file name")
    return name


def items_upload(*, dataset: Dataset, files: Iterable[UploadedFile[bytes]], folder: str, by: User) -> list[Item]:
    """Store uploaded files as items in `folder`; all or nothing."""
    try:
        folder = normalize_folder(folder or "/")
    except ValidationError:
        raise ValidationError({"folder": "Enter an absolute folder such as /city/day."}) from None
    if len(folder) > DIR_MAX or _bad_char(folder):
        raise ValidationError({"folder": "Enter an absolute folder such as /city/day."})
    files = list(files)
    if not files:
        raise ValidationError({"files": "Choose at least one file."})

    limit = settings.ITEM_UPLOAD_MAX_BYTES
    errors: list[str] = []
    prepared = []
    names: set[str] = set()
    for upload in files:
        try:
            name = _upload_name(upload.name)
        except ValueError:
            errors.append(f"{str(upload.name)[:100]!r}: not a usable file name.")
            continue
        assert upload.size is not None  # Django measures every upload; the stubs allow a file of unknown size
        if upload.size > limit:
            errors.append(f"{name}: larger than {limit:,} bytes.")
            continue
        if name in names:
            errors.append(f"{name}: chosen twice.")
            continue
        names.add(name)
        data = upload.read(limit + 1)
        fmt = _image_format(data)
        mimetype, ext = IMAGE_FORMATS[fmt] if fmt else (OCTET_STREAM, "bin")
        prepared.append((name, data, mimetype, ext))
    filenames = {Item.join_filename(folder, name) for name in names}
    for filename in Item.objects.filter(dataset=dataset, filename__in=filenames).values_list("filename", flat=True):
        errors.append(f"{filename}: already in the dataset.")
    if errors:
        raise ValidationError({"files": errors})

    created = []
    with transaction.atomic():
        for name, data, mimetype, ext in prepared:
            item = Item(dataset=dataset, dir=folder, name=name, mimetype=mimetype)
            item.filename = Item.join_filename(folder, name)
            item.file.save(f"{uuid.uuid4().hex}.{ext}", ContentFile(data), save=False)
            if mimetype != OCTET_STREAM:
                thumbnails.thumbnail_save(item, data)
            created.append(item)
        try:
            Item.objects.bulk_create(created, batch_size=500)
        except Exception:
            for item in created:
                item.file.delete(save=False)
            raise
        # Pipelines whose dataset node watches this dataset take them in after the commit.
        signals.items_arrived.send(sender=Item, dataset=dataset, count=len(created), by=by)
    return created
