"""Thumbnails of image items: a small JPEG kept beside the item's file in the same storage (Django's
storage API, so whatever `STORAGES["default"]` is), made once when the item is uploaded. The item
browser and the work view show it; an item without one (made before thumbnails, or by the demo's
generated images, already small) shows its file."""

import io
import logging

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from PIL import Image

from taskboard.datasets.models import Item

logger = logging.getLogger(__name__)

SIZE = (320, 240)


def thumbnail_name(item: Item) -> str:
    """Where an item's thumbnail is stored: its file's name under thumbs/, as a JPEG."""
    return f"thumbs/{(item.file.name or '').rsplit('.', 1)[0]}.jpg"


def thumbnail_save(item: Item, data: bytes) -> None:
    """Store the item's thumbnail from its image bytes. An image Pillow recognised but cannot scale
    keeps no thumbnail: its file is shown instead."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.thumbnail(SIZE)
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="JPEG", quality=80)
    except Exception:  # noqa: BLE001 - a thumbnail is a convenience; the upload itself stands
        logger.warning("no thumbnail for %s", item.file.name, exc_info=True)
        return
    default_storage.save(thumbnail_name(item), ContentFile(buffer.getvalue()))


def thumbnail_exists(item: Item) -> bool:
    return bool(item.file) and default_storage.exists(thumbnail_name(item))
