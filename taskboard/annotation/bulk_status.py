"""Bulk status: a manager sets (or clears) one status on every item of a task a filter matches, as one
recorded operation (`BulkOperation`, kind status) that can be undone as one.

Set-based whatever the selection's size: each row's status before is kept (`OperationRow`) by one
INSERT … SELECT, the rows change in one UPDATE, the status log gets one row per item by one
INSERT … SELECT, and the counters (StatusCount, the task's state, the dashboards' throughput through
`task_items_statuses_changed`) move by one statement per (assignment, status) group. A large one runs
as a job (`bulk_jobs`): the rows change and are logged in runs, reported one by one, in one transaction.

A bulk status is the manager's decision, not the holder's work: it sets off nothing of the status flow
(`work/flow.py`: no QA intake, no refill, no routing, no consensus scoring, no pipeline), and a QA
task's review tallies, which credit reviewers' verdicts, do not count it. Only items a person holds
(work assignments) are changed: items waiting in a pulling queue have nobody's work to judge.
"""

from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Max, Q, QuerySet
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation import signals
from taskboard.annotation.models import (
    AnnotationTask,
    AssignmentKind,
    BulkOperation,
    HoldingChange,
    OperationKind,
    OperationRow,
    StatusAction,
    StatusCount,
    StatusLog,
    TaskItem,
    TaskStatus,
)
from taskboard.annotation.rows import CHANGE_TABLE, TASK_ITEM_TABLE, Report, in_run, key_runs
from taskboard.annotation.selection import Selection, select_items
from taskboard.annotation.statuses import lock_task, task_state_refresh
from taskboard.sql import upsert_add

ROW_TABLE = OperationRow._meta.db_table
LOG_TABLE = StatusLog._meta.db_table
COUNT_TABLE = StatusCount._meta.db_table


def _held_rows(*, task: AnnotationTask, selection: Selection | None) -> QuerySet[TaskItem]:
    rows = TaskItem.objects.filter(task=task, assignment__kind=AssignmentKind.WORK)
    if selection is None:
        return rows
    return rows.filter(item_id__in=select_items(dataset=task.dataset, selection=selection).order_by().values("id"))


def _require_open(task: AnnotationTask, field: str = "status") -> None:
    if not task.accepts_work:
        raise ValidationError({field: "This task no longer accepts work; its statuses no longer change."})


def _done_keys(task: AnnotationTask) -> set[str]:
    return set(TaskStatus.objects.filter(task=task, is_done=True).values_list("key", flat=True))


def _counters_follow(
    *, task: AnnotationTask, operation: BulkOperation, undo: bool, groups: list[tuple] | None = None
) -> None:
    """Move the counters of every row the operation names (already written) to the status it has now,
    from the one it had (before the operation; or, for an undo, the operation's): one GROUP BY to read
    the moves (unless the caller read them as `groups`: assignment, before, now, count), one statement
    per (assignment, status) group to apply them."""
    if groups is None:
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT t.assignment_id, r.before_status, t.status, count(*) FROM {ROW_TABLE} r "
                f"JOIN {TASK_ITEM_TABLE} t ON t.id = r.task_item_id WHERE r.operation_id = %s "
                f"GROUP BY t.assignment_id, r.before_status, t.status",
                [operation.pk],
            )
            groups = cursor.fetchall()
    done = _done_keys(task)
    done_by_assignment: dict[int, int] = {}
    for assignment_id, was, new, n in sorted(groups, key=lambda g: (g[0], g[1] or "", g[2] or "")):
        old = operation.data.get("status") if undo else was
        if old == new:
            continue
        if old is not None:
            StatusCount.objects.filter(assignment_id=assignment_id, status=old).update(count=F("count") - n)
        if new is not None:
            upsert_add(COUNT_TABLE, {"assignment_id": assignment_id, "status": new}, {"count": n})
        delta = n * (int(new in done) - int(old in done))
        if delta:
            done_by_assignment[assignment_id] = done_by_assignment.get(assignment_id, 0) + delta
    if done_by_assignment:
        signals.task_items_statuses_changed.send(
            sender=TaskItem, task=task, done_by_assignment=done_by_assignment, by=operation.by
        )
    task_state_refresh(task, done_keys=done)


