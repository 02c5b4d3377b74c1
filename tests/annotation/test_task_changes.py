import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from taskboard.annotation import moves, services, signals
from taskboard.annotation.models import (
    AnnotationTask,
    Assignment,
    HoldingChange,
    StatusCount,
    TaskItem,
    TaskState,
    TaskStatus,
    WorkloadEntry,
)
from taskboard.annotation.selection import Selection
from taskboard.annotation.workload import WorkloadUnit
from taskboard.work import flow
from taskboard.work.services import pulling_queue_size
from tests.annotation.conftest import assert_counters
from tests.factories import create_task, in_days, make_items


@pytest.fixture
def task(dataset, items, manager, annotator, annotator2):
    return create_task(
        dataset=dataset,
        created_by=manager,
        name="t1",
        due_at=in_days(7),
        selection=Selection(mode="folder", folder="/city"),
        assignees=[annotator, annotator2],
    )


def mine(task, user):
    return list(TaskItem.objects.filter(task=task, assignment__assignee=user).select_related("item").order_by("rank"))


# ---------------------------------------------------------------- statuses


def test_status_set_and_clear_keep_counters_and_record_who(task, annotator):
    row = mine(task, annotator)[0]
    got = flow.item_status_set(task=task, item=row.item, status="completed", by=annotator)
    assert got.status == "completed" and got.status_by == annotator and got.status_at is not None
    assert StatusCount.objects.get(assignment=row.assignment, status="completed").count == 1
    flow.item_status_set(task=task, item=row.item, status="discard", by=annotator)
    assert StatusCount.objects.get(assignment=row.assignment, status="completed").count == 0
    assert StatusCount.objects.get(assignment=row.assignment, status="discard").count == 1
    cleared = flow.item_status_clear(task=task, item=row.item, by=annotator)
    assert cleared.status is None and cleared.status_by is None
    assert_counters(task)


def test_status_must_be_one_of_the_tasks(task, annotator):
    row = mine(task, annotator)[0]
    with pytest.raises(ValidationError) as e:
        flow.item_status_set(task=task, item=row.item, status="approved", by=annotator)
    assert "status" in e.value.message_dict


def _status_snapshot(task):
    rows = TaskItem.objects.filter(task=task).order_by("pk").values_list("pk", "status", "status_by_id", "status_at")
    counts = StatusCount.objects.filter(assignment__task=task).order_by("pk").values_list("pk", "count")
    return list(rows), list(counts), AnnotationTask.objects.get(pk=task.pk).state


def test_only_the_holder_sets_a_status(task, annotator, annotator2, manager, owner):
    row = mine(task, annotator)[0]
    before = _status_snapshot(task)
    for outsider in (annotator2, manager, owner):
        with pytest.raises(PermissionDenied, match="Only the assignee holding this item"):
            flow.item_status_set(task=task, item=row.item, status="completed", by=outsider)
        with pytest.raises(PermissionDenied):
            flow.item_status_set(task=task, item=row.item, status="completed", by=outsider, copy=row.copy)
    assert _status_snapshot(task) == before
    flow.item_status_set(task=task, item=row.item, status="completed", by=annotator)
    assert TaskItem.objects.get(pk=row.pk).status_by == annotator


def test_a_manager_cannot_clear_the_holders_status(task, annotator, manager, django_user_model):
    row = mine(task, annotator)[0]
    flow.item_status_set(task=task, item=row.item, status="completed", by=annotator)
    superuser = django_user_model.objects.create_superuser(email="root@example.com", password="x")
    before = _status_snapshot(task)
    for outsider in (manager, superuser):
        with pytest.raises(PermissionDenied):
            flow.item_status_clear(task=task, item=row.item, by=outsider)
        with pytest.raises(PermissionDenied):
            flow.item_status_set(task=task, item=row.item, status="discard", by=outsider)
    assert _status_snapshot(task) == before
    assert TaskItem.objects.get(pk=row.pk).status == "completed"
    flow.item_status_clear(task=task, item=row.item, by=annotator)
    assert TaskItem.objects.get(pk=row.pk).status is None
    assert_counters(task)


