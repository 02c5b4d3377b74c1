"""Statuses of task items, and the task-level state and locks every change of a task's items shares.

`status_set`/`status_clear` are the write alone; the status flow (`taskboard.work.flow`) calls them
and then, by name, what a status change sets off.
"""

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation import signals
from taskboard.annotation.models import (
    HELD_ITEMS,
    AnnotationTask,
    Assignment,
    AssignmentKind,
    StatusAction,
    StatusCount,
    StatusLog,
    TaskItem,
    TaskState,
    TaskStatus,
)
from taskboard.datasets.models import Item
from taskboard.sql import Compiled, upsert_add


def ensure_status_counts(*, assignment_ids: list[int], keys: list[str]) -> None:
    StatusCount.objects.bulk_create(
        [StatusCount(assignment_id=a, status=key, count=0) for a in assignment_ids for key in keys],
        ignore_conflicts=True,
    )


def lock_task(task: AnnotationTask, **read_with: Any) -> AnnotationTask:
    """The task's row lock: one change of its items at a time. NO KEY UPDATE, so inserts that only
    reference the task (change records, from concurrent pulling claims) are not held up by it,
    which would deadlock a claim holding the queue's counter against a status change waiting for it.
    `read_with`: expressions read in the same statement (the status flow asks what its steps need)."""
    return lock_query(task.pk, **read_with).get()


def lock_query(task_id: int, **read_with: Any) -> QuerySet[AnnotationTask]:
    """The statement `lock_task` runs, for a caller that compiles it once (`taskboard.sql.Compiled`)."""
    return AnnotationTask.objects.select_for_update(no_key=True, of=("self",)).annotate(**read_with).filter(pk=task_id)


def require_not_closed(task: AnnotationTask, field: str) -> None:
    if task.is_closed:
        raise ValidationError({field: "This task is closed; its items and assignments no longer change."})


# The task's statuses as (key, is_done) pairs in JSON, when read with its row (`statuses_read`).
STATUSES = "statuses_read"


def statuses_read() -> RawSQL:
    """The task's statuses as an expression to read with its row: one JSON array of [key, is_done]."""
    table, task_table = TaskStatus._meta.db_table, AnnotationTask._meta.db_table
    if connection.vendor == "postgresql":
        pairs = "COALESCE(json_agg(json_build_array(s.key, s.is_done)), '[]')::text"
    else:
        pairs = "json_group_array(json_array(s.key, s.is_done))"
    return RawSQL(f'SELECT {pairs} FROM {table} s WHERE s.task_id = "{task_table}"."id"', ())


def _statuses_of(task: AnnotationTask) -> dict[str, bool]:
    """{key: is_done} of the task's statuses: as read with its row when they were, else one query."""
    read = task.__dict__.get(STATUSES)
    if read is not None:
        return {key: bool(done) for key, done in json.loads(read)}
    return dict(TaskStatus.objects.filter(task_id=task.pk).order_by().values_list("key", "is_done"))


# Names of the task's totals when they are read with its row (`task_totals`).
HELD, ISSUES, DONE = "totals_held", "totals_issues", "totals_done"


def task_totals(done_keys: Iterable[str] | None = None) -> dict[str, Coalesce]:
    """The task's held items (hidden consensus originals aside), open issues and done count, as
    expressions to read with its row: what decides its state."""
    work = Assignment.objects.filter(task_id=OuterRef("pk")).exclude(kind=AssignmentKind.CONSENSUS).order_by()
    if done_keys is None:
        done_statuses = TaskStatus.objects.filter(task_id=OuterRef(OuterRef("pk")), is_done=True).values("key")
        done_filter = Q(status__in=Subquery(done_statuses))
    else:
        done_filter = Q(status__in=list(done_keys))
    done = (
        StatusCount.objects.filter(done_filter, assignment__task_id=OuterRef("pk"))
        .exclude(assignment__kind=AssignmentKind.CONSENSUS)
        .order_by()
    )

    def total(grouped: QuerySet[Any, Any], expression: Any) -> Coalesce:
        return Coalesce(Subquery(grouped.annotate(n=Sum(expression)).values("n")[:1]), 0)

    return {
        HELD: total(work.values("task_id"), HELD_ITEMS),
        ISSUES: total(work.values("task_id"), F("issue_count")),
        DONE: total(done.values("assignment__task_id"), F("count")),
    }


