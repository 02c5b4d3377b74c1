"""Reversible bulk operations: a reassign, a redistribute, a hand-off, a bulk priority or a bulk status
(`bulk_status`) is recorded
as one operation (`BulkOperation`) that a manager can undo as one, as long as the items it touched
have not moved, been worked on or been changed since.

Moves are recorded by their change records (`HoldingChange.operation`); undoing sends every moved
row back to the assignment it came from, set-based, with the counters and a change record each. A
bulk priority keeps each row's value before (`OperationRow`); undoing restores them in one UPDATE.
Undo is all or nothing: if any touched item moved since, nothing changes and the message says how many.
"""

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation.bulk_status import status_undo
from taskboard.annotation.models import (
    AnnotationTask,
    Assignment,
    BulkOperation,
    ChangeKind,
    HoldingChange,
    OperationKind,
    OperationRow,
    WorkloadEntry,
)
from taskboard.annotation.rows import CHANGE_TABLE, TASK_ITEM_TABLE
from taskboard.annotation.statuses import lock_task
from taskboard.projects.models import Project

ROW_TABLE = OperationRow._meta.db_table
MOVE_KINDS = (OperationKind.REASSIGN, OperationKind.REDISTRIBUTE, OperationKind.HAND_OFF)


def workload_of(task: AnnotationTask) -> list[list[int]]:
    return [[e.assignee_id, e.load] for e in WorkloadEntry.objects.filter(task=task).order_by("id")]


def operation_start(
    *,
    kind: str,
    by: User | None,
    task: AnnotationTask | None = None,
    project: Project | None = None,
    summary: str = "",
    data: dict | None = None,
) -> BulkOperation:
    project_id = project.pk if project is not None else task.project_id if task is not None else None
    assert project_id is not None
    return BulkOperation.objects.create(
        project_id=project_id, task=task, kind=kind, by=by, summary=summary[:300], data=data or {}
    )


def operation_count(operation: BulkOperation, count: int) -> None:
    BulkOperation.objects.filter(pk=operation.pk).update(count=count)
    operation.count = count


