"""The distribution levers in the admin: bulk status (set, with an intermediate form) and bulk item
priority over the task item rows selected there, reassign and redistribute over the assignments
selected there, each through the pages' service, recorded as one undoable operation; a refusal
anywhere changes nothing."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from taskboard.annotation import admin as annotation_admin
from taskboard.annotation import bulk_status, operations, picks, priority, services
from taskboard.annotation.models import Assignment, BulkOperation, Pick, PickedItem, StatusLog, TaskItem
from taskboard.annotation.selection import Selection
from taskboard.dashboards import counters
from taskboard.jobs.models import Job, JobState
from tests.annotation.conftest import assert_counters
from tests.factories import create_task, make_items

CHANGELIST = "admin:annotation_taskitem_changelist"


@pytest.fixture
def tasks(dataset, recipe, manager, annotator, annotator2):
    make_items(dataset, {"/a": 6, "/b": 4})
    first = create_task(
        dataset=dataset,
        created_by=manager,
        name="first",
        selection=Selection(mode="folder", folder="/a"),
        assignees=[annotator, annotator2],
    )
    second = create_task(
        dataset=dataset,
        created_by=manager,
        name="second",
        selection=Selection(mode="folder", folder="/b"),
        assignees=[annotator],
        statuses=[{"key": "completed", "is_done": True}, {"key": "unsure", "is_done": False}],
    )
    return first, second


def row_ids(*tasks):
    return list(TaskItem.objects.filter(task__in=tasks).values_list("pk", flat=True))


class Answer:
    """The admin's page after the action; its text lower-cased (the admin capitalises messages)."""

    def __init__(self, response):
        self.status_code = response.status_code
        self.text = response.text.lower()


def post(admin_client, action, rows, **data):
    response = admin_client.post(
        reverse(CHANGELIST), {"action": action, "_selected_action": rows, **data}, follow=True
    )
    return Answer(response)


def test_set_status_asks_for_the_status_first_and_writes_nothing(admin_client, tasks):
    first, second = tasks
    page = post(admin_client, "set_status", row_ids(first, second))
    body = page.text
    assert page.status_code == 200 and "set a status" in body
    assert "10 selected task item row(s) in first, second" in body
    assert 'value="completed"' in body and 'value="__clear__"' in body
    # The selection is carried on to the next step.
    assert body.count('name="_selected_action"') == 10
    assert not BulkOperation.objects.exists()


def test_set_status_is_one_undoable_operation_per_task(admin_client, tasks, manager):
    first, second = tasks
    page = post(admin_client, "set_status", row_ids(first, second), status="completed", apply="Set it")
    body = page.text
    assert "first: status “completed” on 6 item(s)." in body and "second: status “completed” on 4 item(s)." in body
    ops = {op.task_id: op for op in BulkOperation.objects.filter(kind="status")}
    assert ops[first.pk].count == 6 and ops[second.pk].count == 4
    assert set(TaskItem.objects.filter(task__in=tasks).values_list("status", flat=True)) == {"completed"}
    assert StatusLog.objects.filter(status="completed", action="create").count() == 10
    assert counters.find_drift() == []
    # Undone from the admin's history, as one.
    admin_client.post(
        reverse("admin:annotation_bulkoperation_changelist"),
        {"action": "undo", "_selected_action": [ops[first.pk].pk]},
    )
    assert not TaskItem.objects.filter(task=first, status__isnull=False).exists()
    assert counters.find_drift() == []


def test_set_status_refuses_a_status_one_of_the_tasks_lacks(admin_client, tasks):
    first, second = tasks
    page = post(admin_client, "set_status", row_ids(first, second), status="unsure", apply="Set it")
    body = page.text
    assert "“unsure” is not a status of: first. nothing was changed." in body
    assert not BulkOperation.objects.exists()
    # A status of neither task, or none chosen, is refused by the form the same way.
    assert (
        "select a valid choice" in post(admin_client, "set_status", row_ids(first), status="nope", apply="Set it").text
    )
    assert "this field is required" in post(admin_client, "set_status", row_ids(first), status="", apply="Set it").text
    assert not TaskItem.objects.filter(status__isnull=False).exists()


