"""Email: immediately, in a daily digest or never, per person and kind; sent after commit, retried,
never twice for one event."""

import datetime

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from taskboard.notifications import email, tasks
from taskboard.notifications.models import DeliveryState, EmailDelivery, EmailMode, EmailPreference, EventKind
from taskboard.notifications.services import notify


def tell(users, key="e1", kind=EventKind.REWORK, title="cat.jpg is back for rework", **extra):
    return notify(kind=kind, recipients=users, event_key=key, title=title, url="/work/assignments/1/", **extra)


def test_a_notice_is_emailed_at_once_after_commit(annotator, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        tell([annotator], body="Missed the bike")
        assert mail.outbox == []  # nothing leaves before the notice is committed
    (sent,) = mail.outbox
    assert sent.to == ["bob@example.com"]
    assert sent.subject == "[Taskboard] cat.jpg is back for rework"
    assert "Missed the bike" in sent.body and "http://localhost:8000/work/assignments/1/" in sent.body
    assert EmailDelivery.objects.get().state == DeliveryState.SENT


def test_the_same_event_is_never_emailed_twice(annotator, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        tell([annotator])
        tell([annotator])
    delivery = EmailDelivery.objects.get()
    # A replayed Celery message for the same delivery finds it sent and sends nothing.
    assert email.email_send(delivery_id=delivery.pk) == "skipped"
    tasks.send_email.apply(args=[delivery.pk])
    assert len(mail.outbox) == 1


def test_never_sends_nothing_and_digest_waits_for_the_day(annotator, manager, django_capture_on_commit_callbacks):
    EmailPreference.objects.create(user=annotator, kind=EventKind.REWORK, mode=EmailMode.NEVER)
    EmailPreference.objects.create(user=manager, kind=EventKind.REWORK, mode=EmailMode.DIGEST)
    with django_capture_on_commit_callbacks(execute=True):
        tell([annotator, manager])
        tell([manager], key="e2", title="dog.jpg is back for rework")
    assert mail.outbox == []

    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    with django_capture_on_commit_callbacks(execute=True):
        email.digests_queue(today=tomorrow)
        email.digests_queue(today=tomorrow)  # beat runs hourly: the day's digest goes once
    (digest,) = mail.outbox
    assert digest.to == ["alice@example.com"]
    assert digest.subject == "[Taskboard] Your digest: 2 notices"
    assert "cat.jpg" in digest.body and "dog.jpg" in digest.body


class FlakyBackend:
    fails = 0

    def __init__(self, *args, **kwargs):
        pass

    def send_messages(self, messages):
        if FlakyBackend.fails:
            FlakyBackend.fails -= 1
            raise ConnectionRefusedError("SMTP server down")
        mail.outbox.extend(messages)
        return len(messages)


@pytest.fixture
def flaky(settings):
    settings.EMAIL_BACKEND = "tests.notifications.test_email.FlakyBackend"
    settings.EMAIL_MAX_TRIES = 3
    mail.outbox = []
    yield FlakyBackend
    FlakyBackend.fails = 0


def test_a_failed_send_is_retried_until_it_goes(annotator, flaky, django_capture_on_commit_callbacks):
    flaky.fails = 2
    with django_capture_on_commit_callbacks(execute=True):
        tell([annotator])
    delivery = EmailDelivery.objects.get()
    # Celery runs eagerly here: its retries run at once, the third try gets through.
    assert (delivery.state, delivery.attempts) == (DeliveryState.SENT, 3)
    assert len(mail.outbox) == 1


def test_the_last_failed_try_leaves_it_failed(annotator, flaky, django_capture_on_commit_callbacks):
    flaky.fails = 10
    with django_capture_on_commit_callbacks(execute=True):
        tell([annotator])
    delivery = EmailDelivery.objects.get()
    assert (delivery.state, delivery.attempts) == (DeliveryState.FAILED, 3)
    assert "SMTP server down" in delivery.last_error
    assert mail.outbox == []


def test_the_settings_page_saves_each_choice(client, annotator):
    client.force_login(annotator)
    page = client.get(reverse("notifications:settings"))
    assert page.status_code == 200 and b"Mentioned in a comment" in page.content
    data = {kind: EmailMode.IMMEDIATE for kind in EventKind.values} | {EventKind.MENTION: EmailMode.DIGEST}
    assert client.post(reverse("notifications:settings"), data).status_code == 302
    assert email.email_modes(user=annotator)[EventKind.MENTION] == EmailMode.DIGEST
    assert client.post(reverse("notifications:settings"), data | {"rework": "loud"}).status_code == 200


def test_people_who_cannot_sign_in_get_no_email(annotator, django_capture_on_commit_callbacks):
    annotator.is_active = False
    annotator.save()
    with django_capture_on_commit_callbacks(execute=True):
        tell([annotator])
    assert mail.outbox == [] and not EmailDelivery.objects.exists()
