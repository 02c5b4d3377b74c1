"""An item's stored file, served only to those who may see the item."""

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404
from django.views.decorators.http import require_GET

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.datasets import queries, services, thumbnails
from taskboard.datasets.files import item_file_response


@login_required
@require_GET
def item_file(request: AuthedHttpRequest, pk: int, item_pk: int):
    """An item's stored file for project members: images inline, anything else as a download."""
    item = queries.item_for_viewer(request.user, pk, item_pk)
    return item_file_response(item)


@login_required
@require_GET
def item_thumbnail(request: AuthedHttpRequest, pk: int, item_pk: int):
    """An image item's thumbnail (its file when it has none), for those who may see the item."""
    item = queries.item_for_viewer(request.user, pk, item_pk)
    if not item.file or item.mimetype not in {m for m, _ in services.IMAGE_FORMATS.values()}:
        raise Http404("This item has no image stored.")
    if thumbnails.thumbnail_exists(item):
        response = FileResponse(default_storage.open(thumbnails.thumbnail_name(item), "rb"), content_type="image/jpeg")
    else:
        response = FileResponse(item.file.open("rb"), content_type=item.mimetype)
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["Cache-Control"] = "private, max-age=3600"
    return response
