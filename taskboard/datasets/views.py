"""An item's stored file, served only to those who may see the item."""

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404
from django.views.decorators.http import require_GET

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.datasets import queries, services


@login_required
@require_GET
def item_file(request: AuthedHttpRequest, pk: int, item_pk: int):
    """An item's stored file for project members: images inline, anything else as a download."""
    item = queries.item_for_viewer(request.user, pk, item_pk)
    if not item.file:
        raise Http404("This item has no stored file.")
    inline = item.is_image and item.mimetype in {m for m, _ in services.IMAGE_FORMATS.values()}
    response = FileResponse(
        item.file.open("rb"),
        as_attachment=not inline,
        filename=item.name,
        content_type=item.mimetype if inline else services.OCTET_STREAM,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
