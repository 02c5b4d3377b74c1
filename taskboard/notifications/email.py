"""Email: each notice goes out immediately, in the person's daily digest, or never, as they chose per
kind of event. Sending is Celery's job after the notice commits (`tasks.send_email`), with retries;
an `EmailDelivery` row per email, claimed before sending, keeps any email from going out twice."""

import datetime
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.notifications import tasks
from taskboard.notifications.models import (
    DeliveryState,
    EmailDelivery,
    EmailMode,
    EmailPreference,
    EventKind,
    Notification,
)


class SendFailed(Exception):
    """A send that failed and may succeed later: Celery retries it."""


def email_modes(*, user: Any) -> dict[str, str]:
    """The person's choice for each kind of event, the site's default where they made none."""
    modes = {kind: settings.NOTIFY_EMAIL_DEFAULT for kind in EventKind.values}
    modes.update(EmailPreference.objects.filter(user=user).values_list("kind", "mode"))
    return modes


@transaction.atomic
def email_preferences_set(*, user: Any, modes: dict[str, str]) -> None:
    for kind, mode in modes.items():
        if kind not in EventKind.values or mode not in EmailMode.values:
            continue
        EmailPreference.objects.update_or_create(user=user, kind=kind, defaults={"mode": mode})


def _immediate_recipients(kind: str, recipient_ids: Sequence[int]) -> list[int]:
    """Who of them wants this kind at once (people who can no longer sign in get no email)."""
    chosen = dict(EmailPreference.objects.filter(kind=kind, user_id__in=recipient_ids).values_list("user_id", "mode"))
    active = set(User.objects.filter(pk__in=recipient_ids, is_active=True).values_list("pk", flat=True))
    return [
        r for r in recipient_ids if r in active and chosen.get(r, settings.NOTIFY_EMAIL_DEFAULT) == EmailMode.IMMEDIATE
    ]


def emails_for(notifications: Iterable[Notification]) -> list[int]:
    """Queue the immediate emails of newly written notices; they are sent once the caller commits."""
    rows = list(notifications)
    if not rows:
        return []
    wanted = set(_immediate_recipients(rows[0].kind, [n.recipient_id for n in rows]))
    keys = [f"notice:{n.pk}" for n in rows if n.recipient_id in wanted]
    EmailDelivery.objects.bulk_create(
        [
            EmailDelivery(key=f"notice:{n.pk}", recipient_id=n.recipient_id, notification=n)
            for n in rows
            if n.recipient_id in wanted
        ],
        ignore_conflicts=True,
    )
    ids = list(EmailDelivery.objects.filter(key__in=keys, state=DeliveryState.PENDING).values_list("pk", flat=True))
    for delivery_id in ids:
        transaction.on_commit(partial(tasks.send_email.delay, delivery_id))
    return ids


def digests_queue(*, today: datetime.date | None = None) -> list[int]:
    """Run by Celery beat: one digest per person of yesterday's notices of the kinds they want in a
    digest. Running it again the same day queues nothing new."""
    today = today or timezone.localdate()
    day = today - datetime.timedelta(days=1)
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))
    told = set(
        Notification.objects.filter(created_at__gte=start, created_at__lt=start + datetime.timedelta(days=1))
        .values_list("recipient_id", "kind")
        .distinct()
    )
    chosen = {
        (user_id, kind): mode
        for user_id, kind, mode in EmailPreference.objects.filter(
            user_id__in={user_id for user_id, _ in told}
        ).values_list("user_id", "kind", "mode")
    }
    recipients = sorted({u for u, k in told if chosen.get((u, k), settings.NOTIFY_EMAIL_DEFAULT) == EmailMode.DIGEST})
    keys = {user_id: f"digest:{user_id}:{day.isoformat()}" for user_id in recipients}
    with transaction.atomic():
        EmailDelivery.objects.bulk_create(
            [EmailDelivery(key=key, recipient_id=user_id, digest_day=day) for user_id, key in keys.items()],
            ignore_conflicts=True,
        )
        ids = list(
            EmailDelivery.objects.filter(key__in=keys.values(), state=DeliveryState.PENDING).values_list(
                "pk", flat=True
            )
        )
        for delivery_id in ids:
            transaction.on_commit(partial(tasks.send_email.delay, delivery_id))
    return ids


def _link(url: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{url}" if url.startswith("/") else url


def _digest_notices(delivery: EmailDelivery) -> list[Notification]:
    assert delivery.digest_day is not None
    start = timezone.make_aware(datetime.datetime.combine(delivery.digest_day, datetime.time.min))
    modes = email_modes(user=delivery.recipient_id)
    kinds = [kind for kind, mode in modes.items() if mode == EmailMode.DIGEST]
    return list(
        Notification.objects.filter(
            Q(recipient_id=delivery.recipient_id, kind__in=kinds),
            created_at__gte=start,
            created_at__lt=start + datetime.timedelta(days=1),
        ).order_by("created_at", "id")
    )


def _message(delivery: EmailDelivery) -> tuple[str, str] | None:
    notice = delivery.notification
    if notice is not None:
        lines = [notice.title, "", notice.body] if notice.body else [notice.title]
        if notice.url:
            lines += ["", _link(notice.url)]
        return f"[Taskboard] {notice.title}", "\n".join(lines)
    notices = _digest_notices(delivery)
    if not notices:
        return None
    lines = [f"What happened on {delivery.digest_day:%d %B %Y}:", ""]
    for n in notices:
        lines.append(f"- {n.get_kind_display()}: {n.title}" + (f"\n  {_link(n.url)}" if n.url else ""))
    return f"[Taskboard] Your digest: {len(notices)} notice{'s' if len(notices) != 1 else ''}", "\n".join(lines)


def email_send(*, delivery_id: int) -> str:
    """Send one email. It is first claimed (pending → sending): a second run of the same delivery, a
    replayed message or a retry racing another, finds nothing to claim and sends nothing. A failed
    send goes back to pending for the next try (SendFailed); the last try leaves it failed."""
    claimed = EmailDelivery.objects.filter(pk=delivery_id, state=DeliveryState.PENDING).update(
        state=DeliveryState.SENDING, attempts=F("attempts") + 1
    )
    if not claimed:
        return "skipped"
    delivery = EmailDelivery.objects.select_related("notification", "recipient").get(pk=delivery_id)
    message = _message(delivery)
    if message is None:
        EmailDelivery.objects.filter(pk=delivery_id).update(state=DeliveryState.SENT, last_error="Nothing to send.")
        return "empty"
    subject, body = message
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [delivery.recipient.email])
    except Exception as exc:  # any backend's failure (SMTP, an ESP's API) is worth another try
        last = delivery.attempts >= settings.EMAIL_MAX_TRIES
        EmailDelivery.objects.filter(pk=delivery_id).update(
            state=DeliveryState.FAILED if last else DeliveryState.PENDING,
            last_error=f"{exc.__class__.__name__}: {exc}"[:2000],
        )
        if last:
            return "failed"
        raise SendFailed(str(exc)) from exc
    EmailDelivery.objects.filter(pk=delivery_id).update(state=DeliveryState.SENT, sent_at=timezone.now())
    return "sent"