def _state_set(task: AnnotationTask, *, held: int, issues: int, done: int) -> None:
    """Completed when every worked item has a final status; written only when it changes."""
    if held and done >= held:
        state = TaskState.COMPLETED_WITH_ISSUES if issues else TaskState.COMPLETED
    else:
        state = TaskState.OPEN
    if state != task.state:
        AnnotationTask.objects.filter(pk=task.pk).update(state=state, updated_at=timezone.now())
        task.state = state


def task_state_refresh(task: AnnotationTask, *, done_keys: Iterable[str] | None = None) -> None:
    """Read the task's totals (one query) and set its state from them."""
    numbers = (
        AnnotationTask.objects.filter(pk=task.pk).annotate(**task_totals(done_keys)).values(HELD, ISSUES, DONE).get()
    )
    _state_set(task, held=numbers[HELD], issues=numbers[ISSUES], done=numbers[DONE])


def _task_state_follow(task: AnnotationTask, *, done_keys: frozenset[str], delta: int) -> None:
    """The state after one item started (+1) or stopped (-1) being done. When the caller read the
    totals with the task's lock (`lock_task(task, **task_totals())`), nothing else has moved them
    since, so they need no second read."""
    known = task.__dict__
    if DONE in known:
        _state_set(task, held=known[HELD], issues=known[ISSUES], done=known[DONE] + delta)
        known[DONE] += delta
    else:
        task_state_refresh(task, done_keys=done_keys)


def _task_item_rows(task_id: int, item_id: int, copy: int | None = None) -> QuerySet[TaskItem]:
    query = TaskItem.objects.select_for_update().filter(task_id=task_id, item_id=item_id)
    if copy is not None:
        query = query.filter(copy=copy)
    return query.select_related("assignment").order_by("copy")


# Every status change reads its row: compiled once per process (taskboard.sql.Compiled), as its
# query building cost more than the statement (issue 22). Built inside the change's transaction.
# A copy's number is no key Compiled can stand in for (a small integer): copy 0, every item's outside
# consensus, is compiled as a constant, and further consensus copies use the ORM.
_TASK_ITEM_ROWS: Compiled[TaskItem] = Compiled(lambda task_id, item_id: _task_item_rows(task_id, item_id))
_TASK_ITEM_COPY_0: Compiled[TaskItem] = Compiled(lambda task_id, item_id: _task_item_rows(task_id, item_id, 0))


def _task_item_for(*, task: AnnotationTask, item: Item, by: User, copy: int | None) -> TaskItem:
    rows: list[TaskItem]
    if copy is None:
        rows = _TASK_ITEM_ROWS.rows(task.pk, item.pk)
    elif copy == 0:
        rows = _TASK_ITEM_COPY_0.rows(task.pk, item.pk)
    else:
        rows = list(_task_item_rows(task.pk, item.pk, copy))
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
    done_keys: frozenset[str] = frozenset()

    @property
    def changed(self) -> bool:
        return self.old != self.new

    @property
    def is_done(self) -> bool:
        """The new status counts as done in the task."""
        return self.new is not None and self.new in self.done_keys


def _count_move(*, assignment_id: int, old: str | None, new: str | None) -> None:
    """The assignment's status counters follow one item from `old` to `new`."""
    if old is not None:
        StatusCount.objects.filter(assignment_id=assignment_id, status=old).update(count=F("count") - 1)
    if new is not None:
        upsert_add(StatusCount._meta.db_table, {"assignment_id": assignment_id, "status": new}, {"count": 1})