def test_set_status_clear_choice_clears(admin_client, tasks, manager):
    first, _ = tasks
    post(admin_client, "set_status", row_ids(first), status="completed", apply="Set it")
    post(admin_client, "set_status", row_ids(first)[:2], status="__clear__", apply="Set it")
    cleared = BulkOperation.objects.filter(kind="status").latest("id")
    assert cleared.data["status"] is None and cleared.count == 2
    assert TaskItem.objects.filter(task=first, status__isnull=True).count() == 2


def test_a_refusal_in_one_task_changes_nothing_in_the_others(admin_client, tasks, manager):
    first, second = tasks
    services.task_close(task=second, by=manager)
    body = post(admin_client, "set_status", row_ids(first, second), status="completed", apply="Set it")
    text = body.text
    assert "second: this task no longer accepts work" in text and "nothing was changed." in text
    assert not BulkOperation.objects.exists()
    assert not TaskItem.objects.filter(task=first, status__isnull=False).exists()


def test_set_priority_asks_then_records_an_undoable_operation(admin_client, tasks, manager):
    first, second = tasks
    ask = post(admin_client, "set_priority", row_ids(first))
    assert "item priority (0 to 100, higher first)" in ask.text
    bad = post(admin_client, "set_priority", row_ids(first), priority="101", apply="Set it")
    assert "less than or equal to 100" in bad.text
    assert not BulkOperation.objects.exists()
    done = post(admin_client, "set_priority", row_ids(first, second), priority="90", apply="Set it")
    assert "first: priority 90 on 6 item(s)." in done.text
    assert set(TaskItem.objects.filter(task__in=tasks).values_list("priority", flat=True)) == {90}
    operation = BulkOperation.objects.get(kind="priority", task=first)
    operations.operation_undo(operation=operation, by=manager)
    assert set(TaskItem.objects.filter(task=first).values_list("priority", flat=True)) == {50}


# --- Reassign and redistribute from the assignments list ------------------------------------------------

ASSIGNMENTS = "admin:annotation_assignment_changelist"


def move(admin_client, action, assignments, **data):
    response = admin_client.post(
        reverse(ASSIGNMENTS), {"action": action, "_selected_action": [a.pk for a in assignments], **data}, follow=True
    )
    return Answer(response)


def test_admin_reassign_asks_for_the_person_then_is_one_undoable_operation(
    admin_client, tasks, manager, annotator, annotator3, other_manager
):
    first, _ = tasks
    mine = Assignment.objects.get(task=first, assignee=annotator)
    ask = move(admin_client, "reassign", [mine])
    assert "reassign to (email)" in ask.text and "bob@example.com in first" in ask.text
    unknown = move(admin_client, "reassign", [mine], to="nobody@example.com", apply="Reassign")
    assert "no account with the email: nobody@example.com" in unknown.text
    outsider = move(admin_client, "reassign", [mine], to=other_manager.email, apply="Reassign")
    assert "nothing was changed." in outsider.text
    assert not BulkOperation.objects.exists()
    done = move(admin_client, "reassign", [mine], to=annotator3.email, apply="Reassign")
    assert "3 undone item(s) reassigned to dave@example.com" in done.text
    operation = BulkOperation.objects.get(kind="reassign")
    assert TaskItem.objects.filter(task=first, assignment__assignee=annotator3).count() == 3
    operations.operation_undo(operation=operation, by=manager)
    assert TaskItem.objects.filter(task=first, assignment__assignee=annotator).count() == 3
    assert_counters(first)


