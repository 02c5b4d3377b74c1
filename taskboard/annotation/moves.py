"""Items into and out of a task, and undone work moved between people: add, remove, reassign,
redistribute. Set-based: one statement per step whatever the number of items, with the counters
and a record of every move (who, when, what) in the same transaction. Watched by a job (`bulk_jobs`),
a move records every move first and then moves the rows in runs, reporting after each.
"""

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, F, Max, Q, QuerySet
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation import signals
from taskboard.annotation.caps import require_room
from taskboard.annotation.leases import lease_release_person
from taskboard.annotation.models import (
    AnnotationTask,
    Assignment,
    AssignmentKind,
    BulkOperation,
    ChangeKind,
    HoldingChange,
    OperationKind,
    Pause,
    TaskItem,
    TaskState,
    TaskStatus,
    TaskType,
    WorkloadEntry,
)
from taskboard.annotation.operations import operation_count, operation_start, workload_of
from taskboard.annotation.rows import (
    CHANGE_TABLE,
    TASK_ITEM_TABLE,
    Report,
    case_by_boundaries,
    in_run,
    insert_task_items,
    key_runs,
    ordered,
    ranked_sql,
)
from taskboard.annotation.selection import Selection, select_items
from taskboard.annotation.spec import limit_problem
from taskboard.annotation.statuses import ensure_status_counts, lock_task, require_not_closed, task_state_refresh
from taskboard.annotation.telling import work_handed_out
from taskboard.annotation.workload import WorkloadUnit, boundaries, may_work, split_counts, workload_build
from taskboard.projects.models import Project


@dataclass
class AddResult:
    added: int
    skipped: int


@dataclass
class RemoveResult:
    removed: int
    kept: int


def work_assignments(*, task: AnnotationTask, users: Sequence[User]) -> list[Assignment]:
    """The work assignment of each user in `task`, made (or revived) where missing."""
    existing = {a.assignee_id: a for a in Assignment.objects.filter(task=task, assignee__in=users)}
    result: list[Assignment] = []
    revive: list[int] = []
    made: list[Assignment] = []
    for user in users:
        a = existing.get(user.pk)
        if a is None:
            a = Assignment(task=task, assignee=user, kind=AssignmentKind.WORK)
            made.append(a)
        elif a.removed:
            revive.append(a.pk)
        result.append(a)
    Assignment.objects.bulk_create(made)
    if revive:
        Assignment.objects.filter(pk__in=revive).update(removed=False)
    ensure_status_counts(
        assignment_ids=[a.pk for a in made],
        keys=list(TaskStatus.objects.filter(task=task).values_list("key", flat=True)),
    )
    return result