def _status_write(
    *,
    task: AnnotationTask,
    item: Item,
    by: User,
    copy: int | None,
    new_status: str | None,
    task_locked: bool,
    gate: Callable[[AnnotationTask, User], None] | None = None,
) -> StatusChange:
    if not task_locked:
        task = lock_task(task)
    if not task.accepts_work:
        raise ValidationError({"status": "This task no longer accepts work."})
    is_done = _statuses_of(task)
    if new_status is not None and new_status not in is_done:
        raise ValidationError({"status": f"“{new_status}” is not a status of this task."})
    done_keys = frozenset(key for key, done in is_done.items() if done)
    row = _task_item_for(task=task, item=item, by=by, copy=copy)
    if row.assignment.assignee_id is None or row.assignment.assignee_id != by.pk:
        # Only the holder decides: a manager (or anyone else) is refused, whatever their role.
        # Flows acting for the holder (QA reject, rework return, pipeline reopen) pass the holder as `by`.
        raise PermissionDenied(
            "Only the assignee holding this item can set or clear its status; "
            f"{getattr(by, 'email', 'you')} does not hold it."
        )
    if gate is not None:
        gate(task, by)
    old_status = row.status
    row.task = task
    change = StatusChange(task=task, row=row, old=old_status, new=new_status, by=by, done_keys=done_keys)
    if old_status == new_status:
        return change
    row.status = new_status
    row.status_by = by if new_status is not None else None
    row.status_at = timezone.now() if new_status is not None else None
    row.save(update_fields=["status", "status_by", "status_at"])
    logged = new_status if new_status is not None else old_status
    assert logged is not None  # old != new, so one of them is a status
    StatusLog.objects.create(
        task_id=task.pk,
        item_id=row.item_id,
        assignment_pk=row.assignment_id,
        copy=row.copy,
        status=logged,
        action=StatusAction.CREATE if new_status is not None else StatusAction.DELETE,
        creator=by.email,
        at=row.status_at or timezone.now(),
    )
    _count_move(assignment_id=row.assignment_id, old=old_status, new=new_status)
    # The done count moves only when an item starts or stops being done; otherwise the state stands.
    delta = int(new_status in done_keys) - int(old_status in done_keys)
    if delta:
        _task_state_follow(task, done_keys=done_keys, delta=delta)
    # A projection only: the dashboards keep their counters from it. What a status change sets
    # off in the work (QA, rework, consensus, pulling, pipelines) is called by name in work.flow.
    signals.task_item_status_changed.send(
        sender=TaskItem, task_item=row, old_status=old_status, new_status=new_status, by=by, done_keys=done_keys
    )
    return change


def status_write(
    *,
    task: AnnotationTask,
    item: Item,
    by: User,
    new_status: str | None,
    copy: int | None = None,
    gate: Callable[[AnnotationTask, User], None] | None = None,
) -> StatusChange:
    """The write of `status_set`/`status_clear` for a caller that owns the transaction and holds the
    task's row lock (`lock_task`): the status flow, which adds no savepoint of its own this way.

    `gate` is the caller's own refusal of the holder (the flow's qualification), asked once the
    holder rule has passed and before anything is written: someone who holds no such item is told
    that first, not what the holder would still need."""
    if new_status is not None and (not isinstance(new_status, str) or not new_status):
        raise ValidationError({"status": "Choose a status."})
    return _status_write(task=task, item=item, by=by, copy=copy, new_status=new_status, task_locked=True, gate=gate)


@transaction.atomic
def status_set(*, task: AnnotationTask, item: Item, status: str, by: User, copy: int | None = None) -> StatusChange:
    """Write a status on the item the person holds in the task, counters and task state with it.
    Only this write: `taskboard.work.flow.item_status_set` is the status change with its consequences."""
    if not isinstance(status, str) or not status:
        raise ValidationError({"status": "Choose a status."})
    return _status_write(task=task, item=item, by=by, copy=copy, new_status=status, task_locked=False)


@transaction.atomic
def status_clear(*, task: AnnotationTask, item: Item, by: User, copy: int | None = None) -> StatusChange:
    """Clear the item's status (it is to do again); see `status_set`."""
    return _status_write(task=task, item=item, by=by, copy=copy, new_status=None, task_locked=False)
