"""Priority that orders the work: per task (1 low to 3 high) and per item in a task (0 to 100, 50 by
default). Pulls take the highest item priority first in a task, and a person's "next work" takes
the highest task priority first across every task they may pull from; an annotator's next item in a
distributed task follows item priority too (`work/queries.py`).

Bulk priority sets one value over a whole selection (a DQL filter or the item browser's filter) in
one UPDATE, whatever its size; a large one runs as a job (`bulk_jobs`), whose rows change in runs.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery

from taskboard.accounts.models import User
from taskboard.annotation.models import (
    ITEM_PRIORITY_MAX,
    ITEM_PRIORITY_MIN,
    Allocation,
    AnnotationTask,
    Assignment,
    AssignmentKind,
    OperationKind,
    Pause,
    TaskItem,
    TaskState,
    WorkloadEntry,
)
from taskboard.annotation.operations import ROW_TABLE, operation_count, operation_start, record_priority_rows
from taskboard.annotation.pulling import pulling_claim
from taskboard.annotation.rows import TASK_ITEM_TABLE, Report, in_run, key_runs
from taskboard.annotation.selection import Selection, select_items
from taskboard.annotation.statuses import lock_task, require_not_closed
from taskboard.projects.models import Project

PRIORITY_MESSAGE = f"An item priority is a whole number from {ITEM_PRIORITY_MIN} to {ITEM_PRIORITY_MAX}."


def item_priority_problem(priority: object) -> str | None:
    ok = isinstance(priority, int) and not isinstance(priority, bool)
    return None if ok and ITEM_PRIORITY_MIN <= priority <= ITEM_PRIORITY_MAX else PRIORITY_MESSAGE  # type: ignore[operator]


def selected_rows(*, task: AnnotationTask, selection: Selection | None) -> QuerySet[TaskItem]:
    """The task's rows (every copy) of the selected items; all of them with no selection."""
    rows = TaskItem.objects.filter(task=task)
    if selection is None:
        return rows
    return rows.filter(item_id__in=select_items(dataset=task.dataset, selection=selection).order_by().values("id"))


@transaction.atomic
def items_priority_set(
    *, task: AnnotationTask, selection: Selection | None, priority: object, by: User, progress: Report | None = None
) -> int:
    """Give every selected item of `task` this priority. Returns how many rows changed.

    In the request: one statement. Watched by a job (`progress`): the rows and their values before
    are recorded in one INSERT … SELECT, then changed in runs of row ids, one UPDATE a run."""
    problem = item_priority_problem(priority)
    if problem or not isinstance(priority, int):
        raise ValidationError({"priority": problem or PRIORITY_MESSAGE})
    task = lock_task(task)
    require_not_closed(task, "priority")
    rows = selected_rows(task=task, selection=selection).exclude(priority=priority)
    operation = operation_start(
        task=task,
        kind=OperationKind.PRIORITY,
        by=by,
        summary=f"Priority {priority} on {'a filter' if selection is not None else 'every item'}",
        data={"priority": priority, "selection": selection.to_json() if selection is not None else None},
    )
    rows_sql, params = rows.order_by().values("id", "priority").query.sql_with_params()
    if connection.vendor == "postgresql" and progress is None:
        # One pass: the rows are set and their values before recorded (for undo) in one statement.
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH o AS ({rows_sql}), upd AS (UPDATE {TASK_ITEM_TABLE} t SET priority = %s FROM o "
                f"WHERE t.id = o.id RETURNING t.id, o.priority) "
                f"INSERT INTO {ROW_TABLE} (operation_id, task_item_id, before_priority) "
                f"SELECT %s, id, priority FROM upd",
                [*params, priority, operation.pk],
            )
            changed = cursor.rowcount
    else:
        # The values before, for undo; then exactly the rows recorded, run by run.
        changed = record_priority_rows(operation=operation, rows_sql=rows_sql, params=list(params))
        if progress is not None:
            progress(0, changed)
        recorded = f"SELECT task_item_id FROM {ROW_TABLE} WHERE operation_id = %s"
        done = 0
        with connection.cursor() as cursor:
            for run in key_runs(
                sql=recorded, params=[operation.pk], key="task_item_id", total=changed, watched=progress is not None
            ):
                where, where_params = in_run("task_item_id", run)
                cursor.execute(
                    f"UPDATE {TASK_ITEM_TABLE} SET priority = %s WHERE id IN ({recorded} AND {where})",
                    [priority, operation.pk, *where_params],
                )
                done += cursor.rowcount
                if progress is not None:
                    progress(done, changed)
    if not changed:
        operation.delete()
        return 0
    operation_count(operation, changed)
    return changed


def priority_levels(task: AnnotationTask) -> list[tuple[int, int]]:
    """(priority, items) of the task's rows, highest first: what the priority page shows."""
    rows = TaskItem.objects.filter(task=task).order_by().values_list("priority").annotate(n=Count("id"))
    return sorted(((p, n) for p, n in rows), reverse=True)


@dataclass
class NextWork:
    task: AnnotationTask | None
    claimed: int
    # Tasks with a batch waiting that `refusal` kept the person out of (a qualification not passed),
    # each with its reason, so that "nothing to pull" can say why.
    passed_over: tuple[tuple[AnnotationTask, str], ...] = ()


def pullable_tasks(*, user: User, project: Project | None = None) -> QuerySet[AnnotationTask]:
    """Open pulling tasks `user` may pull from (in the workload or holding a live assignment, not
    paused there), highest task priority first, then the best item priority waiting, then due date."""
    paused = Pause.objects.filter(user=user).filter(
        Q(task_id=OuterRef("pk")) | Q(task__isnull=True, project_id=OuterRef("project_id"))
    )
    allowed = Q(Exists(WorkloadEntry.objects.filter(task_id=OuterRef("pk"), assignee=user))) | Q(
        Exists(
            Assignment.objects.filter(task_id=OuterRef("pk"), assignee=user, kind=AssignmentKind.WORK, removed=False)
        )
    )
    best_waiting = (
        TaskItem.objects.filter(task_id=OuterRef("pk"), in_queue=True).order_by("-priority").values("priority")[:1]
    )
    tasks = AnnotationTask.objects.filter(allocation=Allocation.PULLING, state=TaskState.OPEN, closed_at__isnull=True)
    if project is not None:
        tasks = tasks.filter(project=project)
    return (
        tasks.filter(allowed)
        .exclude(Exists(paused))
        .annotate(best_waiting=Subquery(best_waiting))
        .filter(best_waiting__isnull=False)
        .order_by("-priority", "-best_waiting", "due_at", "pk")
    )


def pull_next(
    *, user: User, project: Project | None = None, refusal: Callable[[AnnotationTask], str | None] | None = None
) -> NextWork:
    """Claim the next batch from the first task in priority order that gives one, passing over those
    where `refusal`, a gate of a higher layer such as a qualification, says why the person may not
    work (None: they may)."""
    passed_over: list[tuple[AnnotationTask, str]] = []
    for task in pullable_tasks(user=user, project=project)[:20]:
        if refusal is not None and (why := refusal(task)) is not None:
            passed_over.append((task, why))
            continue
        claimed = pulling_claim(task=task, user=user)
        if claimed:
            return NextWork(task=task, claimed=claimed)
    return NextWork(task=None, claimed=0, passed_over=tuple(passed_over))
