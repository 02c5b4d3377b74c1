"""Reading a person's inbox."""

from django.db.models import QuerySet

from taskboard.accounts.models import User
from taskboard.notifications.models import Notification

INBOX_PAGE = 50


def unread_count(*, user: User) -> int:
    return Notification.objects.filter(recipient=user, read_at__isnull=True).count()


def inbox(*, user: User, unread_only: bool = False) -> QuerySet[Notification]:
    """The person's notices, newest first (their own only: a notice is never anyone else's to read)."""
    rows = Notification.objects.filter(recipient=user).select_related("project")
    if unread_only:
        rows = rows.filter(read_at__isnull=True)
    return rows


def own_notification(*, user: User, pk: int) -> Notification | None:
    return Notification.objects.filter(recipient=user, pk=pk).first()