def _log(
    *, operation: BulkOperation, action: str, where: str, by: User, where_params: list[Any] | None = None
) -> None:
    """One status log row per item the operation names (`where` picks which), with the row's status
    as it is now, in one INSERT … SELECT."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {LOG_TABLE} (task_id, item_id, assignment_pk, copy, status, action, creator, at) "
            f"SELECT t.task_id, t.item_id, t.assignment_id, t.copy, t.status, %s, %s, %s "
            f"FROM {ROW_TABLE} r JOIN {TASK_ITEM_TABLE} t ON t.id = r.task_item_id "
            f"WHERE r.operation_id = %s AND {where}",
            [action, by.email, timezone.now(), operation.pk, *(where_params or [])],
        )


def status_problem(*, task: AnnotationTask, status: object) -> str | None:
    if status is None:
        return None
    if not isinstance(status, str) or not status:
        return "Choose a status."
    if not TaskStatus.objects.filter(task=task, key=status).exists():
        return f"“{status}” is not a status of this task."
    return None


def rows_to_change(*, task: AnnotationTask, selection: Selection | None, status: str | None) -> QuerySet[TaskItem]:
    """The held rows the selection matches that do not have `status` yet (None: that have one)."""
    rows = _held_rows(task=task, selection=selection)
    return (
        rows.filter(status__isnull=False)
        if status is None
        else rows.filter(Q(status__isnull=True) | ~Q(status=status))
    )


@transaction.atomic
def items_status_set(
    *, task: AnnotationTask, selection: Selection | None, status: str | None, by: User, progress: Report | None = None
) -> BulkOperation | None:
    """Set `status` (None: clear it) on every held item of `task` the selection matches, as one
    recorded operation. Returns it, or None when no row needed to change.

    In the request on PostgreSQL: one statement. Watched by a job (`progress`), or on SQLite: the rows
    and their values before are recorded in one INSERT … SELECT, then changed and logged in runs of
    row ids (one run unless watched)."""
    task = lock_task(task)
    _require_open(task)
    problem = status_problem(task=task, status=status)
    if problem:
        raise ValidationError({"status": problem})
    rows = rows_to_change(task=task, selection=selection, status=status)
    what = f"Status {status}" if status is not None else "Status cleared"
    operation = BulkOperation.objects.create(
        project_id=task.project_id,
        task=task,
        kind=OperationKind.STATUS,
        by=by,
        summary=f"{what} on {'a filter' if selection is not None else 'every item'}",
        data={
            "status": status,
            "selection": selection.to_json() if selection is not None else None,
            # Change records after this one are moves since the operation (undo refuses them). Moves
            # in the task take its lock, held here: none of them can slip in under the mark.
            "change_mark": HoldingChange.objects.aggregate(mark=Max("id"))["mark"] or 0,
        },
    )
    rows_sql, params = (
        rows.order_by().values("id", "priority", "status", "status_by_id", "status_at").query.sql_with_params()
    )
    now = timezone.now()
    written = [status, by.pk if status is not None else None, now if status is not None else None]
    action = StatusAction.CREATE if status is not None else StatusAction.DELETE
    groups: list[tuple] | None = None
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql" and progress is None:
            # One pass: the rows found once, changed, their values before recorded (for undo), one log
            # row each (a clear logs the status it took away), and the counters' moves read back.
            cursor.execute(
                f"WITH o AS MATERIALIZED ({rows_sql}), "
                f"upd AS (UPDATE {TASK_ITEM_TABLE} t SET status = %s, status_by_id = %s, status_at = %s FROM o "
                f"WHERE t.id = o.id RETURNING t.id, t.task_id, t.item_id, t.assignment_id, t.copy, o.priority, "
                f"o.status AS before_status, o.status_by_id AS before_by, o.status_at AS before_at), "
                f"recorded AS (INSERT INTO {ROW_TABLE} (operation_id, task_item_id, before_priority, before_status, "
                f"before_status_by_id, before_status_at) SELECT %s, id, priority, before_status, before_by, "
                f"before_at FROM upd), "
                f"logged AS (INSERT INTO {LOG_TABLE} (task_id, item_id, assignment_pk, copy, status, action, "
                f"creator, at) SELECT task_id, item_id, assignment_id, copy, "
                f"COALESCE(CAST(%s AS varchar), before_status), %s, %s, %s FROM upd) "
                f"SELECT assignment_id, before_status, CAST(%s AS varchar), count(*) FROM upd "
                f"GROUP BY assignment_id, before_status",
                [*params, *written, operation.pk, status, action, by.email, now, status],
            )
            groups = cursor.fetchall()
            changed = sum(n for *_, n in groups)
        else:
            cursor.execute(
                f"INSERT INTO {ROW_TABLE} (operation_id, task_item_id, before_priority, before_status, "
                f"before_status_by_id, before_status_at) SELECT %s, o.id, o.priority, o.status, o.status_by_id, "
                f"o.status_at FROM ({rows_sql}) o",
                [operation.pk, *params],
            )
            changed = cursor.rowcount
            if progress is not None:
                progress(0, changed)
            recorded = f"SELECT task_item_id FROM {ROW_TABLE} WHERE operation_id = %s"
            runs = key_runs(
                sql=recorded, params=[operation.pk], key="task_item_id", total=changed, watched=progress is not None
            )
            done = 0
            for run in runs if changed else []:
                where, where_params = in_run("r.task_item_id", run)
                if connection.vendor == "postgresql":
                    # One statement a run: the run's rows change and are logged (a clear logs the
                    # status it took away).
                    cursor.execute(
                        f"WITH r AS (SELECT task_item_id, before_status FROM {ROW_TABLE} r "
                        f"WHERE r.operation_id = %s AND {where}), "
                        f"upd AS (UPDATE {TASK_ITEM_TABLE} t SET status = %s, status_by_id = %s, status_at = %s "
                        f"FROM r WHERE t.id = r.task_item_id RETURNING t.task_id, t.item_id, t.assignment_id, "
                        f"t.copy, r.before_status) "
                        f"INSERT INTO {LOG_TABLE} (task_id, item_id, assignment_pk, copy, status, action, creator, "
                        f"at) SELECT task_id, item_id, assignment_id, copy, "
                        f"COALESCE(CAST(%s AS varchar), before_status), %s, %s, %s FROM upd",
                        [operation.pk, *where_params, *written, status, action, by.email, now],
                    )
                    done += cursor.rowcount
                    if progress is not None:
                        progress(done, changed)
                    continue
                if status is None:
                    # A clear logs the status it took away, before the rows lose it.
                    _log(operation=operation, action=action, where=where, by=by, where_params=where_params)
                own_where, own_params = in_run("task_item_id", run)
                cursor.execute(
                    f"UPDATE {TASK_ITEM_TABLE} SET status = %s, status_by_id = %s, status_at = %s WHERE id IN "
                    f"({recorded} AND {own_where})",
                    [*written, operation.pk, *own_params],
                )
                done += cursor.rowcount
                if status is not None:
                    _log(operation=operation, action=action, where=where, by=by, where_params=where_params)
                if progress is not None:
                    progress(done, changed)
    if not changed:
        operation.delete()
        return None
    operation.data["at"] = now.isoformat()
    BulkOperation.objects.filter(pk=operation.pk).update(count=changed, data=operation.data)
    operation.count = changed
    _counters_follow(task=task, operation=operation, undo=False, groups=groups)
    return operation


def status_undo(operation: BulkOperation, by: User) -> int:
    """Give each row the operation changed its status before (who set it and when too), if none of
    them changed status, moved to another holder or left the task since; all or nothing. The caller
    holds the operation's row lock."""
    task = lock_task(operation.task)  # type: ignore[arg-type]
    _require_open(task, "operation")
    status = operation.data.get("status")
    with connection.cursor() as cursor:
        # Still as the operation left it: in the task (a removed row is gone), with no status or its
        # status set by the same person, and not moved since (a status given back to a row someone
        # else now holds would credit the wrong person). Operations recorded before the change mark
        # existed compare times instead.
        if "change_mark" in operation.data:
            since, mark = "d.id > %s", operation.data["change_mark"]
        else:
            since, mark = "d.at > %s", operation.created_at
        params: list = [mark, operation.pk]
        if status is None:
            still = "t.status IS NULL"
        else:
            still, params = "t.status = %s AND t.status_by_id = %s", [status, operation.by_id, *params]
        not_moved = (
            f"NOT EXISTS (SELECT 1 FROM {CHANGE_TABLE} d WHERE d.item_id = t.item_id AND d.task_id = t.task_id "
            f"AND {since})"
        )
        cursor.execute(
            f"SELECT count(*), SUM(CASE WHEN t.id IS NOT NULL AND {still} AND {not_moved} THEN 0 ELSE 1 END) "
            f"FROM {ROW_TABLE} r LEFT JOIN {TASK_ITEM_TABLE} t ON t.id = r.task_item_id WHERE r.operation_id = %s",
            params,
        )
        total, touched = cursor.fetchone()
        if touched:
            raise ValidationError(
                {
                    "operation": f"{touched} of the {total} items it changed have had their status changed, moved "
                    "or left the task since; it can no longer be undone."
                }
            )
        # The log first for the statuses the undo takes away (the operation set them), then the rows,
        # then the log of the statuses it gives back.
        _log(operation=operation, action=StatusAction.DELETE, where="r.before_status IS NULL", by=by)
        cursor.execute(
            f"UPDATE {TASK_ITEM_TABLE} SET status = r.before_status, status_by_id = r.before_status_by_id, "
            f"status_at = r.before_status_at FROM {ROW_TABLE} r "
            f"WHERE r.operation_id = %s AND {TASK_ITEM_TABLE}.id = r.task_item_id",
            [operation.pk],
        )
    _log(operation=operation, action=StatusAction.CREATE, where="t.status IS NOT NULL", by=by)
    _counters_follow(task=task, operation=operation, undo=True)
    return int(total or 0)
