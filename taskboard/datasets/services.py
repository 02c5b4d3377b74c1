"""Items arriving in a dataset: file uploads, and manifests (CSV or JSON Lines, `importing`).

Both are all or nothing: one bad file or row rejects the whole upload or manifest, with
messages that name it. Uploaded files are kept under a generated name; only
content Pillow recognises as an image keeps an image type and extension, everything else
becomes `application/octet-stream` stored as `.bin`, so no uploaded HTML or SVG is ever
served inline from the media folder.
"""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction

from taskboard.accounts.models import User
from taskboard.datasets import signals
from taskboard.datasets.folders import normalize_folder
from taskboard.datasets.importing import ImportResult, import_manifest
from taskboard.datasets.manifest_rows import DIR_MAX, NAME_MAX, OCTET_STREAM
from taskboard.datasets.models import Dataset, Item

__all__ = ["IMAGE_FORMATS", "OCTET_STREAM", "ImportResult", "items_import_manifest", "items_upload"]

# Pillow format -> (mimetype, extension) for the images we accept.
IMAGE_FORMATS = {
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
    "BMP": ("image/bmp", "bmp"),
    "TIFF": ("image/tiff", "tiff"),
}


def _bad_char(text: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in text) or "\\" in text


# ---------------------------------------------------------------- manifests


def items_import_manifest(*, dataset: Dataset, file: UploadedFile[bytes], by: User) -> ImportResult:
    """Import a manifest in this request, whatever its size (`importing.import_manifest`)."""
    return import_manifest(dataset=dataset, source=file, by=by)


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