@transaction.atomic
def task_add_items(
    *,
    task: AnnotationTask,
    selection: Selection,
    by: User | None,
    workload: Sequence[WorkloadUnit] | None = None,
    assignees: Sequence[User] | None = None,
    to_queue: bool = False,
    limit: int | None = None,
    within: Q | None = None,
) -> AddResult:
    """Add the selected items not yet in the task, in one INSERT … SELECT.

    `within` (a Q over items) narrows the selection further: a pipeline passes its dataset node's
    folder and what has not entered yet, so no list of ids is ever built."""
    task = lock_task(task)
    require_not_closed(task, "selection")
    problem = limit_problem(limit)
    if problem:
        raise ValidationError({"limit": problem})
    qs = select_items(dataset=task.dataset, selection=selection)
    if within is not None:
        qs = qs.filter(within)
    in_task = TaskItem.objects.filter(task=task).values("item_id")
    skipped = qs.filter(id__in=in_task).count()
    new_items = ordered(qs.exclude(id__in=in_task), limit)
    total = new_items.count()
    if total == 0:
        if skipped == 0:
            raise ValidationError({"selection": "No items match this selection."})
        return AddResult(added=0, skipped=skipped)

    offset = TaskItem.objects.filter(task=task).aggregate(m=Max("rank"))["m"] or 0
    ranked, params = ranked_sql(new_items)
    now = timezone.now()
    if to_queue or (task.is_pulling and workload is None and not assignees):
        if not task.is_pulling:
            raise ValidationError({"allocation": "Only pulling tasks have a queue."})
        queue, _ = Assignment.objects.get_or_create(task=task, kind=AssignmentKind.QUEUE)
        targets, split, in_queue = [queue], [total], True
    else:
        if workload is None and not assignees:
            # The task's own split, among those who may still work; an equal one when the loads no longer
            # add up (after reassigns, or when someone was deactivated).
            entries = list(WorkloadEntry.objects.filter(task=task).select_related("assignee"))
            workers = may_work(task.project_id, [e.assignee_id for e in entries])
            if entries and not workers:
                names = ", ".join(e.assignee.email for e in entries)
                raise ValidationError(
                    {
                        "assignees": f"No one in this task may take new items ({names}: deactivated, or no longer a "
                        "working member): choose who gets them."
                    }
                )
            entries = [e for e in entries if e.assignee_id in workers]
            if sum(e.load for e in entries) == 100:
                workload = [WorkloadUnit(e.assignee, e.load) for e in entries]
            else:
                assignees = [e.assignee for e in entries]
        units = workload_build(project=task.project, workload=workload, assignees=assignees)
        targets = work_assignments(task=task, users=[u.user for u in units])
        split, in_queue = split_counts(total, [u.load for u in units]), False
    case, case_params = case_by_boundaries("r.rn", boundaries(split), [a.pk for a in targets])
    insert_task_items(
        task_id=task.pk,
        select_sql=f"SELECT r.item_id, {case} AS assignment_id, 0 AS copy, r.rn + %s AS rank, %s AS in_queue "
        f"FROM ({ranked}) r",
        params=case_params + [offset, in_queue] + params,
    )
    changes: list[HoldingChange] = []
    for assignment, count in zip(targets, split, strict=True):
        if count:
            Assignment.objects.filter(pk=assignment.pk).update(item_count=F("item_count") + count)
            changes.append(
                HoldingChange(task=task, kind=ChangeKind.ADD, to_assignment=assignment, count=count, by=by, at=now)
            )
    HoldingChange.objects.bulk_create(changes)
    if not in_queue:
        handed = {a.pk: n for a, n in zip(targets, split, strict=True)}
        work_handed_out(task=task, counts=handed, by=by, occasion=f"add:{offset}")
    if task.state != TaskState.OPEN:
        task_state_refresh(task)
    added_ids = list(TaskItem.objects.filter(task=task, rank__gt=offset).values_list("item_id", flat=True))
    signals.task_items_added.send(sender=AnnotationTask, task=task, item_ids=added_ids, by=by)
    return AddResult(added=total, skipped=skipped)


@transaction.atomic
def task_remove_items(*, task: AnnotationTask, selection: Selection, by: User) -> RemoveResult:
    """Remove the selected items that have no status in any copy; the others stay and are counted."""
    task = lock_task(task)
    require_not_closed(task, "selection")
    qs = select_items(dataset=task.dataset, selection=selection)
    rows = TaskItem.objects.filter(task=task, item_id__in=qs.order_by().values("id"))
    with_status = rows.filter(status__isnull=False).values("item_id")
    kept = with_status.distinct().count()
    removable = rows.exclude(item_id__in=with_status)
    removed = removable.values("item_id").distinct().count()
    now = timezone.now()
    rework_item_ids = _delete_counted(task=task, rows=removable, flagged_counter="rework_count", by=by, at=now)
    # A QA row waiting for the rework of a removed item would wait forever, so it goes too (the
    # reject cleared its status). Parent first, then its QA tasks: the order every change locks in.
    if rework_item_ids:
        qa_tasks = AnnotationTask.objects.select_for_update(no_key=True).filter(parent=task, type=TaskType.QA)
        qa_tasks = qa_tasks.order_by("pk")
        for qa_task in qa_tasks:
            waiting = TaskItem.objects.filter(
                task=qa_task, item_id__in=rework_item_ids, rework=True, status__isnull=True
            )
            _delete_counted(task=qa_task, rows=waiting, flagged_counter="issue_count", by=by, at=now)
            task_state_refresh(qa_task)
    task_state_refresh(task)
    return RemoveResult(removed=removed, kept=kept)


