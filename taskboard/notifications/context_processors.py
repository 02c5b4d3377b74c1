from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from taskboard.notifications.queries import unread_count


def inbox(request: HttpRequest) -> dict[str, Any]:
    """The unread count the top bar's bell shows, counted only when a page draws the bell: the page
    arrives with it, so no request races the page's own to fetch it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"inbox_unread": SimpleLazyObject(lambda: unread_count(user=user))}