def test_admin_redistribute_equal_or_by_shares(admin_client, tasks, manager, annotator, annotator2, annotator3):
    first, _ = tasks
    mine = Assignment.objects.get(task=first, assignee=annotator)
    ask = move(admin_client, "redistribute", [mine])
    assert "spread over" in ask.text
    bad = move(admin_client, "redistribute", [mine], people="carol@example.com 50\ndave@example.com", apply="Go")
    assert "give a share on every line, or on none." in bad.text
    short = move(admin_client, "redistribute", [mine], people="carol@example.com 50\ndave@example.com 40", apply="Go")
    assert "loads must add up to exactly 100" in short.text
    assert not BulkOperation.objects.exists()
    done = move(admin_client, "redistribute", [mine], people="carol@example.com\ndave@example.com", apply="Go")
    assert "3 undone item(s) spread over carol@example.com, dave@example.com" in done.text
    assert not TaskItem.objects.filter(task=first, assignment__assignee=annotator).exists()
    assert TaskItem.objects.filter(task=first, assignment__assignee=annotator3).count() in (1, 2)
    operations.operation_undo(operation=BulkOperation.objects.get(kind="redistribute"), by=manager)
    assert TaskItem.objects.filter(task=first, assignment__assignee=annotator).count() == 3
    assert_counters(first)


# --- "Select all" over many rows: picked by a query, not listed -------------------------------------------


def test_select_all_over_many_rows_picks_the_items_with_one_statement(
    admin_client, tasks, manager, monkeypatch, django_capture_on_commit_callbacks
):
    """Past LIST_ROWS a task's selected rows become a pick (one INSERT … SELECT): the changelist's
    filter (here, rows with no status) decides, and only those items change."""
    first, second = tasks
    monkeypatch.setattr(annotation_admin, "LIST_ROWS", 2)
    done_before = list(TaskItem.objects.filter(task=first).order_by("pk")[:2])
    two = Selection(mode="list", item_ids=tuple(row.item_id for row in done_before))
    bulk_status.items_status_set(task=first, selection=two, status="completed", by=manager)
    url = reverse(CHANGELIST) + "?status=none"
    data = {"action": "set_priority", "select_across": "1", "index": "0", "_selected_action": row_ids(first)[:1]}
    ask = admin_client.post(url, data).text
    assert "8 selected task item row(s) in first, second" in ask
    assert not Pick.objects.exists()  # nothing is picked before the action is applied
    with django_capture_on_commit_callbacks(execute=True):
        done = admin_client.post(url, {**data, "priority": "77", "apply": "Set it"}, follow=True).text.lower()
    assert "first: priority 77 on 4 item(s)." in done and "second: priority 77 on 4 item(s)." in done
    assert sorted(Pick.objects.values_list("count", flat=True)) == [4, 4]
    assert set(TaskItem.objects.filter(priority=77).values_list("status", flat=True)) == {None}
    assert not TaskItem.objects.filter(pk__in=[row.pk for row in done_before], priority=77).exists()


def test_a_picked_selection_is_refused_once_swept(tasks, manager):
    first, _ = tasks
    selection = picks.items_pick(task=first, rows=TaskItem.objects.filter(task=first), by=manager)
    assert selection.mode == "picked" and Pick.objects.get(pk=selection.pick_id).count == 6
    Pick.objects.update(created_at=timezone.now() - picks.PICK_KEEP - timedelta(minutes=1))
    picks.items_pick(task=first, rows=TaskItem.objects.filter(task=first), by=manager)  # sweeps the old one
    with pytest.raises(ValidationError, match="The picked items are gone"):
        priority.items_priority_set(task=first, selection=selection, priority=5, by=manager)
    assert not PickedItem.objects.filter(pick_id=selection.pick_id).exists()


def test_a_pick_an_unfinished_job_names_outlives_the_sweep(tasks, manager):
    """A bulk job queued behind others, or retried after its worker died, may start after a day: the
    pick it reads stays until it has finished."""
    first, _ = tasks
    selection = picks.items_pick(task=first, rows=TaskItem.objects.filter(task=first), by=manager)
    job = Job.objects.create(
        kind="bulk_priority", params={"task": first.pk, "selection": selection.to_json()}, project=first.project
    )
    Pick.objects.update(created_at=timezone.now() - picks.PICK_KEEP - timedelta(minutes=1))
    picks.items_pick(task=first, rows=TaskItem.objects.filter(task=first), by=manager)
    assert Pick.objects.filter(pk=selection.pick_id).exists()
    Job.objects.filter(pk=job.pk).update(state=JobState.SUCCEEDED)
    picks.items_pick(task=first, rows=TaskItem.objects.filter(task=first), by=manager)
    assert not Pick.objects.filter(pk=selection.pick_id).exists()
