"""Webhooks: allowed URLs only, signed deliveries to a receiver the test starts, retries with backoff
when it is down, answers 500 or is slow, and the delivery log page."""

import hashlib
import hmac
import socket

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from taskboard.notifications import tasks, webhooks
from taskboard.notifications.models import DeliveryState, EventKind, WebhookDelivery
from taskboard.notifications.services import notify


def tell(project, users, key="e1", kind=EventKind.REWORK):
    return notify(kind=kind, recipients=users, event_key=key, title="cat.jpg is back", project=project, url="/work/")


@pytest.fixture
def hook(project, manager, receiver):
    return webhooks.webhook_create(project=project, url=receiver.url, events=[EventKind.REWORK], by=manager)


def verifies(secret, headers, body):
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["x-taskboard-signature"])


def test_an_event_is_delivered_once_signed(
    project, annotator, manager, hook, receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        tell(project, [annotator, manager])
        tell(project, [annotator])  # reported again: nobody is told twice, nothing is sent twice
        tell(project, [annotator], key="other", kind=EventKind.OVERDUE)  # not an event this hook wants
    ((headers, body),) = receiver.received
    assert verifies(hook.secret, headers, body)
    assert headers["x-taskboard-event"] == "rework" and headers["content-type"] == "application/json"
    (payload,) = receiver.payloads()
    assert payload["event"] == "rework" and payload["title"] == "cat.jpg is back"
    assert payload["url"] == "http://localhost:8000/work/" and payload["project"] == {"id": project.pk}
    delivery = WebhookDelivery.objects.get()
    assert (delivery.state, delivery.attempts, delivery.status_code, delivery.response) == ("sent", 1, 200, "thanks")
    assert webhooks.webhook_deliver(delivery_id=delivery.pk) == "skipped"
    assert len(receiver.received) == 1


def test_a_receiver_answering_500_is_retried_then_given_up(project, annotator, hook, receiver, settings):
    settings.WEBHOOK_MAX_TRIES = 3
    receiver.mode = "500"
    tell(project, [annotator])  # no on_commit capture: the delivery waits, as before a worker takes it
    delivery = WebhookDelivery.objects.get()
    with pytest.raises(webhooks.DeliveryFailed):
        webhooks.webhook_deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.status_code) == ("pending", 1, 500)
    assert delivery.last_error == "The receiver answered 500." and delivery.response == "boom"
    # Celery takes it from there (eager here: its retries run at once, with their backoff ignored).
    tasks.deliver_webhook.apply(args=[delivery.pk])
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts) == ("failed", 3)
    assert len(receiver.received) == 3


def test_a_receiver_back_up_gets_the_retry(project, annotator, hook, receiver):
    receiver.mode = "500"
    tell(project, [annotator])
    delivery = WebhookDelivery.objects.get()
    with pytest.raises(webhooks.DeliveryFailed):
        webhooks.webhook_deliver(delivery_id=delivery.pk)
    receiver.mode = "ok"
    assert webhooks.webhook_deliver(delivery_id=delivery.pk) == "sent"
    delivery.refresh_from_db()
    assert (delivery.state, delivery.attempts, delivery.status_code) == ("sent", 2, 200)


def test_a_receiver_that_is_down(project, annotator, hook, receiver):
    receiver.stop()
    tell(project, [annotator])
    delivery = WebhookDelivery.objects.get()
    with pytest.raises(webhooks.DeliveryFailed):
        webhooks.webhook_deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.state == "pending" and delivery.status_code is None
    assert "ConnectionRefused" in delivery.last_error


def test_a_slow_receiver_times_out_and_is_retried(project, annotator, hook, receiver):
    receiver.mode = "slow"
    tell(project, [annotator])
    delivery = WebhookDelivery.objects.get()
    with pytest.raises(webhooks.DeliveryFailed):
        webhooks.webhook_deliver(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.state == "pending" and "timed out" in delivery.last_error


def test_a_redirect_is_not_followed(project, annotator, hook, receiver):
    receiver.mode = "redirect"
    tell(project, [annotator])
    delivery = WebhookDelivery.objects.get()
    assert webhooks.webhook_deliver(delivery_id=delivery.pk) == DeliveryState.FAILED
    assert len(receiver.received) == 1


def test_backoff_grows_to_an_hour():
    assert [tasks.backoff(n) for n in (0, 1, 2, 10)] == [30, 60, 120, 3600]


@pytest.mark.parametrize(
    "url, problem",
    [
        ("ftp://example.com/x", "http:// or https://"),
        ("http://127.0.0.1:8000/hook", "internal address"),
        ("http://localhost/hook", "internal address"),
        ("http://10.1.2.3/hook", "internal address"),
        ("http://169.254.169.254/latest/meta-data", "internal address"),
        ("http://[::1]/hook", "internal address"),
        ("http://user:pw@93.184.216.34/", "no user name"),
        ("https://", "no host"),
    ],
)
def test_only_public_http_urls_are_accepted(project, manager, url, problem):
    with pytest.raises(ValidationError) as error:
        webhooks.webhook_create(project=project, url=url, events=[EventKind.REWORK], by=manager)
    assert problem in str(error.value)


def test_the_administrator_names_the_allowed_hosts(project, manager, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = [".example.org"]
    with pytest.raises(ValidationError, match="an administrator allows hosts"):
        webhooks.webhook_create(project=project, url="https://93.184.216.34/", events=["rework"], by=manager)
    settings.WEBHOOK_ALLOWED_HOSTS = ["*"]
    hook = webhooks.webhook_create(project=project, url="https://93.184.216.34/", events=["rework"], by=manager)
    assert len(hook.secret) == 64


def test_a_host_that_turns_internal_later_is_refused_at_delivery(project, annotator, manager, monkeypatch):
    hook = webhooks.webhook_create(project=project, url="https://93.184.216.34/", events=["rework"], by=manager)
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: [(2, 1, 6, "", ("10.0.0.5", 443))])
    tell(project, [annotator])
    delivery = WebhookDelivery.objects.get(webhook=hook)
    assert webhooks.webhook_deliver(delivery_id=delivery.pk) == DeliveryState.FAILED
    delivery.refresh_from_db()
    assert "internal address" in delivery.last_error


def test_the_webhook_pages_are_for_managers(client, project, manager, annotator, other_manager, receiver, settings):
    url = reverse("notifications:webhooks", args=[project.pk])
    for outsider in (annotator, other_manager):
        client.force_login(outsider)
        assert client.get(url).status_code == 404
    client.force_login(manager)
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = False
    refused = client.post(url, {"url": "http://10.0.0.1/", "events": ["rework"]})
    assert refused.status_code == 200 and "internal address" in refused.content.decode()
    settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES = True
    response = client.post(url, {"url": receiver.url, "events": ["rework", "mention"]})
    assert response.status_code == 302
    hook = project.webhooks.get()
    tell(project, [annotator])
    page = client.get(reverse("notifications:webhook", args=[project.pk, hook.pk])).content.decode()
    assert hook.secret in page and "cat.jpg is back" in page
    client.post(reverse("notifications:webhook-active", args=[project.pk, hook.pk]), {"active": "0"})
    hook.refresh_from_db()
    assert not hook.active