def record_priority_rows(*, operation: BulkOperation, rows_sql: str, params: list | tuple) -> int:
    """Keep the value before of every row `rows_sql` (a SELECT of id, priority) names."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ROW_TABLE} (operation_id, task_item_id, before_priority) "
            f"SELECT %s, r.id, r.priority FROM ({rows_sql}) r",
            [operation.pk, *params],
        )
        return cursor.rowcount


# The moved rows still where the operation put them, untouched since: no status, no later change.
_UNTOUCHED = (
    f"EXISTS (SELECT 1 FROM {TASK_ITEM_TABLE} t WHERE t.task_id = c.task_id AND t.item_id = c.item_id "
    f"AND t.assignment_id = c.to_assignment_id AND t.status IS NULL) "
    f"AND NOT EXISTS (SELECT 1 FROM {CHANGE_TABLE} d WHERE d.item_id = c.item_id AND d.task_id = c.task_id "
    f"AND d.id > c.id)"
)


def _undo_moves(operation: BulkOperation, by: User) -> int:
    changes = HoldingChange.objects.filter(operation=operation)
    task_ids = sorted(set(changes.values_list("task_id", flat=True).distinct()))
    for task in AnnotationTask.objects.filter(pk__in=task_ids).order_by("pk"):
        lock_task(task)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*), SUM(CASE WHEN {_UNTOUCHED} THEN 0 ELSE 1 END) FROM {CHANGE_TABLE} c "
            f"WHERE c.operation_id = %s",
            [operation.pk],
        )
        total, touched = cursor.fetchone()
        if touched:
            raise ValidationError(
                {
                    "operation": f"{touched} of the {total} items it moved have moved or been worked on since; "
                    "it can no longer be undone."
                }
            )
        now = timezone.now()
        note = f"undo of operation {operation.pk}"
        if connection.vendor == "postgresql":
            # The rows found once (by their change records), moved back by id, recorded and counted
            # in one statement.
            cursor.execute(
                f"WITH c AS MATERIALIZED (SELECT c.task_id, c.item_id, c.from_assignment_id AS back_to, "
                f"c.to_assignment_id AS now_at, t.id AS row_id, t.rework FROM {CHANGE_TABLE} c "
                f"JOIN {TASK_ITEM_TABLE} t ON t.task_id = c.task_id AND t.item_id = c.item_id "
                f"AND t.assignment_id = c.to_assignment_id WHERE c.operation_id = %s), "
                f"moved AS (UPDATE {TASK_ITEM_TABLE} u SET assignment_id = c.back_to, lease_id = NULL FROM c "
                f"WHERE u.id = c.row_id RETURNING c.now_at, c.back_to, c.rework), "
                f"recorded AS (INSERT INTO {CHANGE_TABLE} (task_id, item_id, kind, from_assignment_id, "
                f"to_assignment_id, count, by_id, at, note, operation_id) SELECT c.task_id, c.item_id, %s, c.now_at, "
                f"c.back_to, 1, %s, %s, %s, NULL FROM c) "
                f"SELECT now_at, back_to, count(*), count(*) FILTER (WHERE rework) FROM moved "
                f"GROUP BY now_at, back_to",
                [operation.pk, ChangeKind.UNDO.value, by.pk, now, note],
            )
            pairs = cursor.fetchall()
        else:
            cursor.execute(
                f"SELECT c.to_assignment_id, c.from_assignment_id, count(*), "
                f"SUM(CASE WHEN t.rework THEN 1 ELSE 0 END) FROM {CHANGE_TABLE} c JOIN {TASK_ITEM_TABLE} t "
                f"ON t.task_id = c.task_id AND t.item_id = c.item_id AND t.assignment_id = c.to_assignment_id "
                f"WHERE c.operation_id = %s GROUP BY c.to_assignment_id, c.from_assignment_id",
                [operation.pk],
            )
            pairs = cursor.fetchall()
            cursor.execute(
                f"INSERT INTO {CHANGE_TABLE} (task_id, item_id, kind, from_assignment_id, to_assignment_id, count, "
                f"by_id, at, note, operation_id) SELECT c.task_id, c.item_id, %s, c.to_assignment_id, "
                f"c.from_assignment_id, 1, %s, %s, %s, NULL FROM {CHANGE_TABLE} c WHERE c.operation_id = %s",
                [ChangeKind.UNDO.value, by.pk, now, note, operation.pk],
            )
            cursor.execute(
                f"UPDATE {TASK_ITEM_TABLE} SET assignment_id = c.from_assignment_id, lease_id = NULL "
                f"FROM {CHANGE_TABLE} c WHERE c.operation_id = %s AND {TASK_ITEM_TABLE}.task_id = c.task_id "
                f"AND {TASK_ITEM_TABLE}.item_id = c.item_id AND {TASK_ITEM_TABLE}.assignment_id = c.to_assignment_id",
                [operation.pk],
            )
    for to_id, from_id, n, rework in sorted(pairs):
        Assignment.objects.filter(pk=to_id).update(
            item_count=F("item_count") - n, rework_count=F("rework_count") - rework
        )
        Assignment.objects.filter(pk=from_id).update(
            item_count=F("item_count") + n, rework_count=F("rework_count") + rework, removed=False
        )
    if operation.kind == OperationKind.REASSIGN and operation.task_id is not None and "workload" in operation.data:
        _restore_workload(operation, to_ids={to_id for to_id, _, _, _ in pairs})
    return int(total or 0)


def _restore_workload(operation: BulkOperation, *, to_ids: set[int]) -> None:
    """A reassign handed its person's share to the newcomer: the shares go back as they were, and a
    newcomer the undo left with nothing is off the task again."""
    before = {int(user_id): int(load) for user_id, load in operation.data["workload"]}
    WorkloadEntry.objects.filter(task_id=operation.task_id).exclude(assignee_id__in=list(before)).delete()
    for user_id, load in before.items():
        WorkloadEntry.objects.update_or_create(task_id=operation.task_id, assignee_id=user_id, defaults={"load": load})
    Assignment.objects.filter(pk__in=list(to_ids), item_count=0).exclude(assignee_id__in=list(before)).update(
        removed=True
    )


def _undo_priority(operation: BulkOperation) -> int:
    value = operation.data.get("priority")
    with connection.cursor() as cursor:
        # A row gone (its item removed from the task) counts as changed. A move to another holder does
        # not: priority belongs to the item in the task, whoever holds it, and in a pulling task every
        # claim is a move, so a priority set to order the pulls could otherwise never be undone.
        cursor.execute(
            f"SELECT count(*), SUM(CASE WHEN t.id IS NULL OR t.priority <> %s THEN 1 ELSE 0 END) "
            f"FROM {ROW_TABLE} r LEFT JOIN {TASK_ITEM_TABLE} t ON t.id = r.task_item_id WHERE r.operation_id = %s",
            [value, operation.pk],
        )
        total, changed = cursor.fetchone()
        if changed:
            raise ValidationError(
                {
                    "operation": f"{changed} of the {total} items it changed have had their priority changed or left "
                    "the task since; it can no longer be undone."
                }
            )
        cursor.execute(
            f"UPDATE {TASK_ITEM_TABLE} SET priority = r.before_priority FROM {ROW_TABLE} r "
            f"WHERE r.operation_id = %s AND {TASK_ITEM_TABLE}.id = r.task_item_id",
            [operation.pk],
        )
        return cursor.rowcount


@transaction.atomic
def operation_undo(*, operation: BulkOperation, by: User) -> int:
    """Undo `operation` as one: every row it changed goes back, or (if any was touched since)
    nothing does. Returns how many rows went back."""
    operation = BulkOperation.objects.select_for_update().get(pk=operation.pk)
    if operation.is_undone:
        raise ValidationError({"operation": "This operation is already undone."})
    if operation.kind in MOVE_KINDS:
        count = _undo_moves(operation, by)
    elif operation.kind == OperationKind.PRIORITY:
        if operation.task_id is not None:
            lock_task(operation.task)  # type: ignore[arg-type]
        count = _undo_priority(operation)
    elif operation.kind == OperationKind.STATUS and operation.task_id is not None:
        count = status_undo(operation, by)
    else:
        raise ValidationError({"operation": "This operation cannot be undone."})
    BulkOperation.objects.filter(pk=operation.pk).update(undone_at=timezone.now(), undone_by=by)
    return count


def operations_of(*, project: Project, task: AnnotationTask | None = None) -> QuerySet[BulkOperation]:
    """The history, newest first."""
    ops = BulkOperation.objects.filter(project=project).select_related("by", "undone_by", "task")
    return ops.filter(task=task) if task is not None else ops
