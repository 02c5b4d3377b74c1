"""Leases from the pages and the API: who holds what and until when; releasing; the lease length."""

from django.urls import reverse

from taskboard.annotation.models import AnnotationTask, Lease, TaskItem
from taskboard.api.ids import api_id

HX = {"HX-Request": "true"}


def test_task_page_shows_holders_and_until_when(client, manager, pulling_task, annotator):
    client.force_login(manager)
    body = client.get(reverse("dashboards:task-detail", args=[pulling_task.pk])).content.decode()
    assert 'id="task-leases"' in body
    assert "bob@example.com holds <strong>3</strong> until" in body
    page = client.get(reverse("annotation:task-leases", args=[pulling_task.pk])).content.decode()
    assert 'data-holder="bob@example.com"' in page and "Release all" in page


def test_release_a_person_from_the_page_with_htmx(client, manager, pulling_task, annotator):
    client.force_login(manager)
    url = reverse("annotation:task-lease-release", args=[pulling_task.pk])
    response = client.post(url, {"user": annotator.pk}, headers=HX)
    assert response.status_code == 200
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="lease-holders"')
    assert 'data-holder="bob@example.com"' not in body and "Released 3 item(s)" in body
    assert not TaskItem.objects.filter(task=pulling_task, assignment__assignee=annotator, status=None).exists()


def test_release_one_item_and_bad_input(client, manager, pulling_task, annotator):
    client.force_login(manager)
    url = reverse("annotation:task-lease-release", args=[pulling_task.pk])
    row = TaskItem.objects.filter(task=pulling_task, assignment__assignee=annotator).first()
    client.post(url, {"item": row.item_id})
    assert TaskItem.objects.get(pk=row.pk).in_queue
    body = client.post(url, {}, headers=HX).content.decode()
    assert "Release either one person" in body


def test_lease_length_form(client, manager, pulling_task):
    client.force_login(manager)
    url = reverse("annotation:task-lease-length", args=[pulling_task.pk])
    assert client.post(url, {"lease_minutes": 15}).status_code == 302
    assert AnnotationTask.objects.get(pk=pulling_task.pk).lease_seconds == 900
    assert client.post(url, {"lease_minutes": 0}).status_code == 400


def test_annotators_and_other_managers_get_404(client, annotator, other_manager, pulling_task):
    for user in (annotator, other_manager):
        client.force_login(user)
        assert client.get(reverse("annotation:task-leases", args=[pulling_task.pk])).status_code == 404
        url = reverse("annotation:task-lease-release", args=[pulling_task.pk])
        assert client.post(url, {"user": user.pk}).status_code == 404


def test_api_lists_releases_and_sets_length(api, manager, annotator, annotator2, pulling_task):
    path = f"/api/v1/annotationtasks/{api_id('task', pulling_task.pk)}/leases"
    body = api(manager).get(path).json()
    assert body["leaseMinutes"] == 60
    assert {h["annotator"]: h["itemsHeld"] for h in body["holders"]} == {annotator.email: 3, annotator2.email: 3}
    released = api(manager).post(path + "/release", {"annotator": annotator.email}).json()
    assert released["released"] == 3 and released["leasesEnded"] == 1
    row = TaskItem.objects.filter(task=pulling_task, assignment__assignee=annotator2).first()
    one = api(manager).post(path + "/release", {"itemId": api_id("item", row.item_id)}).json()
    assert one["released"] == 1
    assert api(manager).patch(path, {"leaseMinutes": 5}).json()["leaseSeconds"] == 300
    bad = api(manager).patch(path, {"leaseMinutes": 0})
    assert bad.status_code == 400 and "lease_minutes" in bad.json()["message"]
    assert api(manager).post(path + "/release", {}).status_code == 400
    assert api(annotator).get(path).status_code == 403
    assert Lease.objects.filter(task=pulling_task, end="released").count() == 1


def test_admin_releases_leases_through_the_service(admin_client, pulling_task, annotator):
    lease = Lease.objects.get(task=pulling_task, holder=annotator)
    url = reverse("admin:annotation_lease_changelist")
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"action": "release", "_selected_action": [lease.pk]})
    assert response.status_code == 302
    assert Lease.objects.get(pk=lease.pk).end == "released"
    assert not TaskItem.objects.filter(task=pulling_task, assignment__assignee=annotator, status=None).exists()


def test_admin_releases_chosen_items_all_or_nothing(admin_client, pulling_task, annotator):
    url = reverse("admin:annotation_taskitem_changelist")
    held = list(
        TaskItem.objects.filter(task=pulling_task, assignment__assignee=annotator)
        .order_by("rank")
        .values_list("pk", flat=True)
    )
    queued = TaskItem.objects.filter(task=pulling_task, in_queue=True).values_list("pk", flat=True)[0]
    page = admin_client.post(url, {"action": "release", "_selected_action": [held[0], queued]}, follow=True)
    assert "1 of the 2 items: nobody holds. Nothing was changed." in page.content.decode()
    assert TaskItem.objects.filter(pk__in=held, in_queue=False).count() == 3
    page = admin_client.post(url, {"action": "release", "_selected_action": held[:2]}, follow=True)
    assert "2 item(s) back in the queue" in page.content.decode()
    assert TaskItem.objects.filter(pk__in=held[:2], in_queue=True).count() == 2
    lease = Lease.objects.get(task=pulling_task, holder=annotator)
    assert lease.ended_at is None  # it runs on for the item still held
