"""Telling people. Services call `notify` by name when something happens that someone should know;
it writes each person's inbox row in the caller's transaction, once per event."""

from collections.abc import Iterable
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from taskboard.notifications.email import emails_for
from taskboard.notifications.models import EventKind, Notification
from taskboard.notifications.queries import unread_count_key
from taskboard.notifications.webhooks import deliveries_for


@transaction.atomic
def notify(
    *,
    kind: EventKind | str,
    recipients: Iterable[Any],
    event_key: str,
    title: str,
    project: Any = None,
    url: str = "",
    body: str = "",
    data: dict[str, Any] | None = None,
) -> int:
    """Tell each recipient (users, or their ids) once about an event. `event_key` names the event: the
    same event reported again (a replayed job, a retried request) tells nobody twice. Returns how many
    were told now."""
    ids = sorted({getattr(r, "pk", r) for r in recipients if r is not None})
    if not ids:
        return 0
    key = event_key[:200]
    already = set(
        Notification.objects.filter(event_key=key, recipient_id__in=ids).values_list("recipient_id", flat=True)
    )
    Notification.objects.bulk_create(
        [
            Notification(
                recipient_id=user_id,
                project_id=getattr(project, "pk", project),
                kind=kind,
                title=title[:300],
                body=body,
                url=url[:500],
                event_key=key,
                data=data or {},
            )
            for user_id in ids
        ],
        ignore_conflicts=True,
    )
    new = list(Notification.objects.filter(event_key=key, recipient_id__in=ids).exclude(recipient_id__in=already))
    _forget_unread_counts([n.recipient_id for n in new])
    emails_for(new)
    if new:
        deliveries_for(new[0])
    return len(new)


def _forget_unread_counts(user_ids: Iterable[int]) -> None:
    """The bells' cached counts are forgotten now, for reads in this transaction, and again once it
    commits, for a page that cached the old count in between."""
    keys = [unread_count_key(user_id) for user_id in set(user_ids)]
    if keys:
        cache.delete_many(keys)
        transaction.on_commit(lambda: cache.delete_many(keys))


def mark_read(*, user: Any, notification_ids: Iterable[int]) -> int:
    """Mark the person's own notices read (others' are left alone); returns how many changed."""
    changed = Notification.objects.filter(recipient=user, pk__in=list(notification_ids), read_at__isnull=True).update(
        read_at=timezone.now()
    )
    _forget_unread_counts([user.pk])
    return changed


def mark_all_read(*, user: Any) -> int:
    changed = Notification.objects.filter(recipient=user, read_at__isnull=True).update(read_at=timezone.now())
    _forget_unread_counts([user.pk])
    return changed
