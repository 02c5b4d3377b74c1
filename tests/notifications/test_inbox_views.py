"""The inbox pages: the bell, the list, following a link, mark read."""

import pytest
from django.urls import reverse

from taskboard.notifications.models import EventKind, Notification
from taskboard.notifications.services import notify


@pytest.fixture
def told(project, annotator, manager):
    notify(kind=EventKind.REWORK, recipients=[annotator], event_key="e1", title="Back for rework", url="/work/")
    notify(
        kind=EventKind.OVERDUE,
        recipients=[annotator, manager],
        event_key="e2",
        title="Boxes is overdue",
        project=project,
    )
    return Notification.objects.filter(recipient=annotator)


def test_the_bell_counts_unread(client, annotator, told):
    client.force_login(annotator)
    page = client.get(reverse("notifications:bell"))
    assert page.status_code == 200
    assert b'data-count="2"' in page.content and b"every 30s" in page.content


def test_the_inbox_lists_own_notices_only(client, annotator, manager, told):
    client.force_login(annotator)
    page = client.get(reverse("notifications:inbox")).content.decode()
    assert "Back for rework" in page and "Boxes is overdue" in page and "2 unread" in page
    client.force_login(manager)
    page = client.get(reverse("notifications:inbox")).content.decode()
    assert "Back for rework" not in page


def test_opening_a_notice_marks_it_read_and_follows_its_link(client, annotator, told):
    client.force_login(annotator)
    rework = told.get(event_key="e1")
    assert client.get(reverse("notifications:open", args=[rework.pk])).status_code == 405  # no write on a GET
    response = client.post(reverse("notifications:open", args=[rework.pk]))
    assert response.status_code == 302 and response["Location"] == "/work/"
    rework.refresh_from_db()
    assert rework.is_read


def test_mark_read_and_mark_all_read(client, annotator, manager, told):
    client.force_login(manager)
    theirs = told.get(event_key="e1")
    assert client.post(reverse("notifications:read", args=[theirs.pk])).status_code == 404
    client.force_login(annotator)
    response = client.post(reverse("notifications:read", args=[theirs.pk]), headers={"HX-Request": "true"})
    assert response.status_code == 200 and response["HX-Trigger"] == "inbox-changed"
    assert "1 unread" in response.content.decode()
    client.post(reverse("notifications:read-all"))
    assert not Notification.objects.filter(recipient=annotator, read_at__isnull=True).exists()
    assert Notification.objects.filter(recipient=manager, read_at__isnull=True).count() == 1


def test_every_page_arrives_with_the_count(client, annotator, told):
    client.force_login(annotator)
    page = client.get(reverse("work:my-work")).content.decode()
    assert 'id="bell"' in page and 'data-count="2"' in page and 'hx-trigger="every 30s' in page
