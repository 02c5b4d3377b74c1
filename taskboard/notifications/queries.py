"""Reading a person's inbox."""

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet

from taskboard.accounts.models import User
from taskboard.notifications.models import DeliveryState, Notification, Webhook, WebhookDelivery
from taskboard.projects.models import Project

INBOX_PAGE = 50
# A bound on how long a count missed by a forgetting (a cache outage) can show.
UNREAD_COUNT_SECONDS = 300


def unread_count_key(user_id: int) -> str:
    return f"inbox-unread:{user_id}"


def unread_count(*, user: User) -> int:
    """The bell's number, drawn on every page: kept in the cache (Redis in production) and forgotten
    when it changes (`services`), so most pages count nothing."""
    key = unread_count_key(user.pk)
    count = cache.get(key)
    if count is None:
        count = Notification.objects.filter(recipient=user, read_at__isnull=True).count()
        cache.set(key, count, UNREAD_COUNT_SECONDS)
    return int(count)


def inbox(*, user: User, unread_only: bool = False) -> QuerySet[Notification]:
    """The person's notices, newest first (their own only: a notice is never anyone else's to read)."""
    rows = Notification.objects.filter(recipient=user).select_related("project")
    if unread_only:
        rows = rows.filter(read_at__isnull=True)
    return rows


def own_notification(*, user: User, pk: int) -> Notification | None:
    return Notification.objects.filter(recipient=user, pk=pk).first()


def webhooks_of(*, project: Project) -> QuerySet[Webhook]:
    return Webhook.objects.filter(project=project).annotate(
        sent=Count("deliveries", filter=Q(deliveries__state=DeliveryState.SENT)),
        failed=Count("deliveries", filter=Q(deliveries__state=DeliveryState.FAILED)),
        waiting=Count("deliveries", filter=Q(deliveries__state__in=[DeliveryState.PENDING, DeliveryState.SENDING])),
    )


def webhook_deliveries(*, webhook: Webhook) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(webhook=webhook)