def _delete_counted(
    *, task: AnnotationTask, rows: QuerySet[TaskItem], flagged_counter: str, by: User, at: datetime.datetime
) -> list[int]:
    """Delete task item `rows` (none with a status) and take them off their assignments'
    `item_count`, the rework-flagged ones off `flagged_counter` too; one REMOVE change per
    assignment. Returns the item ids of the flagged rows."""
    counted = (
        rows.order_by().values("assignment_id").annotate(n=Count("id"), flagged=Count("id", filter=Q(rework=True)))
    )
    per_assignment = [(r["assignment_id"], r["n"], r["flagged"]) for r in counted]
    flagged_item_ids: list[int] = []
    if any(flagged for _, _, flagged in per_assignment):
        flagged_item_ids = list(rows.filter(rework=True).values_list("item_id", flat=True))
    rows.delete()
    changes: list[HoldingChange] = []
    for assignment_id, n, flagged in per_assignment:
        Assignment.objects.filter(pk=assignment_id).update(
            item_count=F("item_count") - n, **{flagged_counter: F(flagged_counter) - flagged}
        )
        changes.append(
            HoldingChange(task=task, kind=ChangeKind.REMOVE, from_assignment_id=assignment_id, count=n, by=by, at=at)
        )
    HoldingChange.objects.bulk_create(changes)
    return flagged_item_ids


def _movable_sql(
    *, source_id: int, target_ids: list[int], copies: bool = True, numbered: bool = True
) -> tuple[str, list[int]]:
    """The undone rows of `source_id`, numbered in rank order (for splits), whose item no target
    already holds. Only consensus tasks have copies that a target might hold (`copies`): elsewhere
    (task, item) is unique, and the look for one would cost a probe per row for nothing."""
    number = ", row_number() OVER (ORDER BY t.rank, t.id) AS rn" if numbered else ""
    sql = (
        f"SELECT t.id, t.item_id, t.task_id, t.rework{number} "
        f"FROM {TASK_ITEM_TABLE} t WHERE t.assignment_id = %s AND t.status IS NULL"
    )
    if not copies:
        return sql, [source_id]
    marks = ", ".join(["%s"] * len(target_ids))
    sql += (
        f" AND NOT EXISTS (SELECT 1 FROM {TASK_ITEM_TABLE} o WHERE o.task_id = t.task_id AND o.item_id = t.item_id "
        f"AND o.assignment_id IN ({marks}) AND o.assignment_id <> %s)"
    )
    return sql, [source_id, *target_ids, source_id]


