"""Statuses of task items, and the task-level state and locks every change of a task's items shares.

`status_set`/`status_clear` are the write alone; the status flow (`taskboard.work.flow`) calls them
and then, by name, what a status change sets off.
"""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation import signals
from taskboard.annotation.models import (
    HELD_ITEMS,
    AnnotationTask,
    Assignment,
    AssignmentKind,
    StatusCount,
    TaskItem,
    TaskState,
    TaskStatus,
)
from taskboard.datasets.models import Item
from taskboard.discussion.services import status_recorded


def ensure_status_counts(*, assignment_ids: list[int], keys: list[str]) -> None:
    StatusCount.objects.bulk_create(
        [StatusCount(assignment_id=a, status=key, count=0) for a in assignment_ids for key in keys],
        ignore_conflicts=True,
    )


def lock_task(task: AnnotationTask) -> AnnotationTask:
    """The task's row lock: one change of its items at a time. NO KEY UPDATE, so inserts that only
    reference the task (change records, from concurrent pulling claims) are not held up by it,
    which would deadlock a claim holding the queue's counter against a status change waiting for it."""
    return AnnotationTask.objects.select_for_update(no_key=True).get(pk=task.pk)


def require_not_closed(task: AnnotationTask, field: str) -> None:
    if task.is_closed:
        raise ValidationError({field: "This task is closed; its items and assignments no longer change."})


def task_state_refresh(task: AnnotationTask) -> None:
    """Completed when every worked item (hidden consensus originals aside) has a final status."""
    work = Assignment.objects.filter(task_id=task.pk).exclude(kind=AssignmentKind.CONSENSUS)
    agg = work.aggregate(items=Sum(HELD_ITEMS), issues=Sum("issue_count"))
    items = agg["items"] or 0
    done_keys = list(TaskStatus.objects.filter(task_id=task.pk, is_done=True).values_list("key", flat=True))
    done = StatusCount.objects.filter(assignment__in=work, status__in=done_keys).aggregate(n=Sum("count"))["n"] or 0
    if items and done >= items:
        state = TaskState.COMPLETED_WITH_ISSUES if agg["issues"] else TaskState.COMPLETED
    else:
        state = TaskState.OPEN
    if state != task.state:
        AnnotationTask.objects.filter(pk=task.pk).update(state=state, updated_at=timezone.now())
        task.state = state


def _task_item_for(*, task: AnnotationTask, item: Item, by: User, copy: int | None) -> TaskItem:
    query = TaskItem.objects.select_for_update().filter(task=task, item=item)
    if copy is not None:
        query = query.filter(copy=copy)
    rows = list(query.select_related("assignment").order_by("copy"))
    if not rows:
        raise ValidationError({"item": "This item is not in the task."})
    for row in rows:
        if row.assignment.assignee_id == by.pk:
            return row
    return rows[0]


@dataclass(frozen=True)
class StatusChange:
    """A status set or cleared on one task item: what the status flow reacts to."""

    task: AnnotationTask
    row: TaskItem
    old: str | None
    new: str | None
    by: User

    @property
    def changed(self) -> bool:
        return self.old != self.new

    @property
    def is_done(self) -> bool:
        """The new status counts as done in the task."""
        return self.new is not None and TaskStatus.objects.filter(task=self.task, key=self.new, is_done=True).exists()


def _status_write(
    *, task: AnnotationTask, item: Item, by: User, copy: int | None, new_status: str | None
) -> StatusChange:
    task = lock_task(task)
    if not task.accepts_work:
        raise ValidationError({"status": "This task no longer accepts work."})
    if new_status is not None and not TaskStatus.objects.filter(task=task, key=new_status).exists():
        raise ValidationError({"status": f"“{new_status}” is not a status of this task."})
    row = _task_item_for(task=task, item=item, by=by, copy=copy)
    if row.assignment.assignee_id is None or row.assignment.assignee_id != by.pk:
        # Only the holder decides: a manager (or anyone else) is refused, whatever their role.
        # Flows acting for the holder (QA reject, rework return, pipeline reopen) pass the holder as `by`.
        raise PermissionDenied(
            "Only the assignee holding this item can set or clear its status; "
            f"{getattr(by, 'email', 'you')} does not hold it."
        )
    old_status = row.status
    row.task = task
    if old_status == new_status:
        return StatusChange(task=task, row=row, old=old_status, new=new_status, by=by)
    row.status = new_status
    row.status_by = by if new_status is not None else None
    row.status_at = timezone.now() if new_status is not None else None
    row.save(update_fields=["status", "status_by", "status_at"])
    status_recorded(
        task_id=task.pk,
        item_id=row.item_id,
        copy=row.copy,
        old=old_status,
        new=new_status,
        by=by,
        at=row.status_at or timezone.now(),
    )
    if old_status is not None:
        StatusCount.objects.filter(assignment_id=row.assignment_id, status=old_status).update(count=F("count") - 1)
    if new_status is not None:
        ensure_status_counts(assignment_ids=[row.assignment_id], keys=[new_status])
        StatusCount.objects.filter(assignment_id=row.assignment_id, status=new_status).update(count=F("count") + 1)
    task_state_refresh(task)
    # A projection only: the dashboards keep their counters from it. What a status change sets
    # off in the work (QA, rework, consensus, pulling, pipelines) is called by name in work.flow.
    signals.task_item_status_changed.send(
        sender=TaskItem, task_item=row, old_status=old_status, new_status=new_status, by=by
    )
    return StatusChange(task=task, row=row, old=old_status, new=new_status, by=by)


@transaction.atomic
def status_set(*, task: AnnotationTask, item: Item, status: str, by: User, copy: int | None = None) -> StatusChange:
    """Write a status on the item the person holds in the task, counters and task state with it.
    Only this write: `taskboard.work.flow.item_status_set` is the status change with its consequences."""
    if not isinstance(status, str) or not status:
        raise ValidationError({"status": "Choose a status."})
    return _status_write(task=task, item=item, by=by, copy=copy, new_status=status)


@transaction.atomic
def status_clear(*, task: AnnotationTask, item: Item, by: User, copy: int | None = None) -> StatusChange:
    """Clear the item's status (it is to do again); see `status_set`."""
    return _status_write(task=task, item=item, by=by, copy=copy, new_status=None)
