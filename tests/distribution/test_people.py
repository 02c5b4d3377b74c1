"""Per-person caps and the people view: caps stop pulls and refuse moves past them; the view shows
load, pace, pauses, caps and leases; pause, resume, hand-off and caps work from the page, the API
and the admin."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from taskboard.annotation import caps, moves, people
from taskboard.annotation.models import Assignment, Cap, Pause, TaskItem
from taskboard.annotation.pulling import pulling_claim
from taskboard.annotation.selection import Selection
from taskboard.api.ids import api_id
from taskboard.dashboards.people_view import people_rows
from taskboard.work import flow
from tests.annotation.conftest import assert_counters
from tests.factories import create_task, make_items

HX = {"HX-Request": "true"}


@pytest.fixture
def distributed(dataset, recipe, manager, annotator, annotator2, annotator3):
    make_items(dataset, {"/d": 30})
    return create_task(
        dataset=dataset,
        created_by=manager,
        name="dist",
        selection=Selection(mode="folder", folder="/d"),
        assignees=[annotator, annotator2, annotator3],
    )


def held(task, user):
    return TaskItem.objects.filter(task=task, assignment__assignee=user).count()


def complete(task, user, n):
    rows = TaskItem.objects.filter(task=task, assignment__assignee=user, status=None).order_by("rank")[:n]
    for row in list(rows):
        flow.item_status_set(task=task, item=row.item, status="completed", by=user)


def test_a_count_cap_stops_pulls(pulling_task, manager, annotator):
    caps.cap_set(task=pulling_task, user=annotator, by=manager, max_items=4)
    complete(pulling_task, annotator, 3)  # the refill after the statuses takes only 1 more
    assert held(pulling_task, annotator) == 4
    complete(pulling_task, annotator, 1)
    assert pulling_claim(task=pulling_task, user=annotator) == 0
    assert held(pulling_task, annotator) == 4
    caps.cap_set(task=pulling_task, user=annotator, by=manager)  # lifted
    assert pulling_claim(task=pulling_task, user=annotator) == 3
    assert_counters(pulling_task)


def test_a_share_cap_is_a_share_of_the_tasks_items(pulling_task, manager, annotator):
    caps.cap_set(task=pulling_task, user=annotator, by=manager, max_share=10)  # 10% of 30 = 3
    complete(pulling_task, annotator, 3)
    assert held(pulling_task, annotator) == 3


def test_cap_input_is_checked(pulling_task, manager, annotator, other_manager):
    with pytest.raises(ValidationError, match="not both"):
        caps.cap_set(task=pulling_task, user=annotator, by=manager, max_items=3, max_share=5)
    with pytest.raises(ValidationError, match="1 to 100"):
        caps.cap_set(task=pulling_task, user=annotator, by=manager, max_share=101)
    with pytest.raises(ValidationError, match="not a member"):
        caps.cap_set(task=pulling_task, user=other_manager, by=manager, max_items=3)
    assert not Cap.objects.exists()


def test_a_reassign_past_the_cap_is_refused_and_writes_nothing(distributed, manager, annotator, annotator2):
    caps.cap_set(task=distributed, user=annotator2, by=manager, max_items=15)
    mine = Assignment.objects.get(task=distributed, assignee=annotator)
    with pytest.raises(ValidationError, match="cap is 15"):
        moves.assignment_reassign(assignment=mine, to_user=annotator2, by=manager)
    assert held(distributed, annotator) == 10 and held(distributed, annotator2) == 10


def test_hand_off_spreads_a_paused_persons_unstarted_items(
    distributed, project, manager, annotator, annotator2, annotator3
):
    complete(distributed, annotator, 2)
    people.pause_person(project=project, user=annotator, by=manager)
    people.pause_person(project=project, user=annotator3, task=distributed, by=manager)
    (result,) = moves.person_hand_off(project=project, user=annotator, by=manager)
    assert result.moved == 8
    # The only unpaused other person takes them all; the done two stay.
    assert held(distributed, annotator) == 2 and held(distributed, annotator2) == 18
    assert_counters(distributed)


def test_hand_off_sends_pulled_batches_back(pulling_task, project, manager, annotator):
    (result,) = moves.person_hand_off(project=project, user=annotator, by=manager)
    assert (result.moved, result.to_queue) == (0, 3)


def test_people_view_rows(distributed, pulling_task, project, manager, annotator):
    caps.cap_set(task=distributed, user=annotator, by=manager, max_share=50)
    people.pause_person(project=project, user=annotator, task=pulling_task, by=manager)
    complete(distributed, annotator, 2)
    row = next(r for r in people_rows(project) if r.user == annotator)
    loads = {load.task.name: load for load in row.loads}
    assert (loads["dist"].open, loads["dist"].held, loads["dist"].cap) == (8, 10, 15)
    assert loads["pull"].paused and loads["pull"].open == 3
    assert row.done_today == 2 and row.done_week == 2
    assert row.last_active is not None
    assert (row.leases, row.leased_items) == (1, 3)


def test_people_page_levers_with_htmx(client, distributed, project, manager, annotator, annotator2):
    client.force_login(manager)
    page = client.get(reverse("dashboards:people-control", args=[project.pk])).content.decode()
    assert 'data-person="bob@example.com"' in page and "Hand unstarted items to others" in page
    url = reverse("dashboards:person-pause", args=[project.pk, annotator.pk])
    response = client.post(url, {"task": "", "reason": "away"}, headers=HX)
    body = response.content.decode()
    assert body.lstrip().startswith(f'<tr id="person-{annotator.pk}"') and "everywhere" in body
    assert Pause.objects.filter(user=annotator, task=None).exists()
    response = client.post(reverse("dashboards:person-hand-off", args=[project.pk, annotator.pk]), {}, headers=HX)
    assert "10 unstarted item(s) handed to others" in response.content.decode()
    assert held(distributed, annotator) == 0
    client.post(reverse("dashboards:person-resume", args=[project.pk, annotator.pk]), {})
    assert not Pause.objects.filter(user=annotator).exists()
    cap = reverse("dashboards:person-cap", args=[project.pk, annotator2.pk])
    client.post(cap, {"task": distributed.pk, "max_items": 20})
    assert Cap.objects.get(user=annotator2).max_items == 20
    bad = client.post(cap, {"task": distributed.pk, "max_items": 3, "max_share": 4}, headers=HX)
    assert "not both" in bad.content.decode()


def test_people_page_is_for_managers(client, project, annotator, other_manager):
    for user in (annotator, other_manager):
        client.force_login(user)
        assert client.get(reverse("dashboards:people-control", args=[project.pk])).status_code == 404
        response = client.post(reverse("dashboards:person-pause", args=[project.pk, user.pk]), {})
        assert response.status_code == 404


def test_people_api(api, distributed, project, manager, annotator, annotator2):
    base = f"/api/v1/projects/{api_id('project', project.pk)}/people"
    body = api(manager).get(base).json()
    bob = next(p for p in body["people"] if p["annotator"] == annotator.email)
    assert bob["openLoad"][0]["open"] == 10
    assert api(manager).post(base + "/pause", {"annotator": annotator.email}).json()["paused"]
    handed = api(manager).post(base + "/handOff", {"annotator": annotator.email}).json()
    assert handed["tasks"][0]["moved"] == 10
    assert api(manager).post(base + "/resume", {"annotator": annotator.email}).json()["resumed"] == 1
    assert api(manager).post(base + "/nope", {"annotator": annotator.email}).status_code == 404
    caps_path = f"/api/v1/annotationtasks/{api_id('task', distributed.pk)}/caps"
    capped = api(manager).put(caps_path, {"annotator": annotator2.email, "maxShare": 50}).json()
    assert capped["caps"] == [{"annotator": annotator2.email, "maxItems": None, "maxShare": 50, "items": 15}]
    assert api(manager).put(caps_path, {"annotator": annotator2.email, "maxShare": 0}).status_code == 400
    assert api(annotator).get(base).status_code == 403


def test_admin_hands_off_through_the_service(admin_client, distributed, project, manager, annotator):
    pause = people.pause_person(project=project, user=annotator, by=manager)
    url = reverse("admin:annotation_pause_changelist")
    admin_client.post(url, {"action": "hand_off", "_selected_action": [pause.pk]})
    assert held(distributed, annotator) == 0


def test_admin_caps_through_the_service(admin_client, distributed, other_manager, annotator):
    add = reverse("admin:annotation_cap_add")
    # Not a member of the project: refused with the service's words, nothing written.
    page = admin_client.post(add, {"task": distributed.pk, "user": other_manager.pk, "max_items": 5})
    assert "is not a member of this project" in page.content.decode()
    page = admin_client.post(add, {"task": distributed.pk, "user": annotator.pk})
    assert "Give a count or a share" in page.content.decode()
    assert not Cap.objects.exists()
    admin_client.post(add, {"task": distributed.pk, "user": annotator.pk, "max_share": 20})
    cap = Cap.objects.get()
    assert cap.max_share == 20 and cap.by is not None and cap.by.is_superuser
    assert caps.room_left(task=distributed, user_id=annotator.pk, held=held(distributed, annotator)) == 0
    admin_client.post(reverse("admin:annotation_cap_change", args=[cap.pk]), {"max_items": 12})
    assert Cap.objects.get().max_items == 12 and Cap.objects.get().max_share is None


def test_the_admin_project_page_links_the_people_view(admin_client, project):
    page = admin_client.get(reverse("admin:projects_project_change", args=[project.pk])).content.decode()
    assert reverse("dashboards:people-control", args=[project.pk]) in page
    assert reverse("dashboards:stuck-panel", args=[project.pk]) in page
    assert reverse("annotation:project-operations", args=[project.pk]) in page
    assert (
        admin_client.get(
            reverse("admin:annotation_cap_changelist"), {"task__project__id__exact": project.pk}
        ).status_code
        == 200
    )