def _move_pg(
    *, movable: str, params: list[Any], case: str, case_params: list[Any], source: int, record: list[Any]
) -> dict[int, tuple[int, int]]:
    """PostgreSQL: choose the rows once (a materialised CTE), move them, record each move and
    answer {target: (moved, of which out for rework)}, in one statement."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH y AS MATERIALIZED (SELECT m.id, m.task_id, m.item_id, m.rework, {case} AS to_id "
            f"FROM ({movable}) m), "
            f"moved AS (UPDATE {TASK_ITEM_TABLE} t SET assignment_id = y.to_id, lease_id = NULL FROM y "
            f"WHERE t.id = y.id AND y.to_id <> %s RETURNING y.to_id, y.rework), "
            f"recorded AS (INSERT INTO {CHANGE_TABLE} (task_id, item_id, kind, from_assignment_id, to_assignment_id, "
            f"count, by_id, at, note, operation_id) SELECT y.task_id, y.item_id, %s, %s, y.to_id, 1, %s, %s, '', %s "
            f"FROM y WHERE y.to_id <> %s) "
            f"SELECT to_id, count(*), count(*) FILTER (WHERE rework) FROM moved GROUP BY to_id",
            [*case_params, *params, source, *record, source],
        )
        return {to_id: (n, rework) for to_id, n, rework in cursor.fetchall()}


def _move_portable(
    *, movable: str, params: list[Any], case: str, case_params: list[Any], source: int, record: list[Any]
) -> dict[int, int]:
    """SQLite: the same in three statements; returns {target: moved out for rework}."""
    with connection.cursor() as cursor:
        # Items out for rework take their place on the rework counter with them.
        cursor.execute(
            f"SELECT y.to_id, count(*) FROM (SELECT {case} AS to_id FROM ({movable}) m WHERE m.rework) y "
            f"WHERE y.to_id <> %s GROUP BY y.to_id",
            case_params + params + [source],
        )
        rework_moved: dict[int, int] = dict(cursor.fetchall())
        cursor.execute(
            f"INSERT INTO {CHANGE_TABLE} (task_id, item_id, kind, from_assignment_id, to_assignment_id, count, by_id, "
            f"at, note, operation_id) SELECT y.task_id, y.item_id, %s, %s, y.to_id, 1, %s, %s, '', %s FROM "
            f"(SELECT m.task_id, m.item_id, {case} AS to_id FROM ({movable}) m) y WHERE y.to_id <> %s",
            [*record, *case_params, *params, source],
        )
        cursor.execute(
            # A moved item leaves its pulled batch: the lease no longer speaks for it.
            f"UPDATE {TASK_ITEM_TABLE} SET assignment_id = y.to_id, lease_id = NULL FROM "
            f"(SELECT m.id, {case} AS to_id FROM ({movable}) m) y "
            f"WHERE {TASK_ITEM_TABLE}.id = y.id AND y.to_id <> %s",
            case_params + params + [source],
        )
    return rework_moved


def _move_in_runs(
    *,
    movable: str,
    params: list[Any],
    case: str,
    case_params: list[Any],
    source: int,
    record: list[Any],
    progress: Report,
) -> dict[int, int]:
    """A job's move: every move is recorded first (one INSERT … SELECT of change records), then the
    rows follow their records in runs of record ids, one UPDATE a run, reporting after each; all in
    the caller's transaction. Returns {target: moved out for rework}."""
    operation_id = record[-1]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"WITH y AS MATERIALIZED (SELECT m.task_id, m.item_id, m.rework, {case} AS to_id "
                f"FROM ({movable}) m), "
                f"recorded AS (INSERT INTO {CHANGE_TABLE} (task_id, item_id, kind, from_assignment_id, "
                f"to_assignment_id, count, by_id, at, note, operation_id) SELECT y.task_id, y.item_id, %s, %s, "
                f"y.to_id, 1, %s, %s, '', %s FROM y WHERE y.to_id <> %s) "
                f"SELECT to_id, count(*) FILTER (WHERE rework) FROM y WHERE to_id <> %s GROUP BY to_id",
                [*case_params, *params, *record, source, source],
            )
            rework_moved: dict[int, int] = dict(cursor.fetchall())
        else:
            cursor.execute(
                f"SELECT y.to_id, count(*) FROM (SELECT {case} AS to_id FROM ({movable}) m WHERE m.rework) y "
                f"WHERE y.to_id <> %s GROUP BY y.to_id",
                case_params + params + [source],
            )
            rework_moved = dict(cursor.fetchall())
            cursor.execute(
                f"INSERT INTO {CHANGE_TABLE} (task_id, item_id, kind, from_assignment_id, to_assignment_id, count, "
                f"by_id, at, note, operation_id) SELECT y.task_id, y.item_id, %s, %s, y.to_id, 1, %s, %s, '', %s FROM "
                f"(SELECT m.task_id, m.item_id, {case} AS to_id FROM ({movable}) m) y WHERE y.to_id <> %s",
                [*record, *case_params, *params, source],
            )
        recorded = f"SELECT id FROM {CHANGE_TABLE} WHERE operation_id = %s AND from_assignment_id = %s"
        cursor.execute(f"SELECT count(*) FROM ({recorded}) r", [operation_id, source])
        total: int = cursor.fetchone()[0]
        progress(0, total)
        done = 0
        for run in key_runs(sql=recorded, params=[operation_id, source], key="id", total=total, watched=True):
            where, where_params = in_run("c.id", run)
            cursor.execute(
                # A moved item leaves its pulled batch: the lease no longer speaks for it.
                f"UPDATE {TASK_ITEM_TABLE} SET assignment_id = c.to_assignment_id, lease_id = NULL "
                f"FROM {CHANGE_TABLE} c WHERE c.operation_id = %s AND c.from_assignment_id = %s AND {where} "
                f"AND {TASK_ITEM_TABLE}.task_id = c.task_id AND {TASK_ITEM_TABLE}.item_id = c.item_id "
                f"AND {TASK_ITEM_TABLE}.assignment_id = c.from_assignment_id",
                [operation_id, source, *where_params],
            )
            done += cursor.rowcount
            progress(done, total)
    return rework_moved


