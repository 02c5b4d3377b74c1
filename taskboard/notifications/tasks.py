"""Sending what people are told, by Celery: emails and webhook deliveries, with retries."""

from celery import shared_task
from django.conf import settings

from taskboard.notifications import email, webhooks


def backoff(retries: int) -> int:
    """Seconds before the next try: 30 s, 1 min, 2 min … at most an hour."""
    return int(min(3600, 30 * 2**retries))


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=None)
def send_email(self, delivery_id: int) -> None:
    try:
        email.email_send(delivery_id=delivery_id)
    except email.SendFailed as exc:
        if self.request.retries + 1 < settings.EMAIL_MAX_TRIES:
            raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc


@shared_task(ignore_result=True)
def send_digests() -> None:
    email.digests_queue()


@shared_task(bind=True, acks_late=True, ignore_result=True, max_retries=None)
def deliver_webhook(self, delivery_id: int) -> None:
    try:
        webhooks.webhook_deliver(delivery_id=delivery_id)
    except webhooks.DeliveryFailed as exc:
        raise self.retry(exc=exc, countdown=backoff(self.request.retries)) from exc
