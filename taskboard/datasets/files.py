"""An item's stored file as a response: the one way stored files leave the server, for the page view
and the API alike, each of which has first checked that the person may see the item.

MEDIA_URL is never served (not even with DEBUG on). Behind nginx, set `MEDIA_ACCEL_REDIRECT` to an
`internal` location that maps to MEDIA_ROOT: the response then carries only headers and
`X-Accel-Redirect`, and nginx sends the bytes (Django checked who may have them).
"""

from urllib.parse import quote

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header

from taskboard.datasets import services
from taskboard.datasets.models import Item


def item_file_response(item: Item) -> HttpResponseBase:
    """Images inline (as their own type), anything else as a download; sandboxed, never sniffed."""
    if not item.file:
        raise Http404("This item has no stored file.")
    inline = item.is_image and item.mimetype in {m for m, _ in services.IMAGE_FORMATS.values()}
    content_type = item.mimetype if inline else services.OCTET_STREAM
    accel: str = getattr(settings, "MEDIA_ACCEL_REDIRECT", "")
    response: HttpResponseBase
    if accel:
        response = HttpResponse(content_type=content_type)
        response["X-Accel-Redirect"] = accel.rstrip("/") + "/" + quote(item.file.name or "")
        response["Content-Disposition"] = content_disposition_header(not inline, item.name) or ""
    else:
        response = FileResponse(
            item.file.open("rb"), as_attachment=not inline, filename=item.name, content_type=content_type
        )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, no-store"
    return response
