"""Bulk status over a filter: one recorded operation, set-based, counters exact, undone as one
while none of its items changed status since; from the page (htmx), the API and the admin. Large
bulk statuses and priorities run as a job with a progress bar."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from taskboard.annotation import bulk_status, moves, operations
from taskboard.annotation.models import AnnotationTask, Assignment, BulkOperation, StatusLog, TaskItem, TaskState
from taskboard.annotation.selection import Selection
from taskboard.api.ids import api_id
from taskboard.dashboards import counters
from taskboard.dashboards.models import DailyThroughput
from taskboard.jobs.models import Job, JobState
from taskboard.work import flow
from tests.factories import create_task, make_items

HX = {"HX-Request": "true"}


@pytest.fixture
def task(dataset, recipe, manager, annotator, annotator2):
    make_items(dataset, {"/a": 10, "/b": 10})
    return create_task(
        dataset=dataset,
        created_by=manager,
        name="bulk",
        selection=Selection(mode="all"),
        assignees=[annotator, annotator2],
    )


def statuses(task):
    return dict(TaskItem.objects.filter(task=task).values_list("id", "status"))


def done_total(task):
    return sum(DailyThroughput.objects.filter(task=task).values_list("done", flat=True))


def test_bulk_status_over_a_filter_is_one_operation_with_exact_counters(task, manager, annotator):
    row = TaskItem.objects.filter(task=task, item__dir="/a", assignment__assignee=annotator).first()
    flow.item_status_set(task=task, item=row.item, status="discard", by=annotator)
    operation = bulk_status.items_status_set(
        task=task, selection=Selection(mode="filter", dql={"dir": "/a"}), status="completed", by=manager
    )
    assert operation.kind == "status" and operation.count == 10 and operation.rows.count() == 10
    assert set(TaskItem.objects.filter(task=task, item__dir="/a").values_list("status", flat=True)) == {"completed"}
    assert not TaskItem.objects.filter(task=task, item__dir="/b", status__isnull=False).exists()
    assert StatusLog.objects.filter(task_id=task.pk, status="completed", action="create").count() == 10
    assert counters.find_drift() == []
    assert done_total(task) == 10
    # Everything again: the ten already completed are left alone.
    again = bulk_status.items_status_set(task=task, selection=None, status="completed", by=manager)
    assert again.count == 10
    assert AnnotationTask.objects.get(pk=task.pk).state == TaskState.COMPLETED
    assert counters.find_drift() == []
    # Nothing left to change: no operation.
    assert bulk_status.items_status_set(task=task, selection=None, status="completed", by=manager) is None
    operations.operation_undo(operation=again, by=manager)
    assert AnnotationTask.objects.get(pk=task.pk).state == TaskState.OPEN
    assert counters.find_drift() == [] and done_total(task) == 10


def test_undo_gives_each_item_its_status_before(task, manager, annotator):
    before_rows = TaskItem.objects.filter(task=task, assignment__assignee=annotator).order_by("id")[:3]
    for row in before_rows:
        flow.item_status_set(task=task, item=row.item, status="discard", by=annotator)
    before = statuses(task)
    by_before = dict(TaskItem.objects.filter(task=task).values_list("id", "status_by_id"))
    done_before = done_total(task)
    operation = bulk_status.items_status_set(task=task, selection=None, status="completed", by=manager)
    assert operation.count == 20
    logs = StatusLog.objects.count()
    assert operations.operation_undo(operation=operation, by=manager) == 20
    assert statuses(task) == before
    assert dict(TaskItem.objects.filter(task=task).values_list("id", "status_by_id")) == by_before
    # 17 statuses taken away, 3 given back.
    assert StatusLog.objects.count() - logs == 20
    assert StatusLog.objects.filter(action="delete", status="completed").count() == 17
    assert counters.find_drift() == []
    assert done_total(task) == done_before
    with pytest.raises(ValidationError, match="already undone"):
        operations.operation_undo(operation=operation, by=manager)


def test_bulk_clear_and_its_undo(task, manager, annotator):
    bulk_status.items_status_set(task=task, selection=None, status="completed", by=manager)
    cleared = bulk_status.items_status_set(
        task=task, selection=Selection(mode="folder", folder="/b"), status=None, by=manager
    )
    assert cleared.count == 10
    assert StatusLog.objects.filter(action="delete", status="completed").count() == 10
    assert counters.find_drift() == [] and done_total(task) == 10
    operations.operation_undo(operation=cleared, by=manager)
    assert not TaskItem.objects.filter(task=task, status__isnull=True).exists()
    assert counters.find_drift() == [] and done_total(task) == 20


def test_undo_is_refused_once_an_item_changed_status(task, manager, annotator):
    operation = bulk_status.items_status_set(task=task, selection=None, status="completed", by=manager)
    row = TaskItem.objects.filter(task=task, assignment__assignee=annotator).first()
    flow.item_status_set(task=task, item=row.item, status="discard", by=annotator)
    with pytest.raises(ValidationError, match="1 of the 20 items"):
        operations.operation_undo(operation=operation, by=manager)
    assert TaskItem.objects.filter(task=task, status="completed").count() == 19
    assert counters.find_drift() == []


def test_bad_status_and_bad_filter_change_nothing(task, manager):
    with pytest.raises(ValidationError, match="not a status"):
        bulk_status.items_status_set(task=task, selection=None, status="nope", by=manager)
    with pytest.raises(ValidationError):
        bulk_status.items_status_set(
            task=task, selection=Selection(mode="filter", dql={"nope": 1}), status="completed", by=manager
        )
    assert not BulkOperation.objects.exists()
    assert not TaskItem.objects.filter(task=task, status__isnull=False).exists()


def test_queued_items_of_a_pulling_task_are_left_alone(pulling_task, manager):
    held = TaskItem.objects.filter(task=pulling_task, in_queue=False).count()
    assert 0 < held < 30
    operation = bulk_status.items_status_set(task=pulling_task, selection=None, status="completed", by=manager)
    assert operation.count == held
    assert not TaskItem.objects.filter(task=pulling_task, in_queue=True, status__isnull=False).exists()
    assert counters.find_drift() == []


def test_page_sets_a_status_in_place_with_htmx_and_offers_undo(client, task, manager):
    client.force_login(manager)
    page = client.get(reverse("annotation:task-bulk-status", args=[task.pk]) + "?dir=/a")
    assert page.status_code == 200 and 'id="bulk-status-form"' in page.content.decode()
    detail = client.get(reverse("dashboards:task-detail", args=[task.pk])).content.decode()
    assert reverse("annotation:task-bulk-status", args=[task.pk]) in detail
    response = client.post(
        reverse("annotation:task-bulk-status-set", args=[task.pk]),
        {"status": "completed", "dql": '{"dir": "/b"}'},
        headers=HX,
    )
    body = response.content.decode()
    operation = BulkOperation.objects.get(kind="status")
    assert body.lstrip().startswith('<div class="task-columns" id="bulk-status"')
    assert "10 items changed" in body and reverse("annotation:operation-undo", args=[operation.pk]) in body
    assert TaskItem.objects.filter(task=task, status="completed").count() == 10
    bad = client.post(
        reverse("annotation:task-bulk-status-set", args=[task.pk]), {"status": "completed", "dql": "{"}, headers=HX
    )
    assert bad.status_code == 400 and "Not JSON" in bad.content.decode()
    cleared = client.post(
        reverse("annotation:task-bulk-status-set", args=[task.pk]), {"status": "__clear__", "dql": ""}, headers=HX
    )
    assert "10 items changed" in cleared.content.decode()
    assert counters.find_drift() == []


def test_page_is_for_managers(client, task, annotator, other_manager):
    for user in (annotator, other_manager):
        client.force_login(user)
        assert client.get(reverse("annotation:task-bulk-status", args=[task.pk])).status_code == 404
        url = reverse("annotation:task-bulk-status-set", args=[task.pk])
        assert client.post(url, {"status": "completed"}).status_code == 404
    assert not TaskItem.objects.filter(task=task, status__isnull=False).exists()


def test_api_bulk_status_and_undo(api, task, manager, annotator):
    path = f"/api/v1/annotationtasks/{api_id('task', task.pk)}/statuses"
    assert api(annotator).post(path, {"status": "completed"}).status_code == 403  # sees the task, manages not
    assert api(manager).post(path, {"filter": {"dir": "/a"}}).status_code == 400
    bad = api(manager).post(path, {"status": "nope"})
    assert bad.status_code == 400 and "not a status" in bad.json()["message"]
    body = api(manager).post(path, {"status": "completed", "filter": {"dir": "/a"}}).json()
    assert body["updatedItemsCount"] == 10 and body["operationId"]
    assert api(manager).post(path, {"status": "completed", "filter": {"dir": "/a"}}).json()["operationId"] is None
    undone = api(manager).post(f"/api/v1/operations/{body['operationId']}/undo").json()
    assert undone["restoredItemsCount"] == 10 and undone["type"] == "status"
    assert not TaskItem.objects.filter(task=task, status__isnull=False).exists()
    assert counters.find_drift() == []


def test_admin_undo_of_a_bulk_status(admin_client, task, manager):
    operation = bulk_status.items_status_set(task=task, selection=None, status="completed", by=manager)
    admin_client.post(
        reverse("admin:annotation_bulkoperation_changelist"), {"action": "undo", "_selected_action": [operation.pk]}
    )
    assert not TaskItem.objects.filter(task=task, status__isnull=False).exists()
    assert counters.find_drift() == []


# --- Large bulk changes run as a job with a progress bar -------------------------------------------------


@pytest.fixture
def small_threshold(settings):
    settings.BULK_JOB_THRESHOLD = 15
    return settings


def test_a_large_bulk_status_runs_as_a_job_from_the_page(
    client, task, manager, small_threshold, django_capture_on_commit_callbacks
):
    client.force_login(manager)
    url = reverse("annotation:task-bulk-status-set", args=[task.pk])
    # Under the threshold: in the request.
    small = client.post(url, {"status": "completed", "dql": '{"dir": "/a"}'}, headers=HX)
    assert small.status_code == 200 and not Job.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"status": "discard", "dql": ""}, headers=HX)
    job = Job.objects.get()
    assert response.headers["HX-Redirect"] == reverse("jobs:job-detail", args=[job.pk])
    assert job.state == JobState.SUCCEEDED, job.error
    assert (job.kind, job.done, job.total) == ("bulk_status", 20, 20)
    operation = BulkOperation.objects.get(pk=job.result["operation_id"])
    assert operation.count == 20 and TaskItem.objects.filter(task=task, status="discard").count() == 20
    page = client.get(reverse("jobs:job-detail", args=[job.pk])).content.decode()
    assert "<progress" in page and job.result["url"] in page
    assert counters.find_drift() == []
    operations.operation_undo(operation=operation, by=manager)
    assert TaskItem.objects.filter(task=task, status="completed").count() == 10
    assert counters.find_drift() == []


def test_a_large_bulk_priority_runs_as_a_job_and_bad_input_is_refused_first(
    api, task, manager, small_threshold, django_capture_on_commit_callbacks
):
    path = f"/api/v1/annotationtasks/{api_id('task', task.pk)}/priority"
    bad = api(manager).post(path, {"priority": 101})
    assert bad.status_code == 400 and not Job.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        body = api(manager).post(path, {"priority": 90}).json()
    assert body["updatedItemsCount"] is None and body["command"]["type"] == "bulkPriority"
    job = Job.objects.get()
    assert job.state == JobState.SUCCEEDED and job.kind == "bulk_priority"
    assert TaskItem.objects.filter(task=task, priority=90).count() == 20
    command = api(manager).get(f"/api/v1/commands/{body['command']['id']}").json()
    assert command["status"] == "success"
    operations.operation_undo(operation=BulkOperation.objects.get(pk=job.result["operation_id"]), by=manager)
    assert set(TaskItem.objects.filter(task=task).values_list("priority", flat=True)) == {50}


def test_a_large_bulk_status_from_the_api_is_a_command(
    api, task, manager, small_threshold, django_capture_on_commit_callbacks
):
    path = f"/api/v1/annotationtasks/{api_id('task', task.pk)}/statuses"
    with django_capture_on_commit_callbacks(execute=True):
        body = api(manager).post(path, {"status": "completed"}).json()
    assert body["command"]["type"] == "bulkStatus" and body["operationId"] is None
    assert api(manager).get(f"/api/v1/commands/{body['command']['id']}").json()["status"] == "success"
    assert TaskItem.objects.filter(task=task, status="completed").count() == 20
    assert counters.find_drift() == []


def test_a_large_reassign_and_redistribute_run_as_jobs_and_undo(
    client, task, manager, annotator, annotator2, annotator3, settings, django_capture_on_commit_callbacks
):
    settings.BULK_JOB_THRESHOLD = 5
    mine = Assignment.objects.get(task=task, assignee=annotator)
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("annotation:task-reassign", args=[task.pk]), {"assignment": mine.pk, "to_user": annotator3.pk}
        )
    job = Job.objects.get(kind="bulk_reassign")
    assert response.status_code == 302 and response.url == reverse("jobs:job-detail", args=[job.pk])
    assert job.state == JobState.SUCCEEDED, job.error
    assert (job.done, job.total) == (10, 10)
    theirs = Assignment.objects.get(task=task, assignee=annotator3)
    assert theirs.item_count == 10
    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("annotation:task-redistribute", args=[task.pk]),
            {"assignment": theirs.pk, "assignees": [annotator.pk, annotator2.pk], "split": "equal"},
            headers=HX,
        )
    spread = Job.objects.get(kind="bulk_redistribute")
    assert spread.state == JobState.SUCCEEDED, spread.error
    assert Assignment.objects.get(pk=theirs.pk).item_count == 0
    assert counters.find_drift() == []
    operations.operation_undo(operation=BulkOperation.objects.get(kind="redistribute"), by=manager)
    assert Assignment.objects.get(pk=theirs.pk).item_count == 10
    assert counters.find_drift() == []


def test_admin_clears_statuses_as_one_operation_per_task(admin_client, task, manager):
    bulk_status.items_status_set(task=task, selection=None, status="completed", by=manager)
    rows = list(TaskItem.objects.filter(task=task, item__dir="/a").values_list("pk", flat=True))
    admin_client.post(
        reverse("admin:annotation_taskitem_changelist"), {"action": "clear_status", "_selected_action": rows}
    )
    cleared = BulkOperation.objects.filter(kind="status").latest("id")
    assert cleared.count == 10 and cleared.data["status"] is None
    assert TaskItem.objects.filter(task=task, status__isnull=True).count() == 10
    assert counters.find_drift() == []


def test_a_bulk_clear_is_not_undone_once_its_items_moved_to_someone_else(task, manager, annotator, annotator3):
    """Giving a status back to a row another person now holds would credit the wrong person."""
    bulk_status.items_status_set(task=task, selection=None, status="completed", by=manager)
    cleared = bulk_status.items_status_set(task=task, selection=None, status=None, by=manager)
    moves.assignment_reassign(
        assignment=Assignment.objects.get(task=task, assignee=annotator), to_user=annotator3, by=manager
    )
    with pytest.raises(ValidationError, match="10 of the 20 items it changed have had their status changed, moved"):
        operations.operation_undo(operation=cleared, by=manager)
    assert not TaskItem.objects.filter(task=task, status__isnull=False).exists()
    assert BulkOperation.objects.get(pk=cleared.pk).undone_at is None
    assert counters.find_drift() == []


def test_a_bulk_clear_is_not_undone_once_an_item_left_the_task(task, manager):
    bulk_status.items_status_set(task=task, selection=None, status="completed", by=manager)
    cleared = bulk_status.items_status_set(task=task, selection=None, status=None, by=manager)
    row = TaskItem.objects.filter(task=task).first()
    moves.task_remove_items(task=task, selection=Selection(mode="list", item_ids=(row.item_id,)), by=manager)
    with pytest.raises(ValidationError, match="1 of the 20 items"):
        operations.operation_undo(operation=cleared, by=manager)
    assert not TaskItem.objects.filter(task=task, status__isnull=False).exists()
    assert counters.find_drift() == []


def test_a_bulk_status_recorded_before_the_change_mark_compares_times(task, manager, annotator, annotator3):
    cleared = bulk_status.items_status_set(task=task, selection=None, status="completed", by=manager)
    cleared = bulk_status.items_status_set(task=task, selection=None, status=None, by=manager)
    cleared.data.pop("change_mark")
    BulkOperation.objects.filter(pk=cleared.pk).update(data=cleared.data)
    moves.assignment_reassign(
        assignment=Assignment.objects.get(task=task, assignee=annotator), to_user=annotator3, by=manager
    )
    with pytest.raises(ValidationError, match="10 of the 20 items"):
        operations.operation_undo(operation=BulkOperation.objects.get(pk=cleared.pk), by=manager)