def test_nobody_sets_a_status_on_a_queued_item(dataset, items, manager, annotator):
    pulling = create_task(
        dataset=dataset,
        created_by=manager,
        name="pull",
        due_at=in_days(7),
        selection=Selection(mode="folder", folder="/city"),
        allocation="pulling",
        assignees=[annotator],
        batch_size=3,
        max_batch_workload=5,
    )
    queued = TaskItem.objects.filter(task=pulling, in_queue=True).select_related("item").first()
    for anyone in (manager, annotator):
        with pytest.raises(PermissionDenied):
            flow.item_status_set(task=pulling, item=queued.item, status="completed", by=anyone, copy=queued.copy)
    assert TaskItem.objects.get(pk=queued.pk).status is None


def test_statuses_stop_at_the_due_date_of_a_locked_task(task, annotator):
    row = mine(task, annotator)[0]
    AnnotationTask.objects.filter(pk=task.pk).update(lock_after_due=True, due_at=in_days(-1))
    task.refresh_from_db()
    with pytest.raises(ValidationError) as e:
        flow.item_status_set(task=task, item=row.item, status="completed", by=annotator)
    assert "status" in e.value.message_dict
    assert TaskItem.objects.get(pk=row.pk).status is None


def test_closed_or_locked_task_accepts_no_work(task, annotator, manager):
    row = mine(task, annotator)[0]
    services.task_close(task=task, by=manager)
    task.refresh_from_db()
    with pytest.raises(ValidationError) as e:
        flow.item_status_set(task=task, item=row.item, status="completed", by=annotator)
    assert "status" in e.value.message_dict


def test_task_completes_and_reopens(task, annotator, annotator2):
    rows = mine(task, annotator) + mine(task, annotator2)
    for row in rows:
        flow.item_status_set(task=task, item=row.item, status="completed", by=row.assignment.assignee)
    task.refresh_from_db()
    assert task.state == TaskState.COMPLETED
    flow.item_status_clear(task=task, item=rows[0].item, by=annotator)
    task.refresh_from_db()
    assert task.state == TaskState.OPEN
    Assignment.objects.filter(task=task, assignee=annotator).update(issue_count=1)
    flow.item_status_set(task=task, item=rows[0].item, status="discard", by=annotator)
    task.refresh_from_db()
    assert task.state == TaskState.COMPLETED_WITH_ISSUES


def test_status_change_sends_the_signal_inside_the_transaction(task, annotator):
    seen = []

    def receiver(sender, task_item, old_status, new_status, by, **kwargs):
        seen.append((task_item.pk, old_status, new_status, by))

    signals.task_item_status_changed.connect(receiver)
    try:
        row = mine(task, annotator)[0]
        flow.item_status_set(task=task, item=row.item, status="completed", by=annotator)
        flow.item_status_clear(task=task, item=row.item, by=annotator)
    finally:
        signals.task_item_status_changed.disconnect(receiver)
    assert seen == [(row.pk, None, "completed", annotator), (row.pk, "completed", None, annotator)]


# ---------------------------------------------------------------- add / remove


def test_add_items_skips_items_already_in_the_task(task, manager, annotator, annotator3):
    result = moves.task_add_items(task=task, selection=Selection(mode="all"), by=manager, assignees=[annotator3])
    assert (result.added, result.skipped) == (10, 20)
    assert Assignment.objects.get(task=task, assignee=annotator3).item_count == 10
    ranks = list(TaskItem.objects.filter(task=task).order_by("rank").values_list("rank", flat=True))
    assert ranks == list(range(1, 31))
    again = moves.task_add_items(task=task, selection=Selection(mode="all"), by=manager, assignees=[annotator])
    assert (again.added, again.skipped) == (0, 30)
    assert HoldingChange.objects.filter(task=task, kind="add").count() == 1
    assert_counters(task)


def test_add_items_uses_the_task_workload_by_default(task, manager, annotator, annotator2):
    result = moves.task_add_items(task=task, selection=Selection(mode="folder", folder="/highway"), by=manager)
    assert result.added == 10
    assert Assignment.objects.get(task=task, assignee=annotator).item_count == 15
    assert Assignment.objects.get(task=task, assignee=annotator2).item_count == 15
    assert_counters(task)