def _move(
    *,
    assignment: Assignment,
    targets: list[Assignment],
    split_loads: list[int] | None,
    kind: str,
    by: User | None,
    operation: BulkOperation | None = None,
    progress: Report | None = None,
) -> dict[int, int]:
    """Move the undone items of `assignment` to `targets` in contiguous runs; returns moved counts.
    Watched by a job (`progress`, with an `operation`), the rows move in runs reported one by one."""
    target_ids = [a.pk for a in targets]
    copies = assignment.task.is_consensus
    record = [kind, assignment.pk, by.pk if by else None, timezone.now(), operation.pk if operation else None]
    watched = progress is not None and operation is not None
    if connection.vendor == "postgresql" and split_loads is None and len(target_ids) == 1 and not watched:
        movable, params = _movable_sql(source_id=assignment.pk, target_ids=target_ids, copies=copies, numbered=False)
        # One target: no split to size, so the rows are chosen once and moved, recorded and counted in
        # one statement (a reassign of 100,000 items costs little more than the UPDATE itself).
        counted = _move_pg(
            movable=movable, params=params, case="%s", case_params=target_ids, source=assignment.pk, record=record
        )
        split = [counted.get(target_ids[0], (0, 0))[0]]
        rework_moved = {t: r for t, (_, r) in counted.items()}
    else:
        movable, params = _movable_sql(source_id=assignment.pk, target_ids=target_ids, copies=copies)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM ({movable}) m", params)
            n: int = cursor.fetchone()[0]
        if not n:
            return {}
        split = split_counts(n, split_loads) if split_loads else [n]
        case, case_params = case_by_boundaries("m.rn", boundaries(split), target_ids)
        if watched:
            assert progress is not None
            rework_moved = _move_in_runs(
                movable=movable,
                params=params,
                case=case,
                case_params=case_params,
                source=assignment.pk,
                record=record,
                progress=progress,
            )
        elif connection.vendor == "postgresql":
            counted = _move_pg(
                movable=movable, params=params, case=case, case_params=case_params, source=assignment.pk, record=record
            )
            rework_moved = {t: r for t, (_, r) in counted.items()}
        else:
            rework_moved = _move_portable(
                movable=movable, params=params, case=case, case_params=case_params, source=assignment.pk, record=record
            )
    moved: dict[int, int] = {}
    for target_id, count in zip(target_ids, split, strict=True):
        if target_id != assignment.pk and count:
            moved[target_id] = count
            rework = rework_moved.get(target_id, 0)
            Assignment.objects.filter(pk=target_id).update(
                item_count=F("item_count") + count, rework_count=F("rework_count") + rework
            )
    if moved:
        Assignment.objects.filter(pk=assignment.pk).update(
            item_count=F("item_count") - sum(moved.values()),
            rework_count=F("rework_count") - sum(rework_moved.values()),
        )
    return moved


