"""An item's stored file, served only to those who may see the item."""

from django.contrib.auth.decorators import login_required
from django.views.decorators.http import require_GET

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.datasets import queries
from taskboard.datasets.files import item_file_response


@login_required
@require_GET
def item_file(request: AuthedHttpRequest, pk: int, item_pk: int):
    """An item's stored file for project members: images inline, anything else as a download."""
    item = queries.item_for_viewer(request.user, pk, item_pk)
    return item_file_response(item)