def test_add_items_into_the_pulling_queue(dataset, items, manager, annotator):
    task = create_task(
        dataset=dataset,
        created_by=manager,
        name="p",
        due_at=in_days(3),
        selection=Selection(mode="folder", folder="/city"),
        assignees=[annotator],
        allocation="pulling",
        batch_size=5,
        max_batch_workload=8,
    )
    result = moves.task_add_items(task=task, selection=Selection(mode="all"), by=manager, to_queue=True)
    assert result.added == 10
    assert pulling_queue_size(task) == 25
    assert_counters(task)


def test_add_items_reopens_a_completed_task(task, manager, annotator, annotator2):
    for row in mine(task, annotator) + mine(task, annotator2):
        flow.item_status_set(task=task, item=row.item, status="completed", by=row.assignment.assignee)
    task.refresh_from_db()
    assert task.state == TaskState.COMPLETED
    moves.task_add_items(task=task, selection=Selection(mode="all"), by=manager, limit=1)
    task.refresh_from_db()
    assert task.state == TaskState.OPEN
    assert TaskItem.objects.filter(task=task).count() == 21


def test_remove_items_keeps_items_with_a_status(task, manager, annotator):
    done = mine(task, annotator)[:3]
    for row in done:
        flow.item_status_set(task=task, item=row.item, status="completed", by=annotator)
    result = moves.task_remove_items(task=task, selection=Selection(mode="folder", folder="/city/day"), by=manager)
    assert (result.removed, result.kept) == (7, 3)
    assert set(TaskItem.objects.filter(task=task, item__dir="/city/day").values_list("pk", flat=True)) == {
        r.pk for r in done
    }
    assert HoldingChange.objects.filter(task=task, kind="remove").exists()
    assert_counters(task)


# ---------------------------------------------------------------- reassign / redistribute


def test_reassign_moves_only_undone_items(task, manager, annotator, annotator3):
    rows = mine(task, annotator)
    flow.item_status_set(task=task, item=rows[0].item, status="completed", by=annotator)
    source = Assignment.objects.get(task=task, assignee=annotator)
    target = moves.assignment_reassign(assignment=source, to_user=annotator3, by=manager)
    assert target.assignee == annotator3 and target.item_count == 9
    assert [r.pk for r in mine(task, annotator)] == [rows[0].pk]
    assert HoldingChange.objects.filter(task=task, kind="reassign").count() == 9
    assert WorkloadEntry.objects.filter(task=task, assignee=annotator3).exists()
    assert_counters(task)


def test_reassign_refuses_outsiders_and_the_same_person(task, manager, annotator, other_manager):
    source = Assignment.objects.get(task=task, assignee=annotator)
    with pytest.raises(ValidationError):
        moves.assignment_reassign(assignment=source, to_user=other_manager, by=manager)
    with pytest.raises(ValidationError):
        moves.assignment_reassign(assignment=source, to_user=annotator, by=manager)


def test_redistribute_splits_undone_items_by_workload(task, manager, annotator, annotator2, annotator3):
    rows = mine(task, annotator)
    flow.item_status_set(task=task, item=rows[-1].item, status="completed", by=annotator)
    source = Assignment.objects.get(task=task, assignee=annotator)
    result = moves.assignment_redistribute(
        assignment=source,
        workload=[WorkloadUnit(annotator2, 50), WorkloadUnit(annotator3, 50)],
        by=manager,
    )
    assert [a.assignee for a in result] == [annotator2, annotator3]
    # 9 undone: 5 to carol (after her own 10), 4 to dave, in rank order.
    assert Assignment.objects.get(task=task, assignee=annotator2).item_count == 15
    assert Assignment.objects.get(task=task, assignee=annotator3).item_count == 4
    assert [r.pk for r in mine(task, annotator)] == [rows[-1].pk]
    assert [r.pk for r in mine(task, annotator3)] == [r.pk for r in rows[5:9]]
    assert HoldingChange.objects.filter(task=task, kind="redistribute").count() == 9
    assert_counters(task)