@transaction.atomic
def assignment_reassign(
    *, assignment: Assignment, to_user: User | None, by: User, progress: Report | None = None
) -> Assignment:
    """Give `to_user` the undone items of `assignment`; items with a status stay where they are."""
    task = lock_task(assignment.task)
    require_not_closed(task, "assignees")
    assignment = Assignment.objects.select_for_update().get(pk=assignment.pk)
    if assignment.kind != AssignmentKind.WORK:
        raise ValidationError({"assignees": "Hidden pools cannot be reassigned."})
    if to_user is None or to_user.pk == assignment.assignee_id:
        raise ValidationError({"assignees": "Choose another person."})
    workload_build(project=task.project, workload=None, assignees=[to_user])
    (target,) = work_assignments(task=task, users=[to_user])
    operation = operation_start(
        task=task,
        kind=OperationKind.REASSIGN,
        by=by,
        summary=f"Reassign {assignment.assignee} → {to_user.email}",
        data={"workload": workload_of(task), "from": assignment.pk},
    )
    moved = _move(
        assignment=assignment,
        targets=[target],
        split_loads=None,
        kind=ChangeKind.REASSIGN,
        by=by,
        operation=operation,
        progress=progress,
    )
    require_room(task=task, added=moved, field="assignees")
    operation_count(operation, sum(moved.values()))
    work_handed_out(task=task, counts=moved, by=by, occasion=f"reassign:{assignment.pk}:{timezone.now().timestamp()}")
    # The newcomer takes over the share in the task's workload, so later additions follow.
    old = WorkloadEntry.objects.filter(task=task, assignee_id=assignment.assignee_id).first()
    if old is not None:
        mine = WorkloadEntry.objects.filter(task=task, assignee=to_user).first()
        if mine is None:
            WorkloadEntry.objects.filter(pk=old.pk).update(assignee=to_user)
        else:
            WorkloadEntry.objects.filter(pk=mine.pk).update(load=min(100, mine.load + old.load))
            old.delete()
    # An assignment the reassign emptied is the person taken off the task (Dataloop drops it): it
    # leaves the lists; one that kept finished items stays, with them.
    Assignment.objects.filter(pk=assignment.pk, item_count=0).update(removed=True)
    target.refresh_from_db()
    return target


@transaction.atomic
def assignment_redistribute(
    *, assignment: Assignment, workload: list[WorkloadUnit], by: User, progress: Report | None = None
) -> list[Assignment]:
    """Spread the undone items of `assignment` over `workload` in contiguous runs."""
    task = lock_task(assignment.task)
    require_not_closed(task, "workload")
    assignment = Assignment.objects.select_for_update().get(pk=assignment.pk)
    if assignment.kind != AssignmentKind.WORK:
        raise ValidationError({"workload": "Hidden pools cannot be redistributed."})
    units = workload_build(project=task.project, workload=workload, assignees=None, field="workload")
    targets = work_assignments(task=task, users=[u.user for u in units])
    operation = operation_start(
        task=task,
        kind=OperationKind.REDISTRIBUTE,
        by=by,
        summary=f"Redistribute {assignment.assignee} over {len(units)} people",
        data={"from": assignment.pk},
    )
    moved = _move(
        assignment=assignment,
        targets=targets,
        split_loads=[u.load for u in units],
        kind=ChangeKind.REDISTRIBUTE,
        by=by,
        operation=operation,
        progress=progress,
    )
    require_room(task=task, added=moved, field="workload")
    operation_count(operation, sum(moved.values()))
    work_handed_out(
        task=task, counts=moved, by=by, occasion=f"redistribute:{assignment.pk}:{timezone.now().timestamp()}"
    )
    for target in targets:
        target.refresh_from_db()
    return targets


