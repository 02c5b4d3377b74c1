"""Reversible bulk operations: reassign, redistribute, hand-off and bulk priority are recorded as one
operation each and undone as one, as long as their items have not moved since; from the pages
(htmx), the API and the admin."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from taskboard.annotation import bulk_status, moves, operations, people, priority
from taskboard.annotation.models import Assignment, BulkOperation, TaskItem, WorkloadEntry
from taskboard.annotation.selection import Selection
from taskboard.annotation.workload import WorkloadUnit
from taskboard.api.ids import api_id
from taskboard.work import flow
from tests.annotation.conftest import assert_counters
from tests.factories import create_task, make_items

HX = {"HX-Request": "true"}


@pytest.fixture
def task(dataset, recipe, manager, annotator, annotator2):
    make_items(dataset, {"/d": 20})
    return create_task(
        dataset=dataset,
        created_by=manager,
        name="dist",
        selection=Selection(mode="all"),
        assignees=[annotator, annotator2],
    )


def holding(task):
    return dict(TaskItem.objects.filter(task=task).values_list("item_id", "assignment__assignee__email"))


def loads(task):
    return sorted(WorkloadEntry.objects.filter(task=task).values_list("assignee__email", "load"))


def test_reassign_is_one_operation_and_undo_puts_everything_back(task, manager, annotator, annotator3):
    before, before_loads = holding(task), loads(task)
    mine = Assignment.objects.get(task=task, assignee=annotator)
    first = mine.task_items.order_by("rank").first()
    flow.item_status_set(task=task, item=first.item, status="completed", by=annotator)
    moves.assignment_reassign(assignment=mine, to_user=annotator3, by=manager)
    operation = BulkOperation.objects.get(kind="reassign")
    assert operation.count == 9 and operation.changes.count() == 9
    assert operations.operation_undo(operation=operation, by=manager) == 9
    assert holding(task) == before and loads(task) == before_loads
    assert not Assignment.objects.get(task=task, assignee=annotator).removed
    assert Assignment.objects.get(task=task, assignee=annotator3).removed
    assert BulkOperation.objects.get(pk=operation.pk).undone_at is not None
    assert_counters(task)
    with pytest.raises(ValidationError, match="already undone"):
        operations.operation_undo(operation=operation, by=manager)


def test_undo_is_refused_once_an_item_moved_or_was_worked_on(task, manager, annotator, annotator2, annotator3):
    mine = Assignment.objects.get(task=task, assignee=annotator)
    moves.assignment_reassign(assignment=mine, to_user=annotator3, by=manager)
    operation = BulkOperation.objects.get(kind="reassign")
    theirs = Assignment.objects.get(task=task, assignee=annotator3)
    row = theirs.task_items.order_by("rank").first()
    flow.item_status_set(task=task, item=row.item, status="completed", by=annotator3)
    after = holding(task)
    with pytest.raises(ValidationError, match="1 of the 10 items"):
        operations.operation_undo(operation=operation, by=manager)
    assert holding(task) == after  # nothing moved
    flow.item_status_clear(task=task, item=row.item, by=annotator3)
    moves.assignment_redistribute(assignment=theirs, workload=[WorkloadUnit(annotator2, 100)], by=manager)
    with pytest.raises(ValidationError, match="moved or been worked on since"):
        operations.operation_undo(operation=operation, by=manager)


def test_redistribute_and_hand_off_undo(task, project, manager, annotator, annotator2, annotator3):
    before = holding(task)
    mine = Assignment.objects.get(task=task, assignee=annotator)
    moves.assignment_redistribute(
        assignment=mine, workload=[WorkloadUnit(annotator2, 50), WorkloadUnit(annotator3, 50)], by=manager
    )
    operations.operation_undo(operation=BulkOperation.objects.get(kind="redistribute"), by=manager)
    assert holding(task) == before
    people.pause_person(project=project, user=annotator2, by=manager)
    moves.person_hand_off(project=project, user=annotator2, by=manager)
    assert set(holding(task).values()) == {annotator.email}
    operations.operation_undo(operation=BulkOperation.objects.get(kind="hand_off"), by=manager)
    assert holding(task) == before
    assert_counters(task)


def test_bulk_priority_undo(task, manager, annotator):
    priority.items_priority_set(task=task, selection=Selection(mode="folder", folder="/d"), priority=90, by=manager)
    operation = BulkOperation.objects.get(kind="priority")
    assert operation.count == 20 and operation.rows.count() == 20
    assert operations.operation_undo(operation=operation, by=manager) == 20
    assert set(TaskItem.objects.filter(task=task).values_list("priority", flat=True)) == {50}
    priority.items_priority_set(task=task, selection=None, priority=80, by=manager)
    later = BulkOperation.objects.filter(kind="priority").latest("id")
    row = TaskItem.objects.filter(task=task).first()
    TaskItem.objects.filter(pk=row.pk).update(priority=10)
    with pytest.raises(ValidationError, match="1 of the 20 items it changed have had their priority changed"):
        operations.operation_undo(operation=later, by=manager)


def test_history_page_undo_with_htmx_and_task_page(client, task, project, manager, annotator, annotator3):
    mine = Assignment.objects.get(task=task, assignee=annotator)
    moves.assignment_reassign(assignment=mine, to_user=annotator3, by=manager)
    operation = BulkOperation.objects.get()
    client.force_login(manager)
    page = client.get(reverse("annotation:project-operations", args=[project.pk])).content.decode()
    assert f'id="operation-{operation.pk}"' in page and "Undo" in page
    task_page = client.get(reverse("dashboards:task-detail", args=[task.pk])).content.decode()
    assert f'id="operation-{operation.pk}"' in task_page
    response = client.post(reverse("annotation:operation-undo", args=[operation.pk]), headers=HX)
    body = response.content.decode()
    assert body.lstrip().startswith(f'<tr id="operation-{operation.pk}"') and "undone" in body
    assert "Undone: 10 item(s)" in body


def test_history_is_for_managers(client, task, project, manager, annotator, annotator3, other_manager):
    moves.assignment_reassign(
        assignment=Assignment.objects.get(task=task, assignee=annotator), to_user=annotator3, by=manager
    )
    operation = BulkOperation.objects.get()
    for user in (annotator, other_manager):
        client.force_login(user)
        assert client.get(reverse("annotation:project-operations", args=[project.pk])).status_code == 404
        assert client.post(reverse("annotation:operation-undo", args=[operation.pk])).status_code == 404
    assert BulkOperation.objects.get().undone_at is None


def test_operations_api(api, task, project, manager, annotator, annotator3):
    moves.assignment_reassign(
        assignment=Assignment.objects.get(task=task, assignee=annotator), to_user=annotator3, by=manager
    )
    listed = api(manager).get(f"/api/v1/projects/{api_id('project', project.pk)}/operations").json()["items"]
    assert [(o["type"], o["itemsCount"]) for o in listed] == [("reassign", 10)]
    path = f"/api/v1/operations/{listed[0]['id']}/undo"
    assert api(annotator).post(path).status_code == 404
    assert api(manager).post(path).json()["restoredItemsCount"] == 10
    again = api(manager).post(path)
    assert again.status_code == 409 and "already undone" in again.json()["message"]


def test_admin_undo_through_the_service(admin_client, task, manager, annotator, annotator3):
    before = holding(task)
    moves.assignment_reassign(
        assignment=Assignment.objects.get(task=task, assignee=annotator), to_user=annotator3, by=manager
    )
    operation = BulkOperation.objects.get()
    admin_client.post(
        reverse("admin:annotation_bulkoperation_changelist"), {"action": "undo", "_selected_action": [operation.pk]}
    )
    assert holding(task) == before


# --- The undo rule, kind by kind: nothing goes back once any touched item moved or changed since -------


def refused(operation, manager, match):
    with pytest.raises(ValidationError, match=match):
        operations.operation_undo(operation=operation, by=manager)
    assert BulkOperation.objects.get(pk=operation.pk).undone_at is None


def test_a_reassign_is_not_undone_once_an_item_left_the_task(task, dataset, manager, annotator, annotator3):
    moves.assignment_reassign(
        assignment=Assignment.objects.get(task=task, assignee=annotator), to_user=annotator3, by=manager
    )
    row = TaskItem.objects.filter(task=task, assignment__assignee=annotator3).first()
    moves.task_remove_items(task=task, selection=Selection(mode="list", item_ids=(row.item_id,)), by=manager)
    after = holding(task)
    refused(BulkOperation.objects.get(kind="reassign"), manager, "1 of the 10 items it moved")
    assert holding(task) == after
    assert_counters(task)


def test_a_redistribute_is_not_undone_once_an_item_moved_on(task, manager, annotator, annotator2, annotator3):
    mine = Assignment.objects.get(task=task, assignee=annotator)
    moves.assignment_redistribute(
        assignment=mine, workload=[WorkloadUnit(annotator2, 50), WorkloadUnit(annotator3, 50)], by=manager
    )
    operation = BulkOperation.objects.get(kind="redistribute")
    theirs = Assignment.objects.get(task=task, assignee=annotator3)
    moves.assignment_reassign(assignment=theirs, to_user=annotator, by=manager)
    after = holding(task)
    refused(operation, manager, "5 of the 10 items it moved have moved or been worked on since")
    assert holding(task) == after
    assert_counters(task)


def test_a_hand_off_is_not_undone_once_a_handed_item_was_worked_on(task, project, manager, annotator, annotator2):
    people.pause_person(project=project, user=annotator, by=manager)
    moves.person_hand_off(project=project, user=annotator, by=manager)
    operation = BulkOperation.objects.get(kind="hand_off")
    handed = operation.changes.first()
    flow.item_status_set(task=task, item=handed.item, status="completed", by=annotator2)
    after = holding(task)
    refused(operation, manager, "1 of the 10 items it moved")
    assert holding(task) == after
    assert_counters(task)


def test_a_bulk_priority_is_not_undone_once_an_item_left_the_task(task, manager):
    priority.items_priority_set(task=task, selection=None, priority=90, by=manager)
    row = TaskItem.objects.filter(task=task).first()
    moves.task_remove_items(task=task, selection=Selection(mode="list", item_ids=(row.item_id,)), by=manager)
    refused(BulkOperation.objects.get(kind="priority"), manager, "1 of the 20 items it changed")
    assert set(TaskItem.objects.filter(task=task).values_list("priority", flat=True)) == {90}


def test_a_bulk_priority_is_undone_after_its_items_moved_holder(task, manager, annotator, annotator3):
    """Priority belongs to the item in the task: a move does not stop its undo (in a pulling task every
    claim is a move)."""
    priority.items_priority_set(task=task, selection=None, priority=90, by=manager)
    moves.assignment_reassign(
        assignment=Assignment.objects.get(task=task, assignee=annotator), to_user=annotator3, by=manager
    )
    assert operations.operation_undo(operation=BulkOperation.objects.get(kind="priority"), by=manager) == 20
    assert set(TaskItem.objects.filter(task=task).values_list("priority", flat=True)) == {50}


def test_the_history_shows_every_kind_on_the_page_the_api_and_the_admin(
    client, api, admin_client, task, project, manager, annotator, annotator2, annotator3
):
    moves.assignment_reassign(
        assignment=Assignment.objects.get(task=task, assignee=annotator), to_user=annotator3, by=manager
    )
    moves.assignment_redistribute(
        assignment=Assignment.objects.get(task=task, assignee=annotator3),
        workload=[WorkloadUnit(annotator, 50), WorkloadUnit(annotator2, 50)],
        by=manager,
    )
    people.pause_person(project=project, user=annotator2, by=manager)
    moves.person_hand_off(project=project, user=annotator2, by=manager)
    priority.items_priority_set(task=task, selection=None, priority=70, by=manager)
    bulk_status.items_status_set(task=task, selection=None, status="completed", by=manager)
    kinds = ["status", "priority", "hand_off", "redistribute", "reassign"]
    assert list(BulkOperation.objects.values_list("kind", flat=True)) == kinds  # newest first
    latest = BulkOperation.objects.first()
    operations.operation_undo(operation=latest, by=manager)

    client.force_login(manager)
    page = client.get(reverse("annotation:project-operations", args=[project.pk])).content.decode()
    for kind, label in (
        ("status", "Bulk status"),
        ("priority", "Bulk priority"),
        ("hand_off", "Hand-off"),
        ("redistribute", "Redistribute"),
        ("reassign", "Reassign"),
    ):
        assert f'data-operation="{kind}"' in page and label in page
    assert "by alice@example.com" in page  # who undid the bulk status
    task_page = client.get(reverse("dashboards:task-detail", args=[task.pk])).content.decode()
    assert all(f'id="operation-{op.pk}"' in task_page for op in BulkOperation.objects.filter(task=task))

    listed = api(manager).get(f"/api/v1/projects/{api_id('project', project.pk)}/operations").json()["items"]
    assert [o["type"] for o in listed] == kinds
    assert listed[0]["undoneBy"] == manager.email and listed[1]["undoneBy"] is None

    admin_page = admin_client.get(reverse("admin:annotation_bulkoperation_changelist")).content.decode()
    for op in BulkOperation.objects.all():
        assert f"/admin/annotation/bulkoperation/{op.pk}/change/" in admin_page
    for label in ("Bulk status", "Bulk priority", "Hand-off", "Redistribute", "Reassign"):
        assert label in admin_page