def test_redistribute_may_keep_a_share_for_the_same_person(task, manager, annotator, annotator2):
    source = Assignment.objects.get(task=task, assignee=annotator)
    moves.assignment_redistribute(
        assignment=source, workload=[WorkloadUnit(annotator, 50), WorkloadUnit(annotator2, 50)], by=manager
    )
    assert Assignment.objects.get(task=task, assignee=annotator).item_count == 5
    assert HoldingChange.objects.filter(task=task, kind="redistribute").count() == 5
    assert_counters(task)


def test_redistribute_rejects_bad_workloads(task, manager, annotator, annotator2):
    source = Assignment.objects.get(task=task, assignee=annotator)
    with pytest.raises(ValidationError) as e:
        moves.assignment_redistribute(
            assignment=source, workload=[WorkloadUnit(annotator, 50), WorkloadUnit(annotator2, 40)], by=manager
        )
    assert "workload" in e.value.message_dict


# ---------------------------------------------------------------- update / close / delete


def test_update_checks_fields(task, manager, other_manager):
    services.task_update(task=task, by=manager, name="renamed", priority=3, description="d", due_at=in_days(9))
    task.refresh_from_db()
    assert (task.name, task.priority, task.description) == ("renamed", 3, "d")
    for fields, key in [
        ({"priority": 5}, "priority"),
        ({"due_at": in_days(-1)}, "due_at"),
        ({"owner": other_manager}, "owner"),
        ({"name": ""}, "name"),
    ]:
        with pytest.raises(ValidationError) as e:
            services.task_update(task=task, by=manager, **fields)
        assert key in e.value.message_dict


def test_update_statuses_refuses_dropping_one_in_use(task, manager, annotator):
    row = mine(task, annotator)[0]
    flow.item_status_set(task=task, item=row.item, status="completed", by=annotator)
    with pytest.raises(ValidationError) as e:
        services.task_update(task=task, by=manager, statuses=[{"key": "discard"}])
    assert "statuses" in e.value.message_dict
    services.task_update(task=task, by=manager, statuses=[{"key": "completed"}, {"key": "later", "is_done": False}])
    assert list(TaskStatus.objects.filter(task=task).values_list("key", flat=True)) == ["completed", "later"]
    assert StatusCount.objects.filter(assignment__task=task, status="later").count() == 2


def test_delete_removes_the_task_and_its_qa_tasks(task, manager, annotator, reviewer):
    row = mine(task, annotator)[0]
    flow.item_status_set(task=task, item=row.item, status="completed", by=annotator)
    qa = create_task(
        dataset=task.dataset,
        created_by=manager,
        name="",
        task_type="qa",
        parent=task,
        due_at=in_days(2),
        assignees=[reviewer],
    )
    assert TaskItem.objects.filter(task=qa).count() == 1
    services.task_delete(task=task, by=manager)
    assert not AnnotationTask.objects.exists()
    assert not TaskItem.objects.exists()
    assert not Assignment.objects.exists()


def test_orm_deletes_cascade_through_task_items(dataset, task, manager, annotator):
    item = mine(task, annotator)[0].item
    item.delete()
    assert TaskItem.objects.filter(task=task).count() == 19
    task.delete()
    assert not TaskItem.objects.exists()
    make_items(dataset, {"/z": 2})
    dataset.delete()


def test_add_items_splits_equally_when_the_task_workload_no_longer_adds_up(task, manager, annotator, annotator2):
    WorkloadEntry.objects.filter(task=task, assignee=annotator).update(load=80)
    result = moves.task_add_items(task=task, selection=Selection(mode="folder", folder="/highway"), by=manager)
    assert result.added == 10
    assert Assignment.objects.get(task=task, assignee=annotator).item_count == 15
    assert_counters(task)


def test_add_items_needs_people_when_the_task_has_none(dataset, items, manager, annotator):
    task = create_task(
        dataset=dataset,
        created_by=manager,
        name="p",
        due_at=in_days(3),
        selection=Selection(mode="folder", folder="/city"),
        assignees=[annotator],
    )
    WorkloadEntry.objects.filter(task=task).delete()
    with pytest.raises(ValidationError) as e:
        moves.task_add_items(task=task, selection=Selection(mode="all"), by=manager)
    assert "assignees" in e.value.message_dict