@dataclass
class HandOff:
    """What a hand-off did in one task: items moved to others (distributed) or back to the queue
    (pulled), or why nothing moved."""

    task: AnnotationTask
    moved: int
    to_queue: int
    skipped: str = ""


def _others(task: AnnotationTask, user: User) -> list[WorkloadUnit]:
    """Who takes a person's unstarted items: the task's other people, not paused, by their shares."""
    entries = WorkloadEntry.objects.filter(task=task).exclude(assignee=user).select_related("assignee")
    paused = set(
        Pause.objects.filter(Q(task=task) | Q(task__isnull=True, project_id=task.project_id)).values_list(
            "user_id", flat=True
        )
    )
    return [WorkloadUnit(e.assignee, e.load) for e in entries if e.assignee_id not in paused]


def hand_off_rows(*, project: Project, user: User, task: AnnotationTask | None = None) -> QuerySet[TaskItem]:
    """The unstarted rows a hand-off of `user` would move or send back to the queue."""
    tasks = AnnotationTask.objects.filter(project=project, closed_at__isnull=True)
    if task is not None:
        tasks = tasks.filter(pk=task.pk)
    held = Assignment.objects.filter(task__in=tasks, assignee=user, kind=AssignmentKind.WORK, removed=False)
    return TaskItem.objects.filter(assignment__in=held, status__isnull=True)


@transaction.atomic
def person_hand_off(
    *, project: Project, user: User, by: User, task: AnnotationTask | None = None, progress: Report | None = None
) -> list[HandOff]:
    """Hand `user`'s unstarted items to others in one action, in every open task of `project` (or
    one): distributed items spread over the task's other, unpaused people by their shares; pulled
    batches go back to the queue (their leases released). Items with a status stay theirs.

    Watched by a job (`progress`), each task's rows move in runs, reported over the whole hand-off."""
    tasks = AnnotationTask.objects.filter(project=project, closed_at__isnull=True)
    if task is not None:
        tasks = tasks.filter(pk=task.pk)
    held = Assignment.objects.filter(task__in=tasks, assignee=user, kind=AssignmentKind.WORK, removed=False)
    results: list[HandOff] = []
    operation = operation_start(
        project=project,
        task=task,
        kind=OperationKind.HAND_OFF,
        by=by,
        summary=f"Hand off {user.email}'s unstarted items",
    )
    overall = hand_off_rows(project=project, user=user, task=task).count() if progress is not None else 0
    handled = 0

    def report(done: int, _total: int) -> None:
        if progress is not None:
            progress(handled + done, overall)

    report(0, 0)
    for assignment in held.select_related("task").order_by("task_id"):
        current = assignment.task
        if current.is_pulling:
            released = lease_release_person(task=current, user=user, by=by)
            results.append(HandOff(task=current, moved=0, to_queue=released.items))
            handled += released.items
            report(0, 0)
            continue
        units = _others(current, user)
        if not units:
            results.append(HandOff(task=current, moved=0, to_queue=0, skipped="nobody else can take them"))
            if progress is not None:
                # Rows that stay where they are leave the total: the bar ends at what was handed off.
                overall -= TaskItem.objects.filter(assignment=assignment, status__isnull=True).count()
                report(0, 0)
            continue
        lock_task(current)
        locked = Assignment.objects.select_for_update().get(pk=assignment.pk)
        targets = work_assignments(task=current, users=[u.user for u in units])
        moved = _move(
            assignment=locked,
            targets=targets,
            split_loads=[u.load for u in units] if sum(u.load for u in units) else None,
            kind=ChangeKind.REDISTRIBUTE,
            by=by,
            operation=operation,
            progress=report if progress is not None else None,
        )
        require_room(task=current, added=moved, field="user")
        results.append(HandOff(task=current, moved=sum(moved.values()), to_queue=0))
        handled += sum(moved.values())
    operation_count(operation, sum(h.moved for h in results))
    return results
