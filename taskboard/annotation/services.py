"""Every write to tasks, assignments and task items.

Bulk work is one `INSERT … SELECT` or `UPDATE … FROM` built from the selection's queryset, so
creating a task over a million items costs about what the database needs to write the rows.
Counters (`Assignment.item_count`, `StatusCount`) change in the same transaction as the rows.
"""

import datetime
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Max, Q, Sum
from django.utils import timezone

from taskboard.annotation import selection as selection_module
from taskboard.annotation import signals
from taskboard.annotation.models import (
    BATCH_SIZE_MAX,
    BATCH_SIZE_MIN,
    DEFAULT_ANNOTATION_STATUSES,
    DEFAULT_QA_STATUSES,
    HELD_ITEMS,
    Allocation,
    AnnotationTask,
    Assignment,
    AssignmentKind,
    ChangeKind,
    HoldingChange,
    StatusCount,
    TaskItem,
    TaskState,
    TaskStatus,
    TaskType,
    WorkloadEntry,
)
from taskboard.annotation.selection import Selection
from taskboard.annotation.workload import WorkloadUnit, boundaries, split_counts, workload_build
from taskboard.inputs import MAX_WHOLE
from taskboard.projects.models import Membership

Progress = Callable[[int, int], None]

# A limit past every integer column would reach the database as a LIMIT it refuses.
LIMIT_MESSAGE = f"The limit is a whole number from 1 to {MAX_WHOLE:,}."

TASK_ITEM_TABLE = TaskItem._meta.db_table
CHANGE_TABLE = HoldingChange._meta.db_table
# A multiplicative hash for picking consensus items from the stored seed; plain integer
# arithmetic, so PostgreSQL and SQLite pick the same items.
HASH_MULTIPLIER = 1103515245
HASH_MODULUS = 2147483647


@dataclass
class TaskCreation:
    task: AnnotationTask | None
    job: Any = None  # jobs.Job


@dataclass
class AddResult:
    added: int
    skipped: int


@dataclass
class RemoveResult:
    removed: int
    kept: int


# --------------------------------------------------------------------------- selection


def _select(*, dataset, selection: Selection | None, query: dict | None):
    """The selected items, unordered. A DQL query (the API's, filter and all) stands for a filter selection."""
    if selection is None and query is not None:
        if not isinstance(query, dict):
            raise ValidationError({"selection": "The query must be a JSON object."})
        selection = Selection(mode="filter", dql=query)
    if selection is None:
        selection = Selection(mode="all")
    return selection_module.select_items(dataset=dataset, selection=selection)


def selection_count(*, dataset, selection: Selection) -> int:
    return _select(dataset=dataset, selection=selection, query=None).count()


def _ordered(qs, limit: int | None):
    """The items in split order, capped at `limit`; unordered when no limit needs the order."""
    if limit:
        return qs.order_by("dir", "name", "id")[:limit]
    return qs.order_by()


def _ranked_sql(qs, *, after=None, upto=None, offset: int = 0) -> tuple[str, list]:
    """SQL yielding (item_id, rn): the queryset's items numbered 1… in (dir, name, id) order.

    With `after`/`upto` (a `(dir, name, id)` key) only the items past `after` and up to `upto`, numbered
    from `offset + 1`: one run of a selection inserted in several statements."""
    inner, params = qs.values("id", "dir", "name").query.sql_with_params()
    params = list(params)
    # The plain bounds on `dir` beside the row comparisons let PostgreSQL walk the (dataset, dir,
    # name, id) index for one run instead of scanning and sorting the whole selection for each.
    where = []
    if after is not None:
        where.append("s.dir >= %s AND (s.dir, s.name, s.id) > (%s, %s, %s)")
        params += [after[0], *after]
    if upto is not None:
        where.append("s.dir <= %s AND (s.dir, s.name, s.id) <= (%s, %s, %s)")
        params += [upto[0], *upto]
    sql = (
        f"SELECT s.id AS item_id, {int(offset)} + row_number() OVER (ORDER BY s.dir, s.name, s.id) AS rn "
        f"FROM ({inner}) s"
    )
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql, params


# A job's selection goes in runs of this many rows (at most PROGRESS_RUNS of them) so that its
# progress bar moves while the rows go in; the task is still written in one transaction.
PROGRESS_RUN_ROWS = 50_000
PROGRESS_RUNS = 20


def _ranked_runs(qs, total: int, progress: Progress | None):
    """(ranked SQL, params, rows before this run) for each run of the selection, in rank order.

    One run, the plain `_ranked_sql`, unless a job is watching a selection larger than a run."""
    if progress is None or total <= PROGRESS_RUN_ROWS:
        yield (*_ranked_sql(qs), 0)
        return
    step = max(PROGRESS_RUN_ROWS, -(-total // PROGRESS_RUNS))
    inner, params = qs.values("id", "dir", "name").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT b.dir, b.name, b.id FROM (SELECT s.dir, s.name, s.id, "
            f"row_number() OVER (ORDER BY s.dir, s.name, s.id) AS rn FROM ({inner}) s) b "
            f"WHERE b.rn %% %s = 0 ORDER BY b.rn",
            [*params, step],
        )
        keys = [tuple(row) for row in cursor.fetchall()]
    after = None
    for run, upto in enumerate([*keys, None]):
        yield (*_ranked_sql(qs, after=after, upto=upto, offset=run * step), run * step)
        after = upto


def _case_by_boundaries(column: str, bounds: list[int], assignment_ids: list[int]) -> tuple[str, list]:
    """CASE giving the assignment of rank `column` for contiguous runs ending at `bounds`."""
    parts, params = [], []
    for bound, assignment_id in zip(bounds[:-1], assignment_ids[:-1], strict=True):
        parts.append(f"WHEN {column} <= %s THEN %s")
        params += [bound, assignment_id]
    if not parts:
        return "%s", [assignment_ids[-1]]
    return "CASE " + " ".join(parts) + " ELSE %s END", params + [assignment_ids[-1]]


def _insert_task_items(*, task_id: int, select_sql: str, params: list) -> int:
    """Insert rows from `select_sql`, which yields (item_id, assignment_id, copy, rank, in_queue)."""
    sql = (
        f"INSERT INTO {TASK_ITEM_TABLE} "
        "(task_id, item_id, assignment_id, copy, rank, in_queue, status, status_by_id, status_at, rework, comment) "
        f"SELECT %s, x.item_id, x.assignment_id, x.copy, x.rank, x.in_queue, NULL, NULL, NULL, %s, '' "
        f"FROM ({select_sql}) x"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [task_id, False] + params)
        return cursor.rowcount


# --------------------------------------------------------------------------- validation helpers


def _is_member(project, user, roles=None) -> bool:
    qs = Membership.objects.filter(project=project, user=user)
    if roles is not None:
        qs = qs.filter(role__in=roles)
    return qs.exists()


def _check_whole(value, field: str, errors: dict, low: int | None = None, high: int | None = None, msg: str = ""):
    if isinstance(value, bool) or not isinstance(value, int):
        errors[field] = msg or "Enter a whole number."
        return False
    if (low is not None and value < low) or (high is not None and value > high):
        errors[field] = msg or f"Must be from {low} to {high}."
        return False
    return True


def _check_due(due_at, errors: dict) -> None:
    if not isinstance(due_at, datetime.datetime):
        errors["due_at"] = "Enter a valid date and time."
    elif timezone.is_naive(due_at):
        errors["due_at"] = "The due date needs a time zone."
    elif due_at <= timezone.now():
        errors["due_at"] = "The due date must be in the future."


def _normalize_statuses(statuses, task_type: str, errors: dict) -> list[dict]:
    if statuses is None:
        defaults = DEFAULT_QA_STATUSES if task_type == TaskType.QA else DEFAULT_ANNOTATION_STATUSES
        return [{"key": k, "label": lbl, "color": c, "is_done": d} for k, lbl, c, d in defaults]
    result, seen = [], set()
    for raw in statuses:
        key = str((raw or {}).get("key") or "").strip()
        if not key:
            errors["statuses"] = "Every status needs a name."
            return []
        if len(key) > 50:
            errors["statuses"] = f"Status “{key[:20]}…” is longer than 50 characters."
            return []
        if key in seen:
            errors["statuses"] = f"Status “{key}” is listed twice."
            return []
        seen.add(key)
        color = str(raw.get("color") or "#607d8b")
        result.append(
            {
                "key": key,
                "label": str(raw.get("label") or key)[:100],
                "color": color[:7],
                "is_done": bool(raw.get("is_done", True)),
            }
        )
    if not result:
        errors["statuses"] = "A task needs at least one status."
    return result


# --------------------------------------------------------------------------- task creation


@dataclass
class _Plan:
    dataset: Any
    project: Any
    created_by: Any
    name: str
    task_type: str
    parent: Any
    workload: list[WorkloadUnit]
    due_at: datetime.datetime
    priority: int
    recipe: Any
    owner: Any
    allocation: str
    batch_size: int | None
    max_batch_workload: int | None
    consensus_percentage: int | None
    consensus_assignees: int | None
    statuses: list[dict]
    qa_intake: bool
    lock_after_due: bool
    limit: int | None
    metadata: dict
    description: str
    idempotency_key: str | None
    selection: Selection | None
    query: dict | None
    items: Any  # the ordered, limited queryset
    total: int


def task_plan(
    *,
    dataset,
    created_by,
    name,
    selection: Selection | None = None,
    query: dict | None = None,
    task_type="annotation",
    parent=None,
    workload: list[WorkloadUnit] | None = None,
    assignees=None,
    due_at,
    priority=2,
    recipe=None,
    owner=None,
    allocation="distribution",
    batch_size=None,
    max_batch_workload=None,
    consensus_percentage=None,
    consensus_assignees=None,
    statuses=None,
    qa_intake=True,
    lock_after_due=False,
    limit=None,
    metadata=None,
    description="",
    idempotency_key=None,
    empty=False,
) -> _Plan:
    """Check every rule of task creation without writing; the item count included.

    `empty`: the task starts with no items whatever the selection (a pipeline's task node, which
    routing fills); every other rule still applies."""
    project = dataset.project
    errors: dict[str, str] = {}

    if task_type not in TaskType.values:
        errors["task_type"] = "Choose annotation or QA."
    is_qa = task_type == TaskType.QA
    if is_qa:
        if parent is None:
            errors["parent"] = "A QA task is made from an annotation task."
        elif parent.type != TaskType.ANNOTATION or parent.project_id != project.pk or parent.dataset_id != dataset.pk:
            errors["parent"] = "The parent must be an annotation task of the same project and dataset."
            parent = None
    else:
        parent = None

    name = (name or "").strip()
    if not name and is_qa and parent is not None:
        name = f"{parent.name}_qa"
    if not name:
        errors["name"] = "Give the task a name."
    elif len(name) > 200:
        errors["name"] = "At most 200 characters."
    elif AnnotationTask.objects.filter(project=project, name=name).exists():
        existing = (
            AnnotationTask.objects.filter(project=project, idempotency_key=idempotency_key).first()
            if idempotency_key
            else None
        )
        if existing is None or existing.name != name:
            errors["name"] = "A task with this name already exists in this project."

    _check_due(due_at, errors)
    _check_whole(priority, "priority", errors, 1, 3, "Priority is 1 (low), 2 (medium) or 3 (high).")

    if recipe is None:
        recipe = parent.recipe if parent is not None else dataset.default_recipe
        if recipe is None:
            errors["recipe"] = "This dataset has no default recipe; choose one."
    elif recipe.dataset_id != dataset.pk:
        errors["recipe"] = "The recipe belongs to another dataset."

    if owner is None:
        owner = parent.created_by if parent is not None else created_by
    if owner is not None and not _is_member(project, owner):
        errors["owner"] = "The owner must be a member of the project."

    if allocation not in Allocation.values:
        errors["allocation"] = "Choose distribution or pulling."
    pulling = allocation == Allocation.PULLING
    if pulling:
        if batch_size is None or max_batch_workload is None:
            if batch_size is None:
                errors["batch_size"] = "Pulling needs a batch size."
            if max_batch_workload is None:
                errors["max_batch_workload"] = "Pulling needs a maximum batch workload."
        elif _check_whole(
            batch_size,
            "batch_size",
            errors,
            BATCH_SIZE_MIN,
            BATCH_SIZE_MAX,
            f"Batch size is from {BATCH_SIZE_MIN} to {BATCH_SIZE_MAX}.",
        ):
            _check_whole(
                max_batch_workload,
                "max_batch_workload",
                errors,
                batch_size + 2,
                batch_size * 2,
                f"Maximum batch workload is from {batch_size + 2} to {batch_size * 2} for a batch of {batch_size}.",
            )
    else:
        if batch_size is not None:
            errors["batch_size"] = "Batch size is for pulling tasks only."
        if max_batch_workload is not None:
            errors["max_batch_workload"] = "Maximum batch workload is for pulling tasks only."
        batch_size = max_batch_workload = None

    people_field = "allowed_assignees" if pulling else "assignees"
    try:
        workload = workload_build(project=project, workload=workload, assignees=assignees, field=people_field)
    except ValidationError as e:
        errors.update(e.message_dict if hasattr(e, "message_dict") else {people_field: e.messages[0]})
        errors = {k: (v[0] if isinstance(v, list) else v) for k, v in errors.items()}
        workload = []

    consensus = consensus_percentage is not None or consensus_assignees is not None
    if consensus:
        if pulling:
            errors["consensus_percentage"] = "Consensus cannot be combined with pulling."
        elif is_qa:
            errors["consensus_percentage"] = "QA tasks have no consensus."
        else:
            if consensus_percentage is None:
                errors["consensus_percentage"] = "Give the share of items that get consensus."
            else:
                _check_whole(
                    consensus_percentage, "consensus_percentage", errors, 0, 100, "A percentage from 0 to 100."
                )
            if consensus_assignees is None:
                errors["consensus_assignees"] = "Give how many people annotate each consensus item."
            elif workload:
                _check_whole(
                    consensus_assignees,
                    "consensus_assignees",
                    errors,
                    2,
                    max(2, len(workload)),
                    f"From 2 to the number of assignees ({len(workload)}).",
                )
                if "consensus_assignees" not in errors and consensus_assignees > len(workload):
                    errors["consensus_assignees"] = f"From 2 to the number of assignees ({len(workload)})."

    if limit is not None:
        _check_whole(limit, "limit", errors, 1, MAX_WHOLE, LIMIT_MESSAGE)
    if metadata is not None and not isinstance(metadata, dict):
        errors["metadata"] = "Metadata must be a JSON object."
    statuses_norm = _normalize_statuses(statuses, task_type, errors)

    items = None
    total = 0
    if empty:
        selection, query = None, None
    elif not errors or "selection" not in errors:
        try:
            qs = _select(dataset=dataset, selection=selection, query=query)
            if is_qa and parent is not None:
                qs = qs.filter(id__in=TaskItem.objects.filter(task=parent, status__isnull=False).values("item_id"))
            # A refused limit is not run: past a bigint it is an error of the database, not an answer.
            items = _ordered(qs, limit if "limit" not in errors else None)
            total = items.count()
            if total == 0 and not is_qa:
                errors["selection"] = "No items match this selection."
        except ValidationError as e:
            errors["selection"] = (
                e.messages[0] if not hasattr(e, "message_dict") else next(iter(e.message_dict.values()))[0]
            )

    if errors:
        raise ValidationError(errors)
    return _Plan(
        dataset=dataset,
        project=project,
        created_by=created_by,
        name=name,
        task_type=task_type,
        parent=parent,
        workload=workload,
        due_at=due_at,
        priority=priority,
        recipe=recipe,
        owner=owner,
        allocation=allocation,
        batch_size=batch_size,
        max_batch_workload=max_batch_workload,
        consensus_percentage=consensus_percentage if consensus else None,
        consensus_assignees=consensus_assignees if consensus else None,
        statuses=statuses_norm,
        qa_intake=bool(qa_intake),
        lock_after_due=bool(lock_after_due),
        limit=limit,
        metadata=metadata or {},
        description=description or "",
        idempotency_key=idempotency_key,
        selection=selection,
        query=query,
        items=items,
        total=total,
    )


def task_create(*, progress: Progress | None = None, **kwargs) -> AnnotationTask:
    """Create a task and hand its items out; see HELPERS.md for the arguments.

    `progress(done, total)` is called as phases finish (jobs report it out of band).
    """
    key = kwargs.get("idempotency_key")
    if key:
        existing = AnnotationTask.objects.filter(project=kwargs["dataset"].project, idempotency_key=key).first()
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            plan = task_plan(**kwargs)
            return _task_write(plan, progress=progress)
    except IntegrityError:
        # Two requests with the same key raced; the unique constraint let one through.
        if key:
            existing = AnnotationTask.objects.filter(project=kwargs["dataset"].project, idempotency_key=key).first()
            if existing is not None:
                return existing
        if AnnotationTask.objects.filter(project=kwargs["dataset"].project, name=kwargs.get("name")).exists():
            raise ValidationError({"name": "A task with this name already exists in this project."}) from None
        raise


def _task_write(plan: _Plan, *, progress: Progress | None) -> AnnotationTask:
    now = timezone.now()
    pulling = plan.allocation == Allocation.PULLING
    consensus = plan.consensus_assignees is not None
    task = AnnotationTask.objects.create(
        project=plan.project,
        dataset=plan.dataset,
        recipe=plan.recipe,
        name=plan.name,
        description=plan.description,
        type=plan.task_type,
        parent=plan.parent,
        owner=plan.owner,
        created_by=plan.created_by,
        due_at=plan.due_at,
        priority=plan.priority,
        allocation=plan.allocation,
        batch_size=plan.batch_size,
        max_batch_workload=plan.max_batch_workload,
        consensus_percentage=plan.consensus_percentage,
        consensus_assignees=plan.consensus_assignees,
        consensus_seed=random.randrange(1, HASH_MODULUS) if consensus else None,
        selection=plan.selection.to_json() if plan.selection is not None else {},
        query=plan.query,
        qa_intake=plan.qa_intake,
        lock_after_due=plan.lock_after_due,
        metadata=plan.metadata,
        idempotency_key=plan.idempotency_key,
        created_at=now,
    )
    TaskStatus.objects.bulk_create(
        [TaskStatus(task=task, position=i, **status) for i, status in enumerate(plan.statuses)]
    )
    WorkloadEntry.objects.bulk_create([WorkloadEntry(task=task, assignee=u.user, load=u.load) for u in plan.workload])
    workers = Assignment.objects.bulk_create(
        [Assignment(task=task, assignee=u.user, kind=AssignmentKind.WORK, created_at=now) for u in plan.workload]
    )
    worker_ids = [a.pk for a in workers]
    loads = [u.load for u in plan.workload]
    total = plan.total
    if progress:
        progress(0, total)

    counts: dict[int, int] = {}
    if pulling:
        queue = Assignment.objects.create(task=task, kind=AssignmentKind.QUEUE, created_at=now)
        if total:
            for ranked, params, before in _ranked_runs(plan.items, total, progress):
                inserted = _insert_task_items(
                    task_id=task.pk,
                    select_sql=f"SELECT r.item_id, %s AS assignment_id, 0 AS copy, r.rn AS rank, %s AS in_queue "
                    f"FROM ({ranked}) r",
                    params=[queue.pk, True] + params,
                )
                _rows_progress(progress, before + inserted, total)
        counts[queue.pk] = total
    elif consensus:
        counts = _insert_consensus(
            task=task, plan=plan, worker_ids=worker_ids, loads=loads, now=now, progress=progress
        )
    elif total:
        split = split_counts(total, loads)
        case, case_params = _case_by_boundaries("r.rn", boundaries(split), worker_ids)
        for ranked, params, before in _ranked_runs(plan.items, total, progress):
            inserted = _insert_task_items(
                task_id=task.pk,
                select_sql=f"SELECT r.item_id, {case} AS assignment_id, 0 AS copy, r.rn AS rank, %s AS in_queue "
                f"FROM ({ranked}) r",
                params=case_params + [False] + params,
            )
            _rows_progress(progress, before + inserted, total)
        counts = dict(zip(worker_ids, split, strict=True))

    _rows_progress(progress, total, total)
    for assignment_id, count in counts.items():
        if count:
            Assignment.objects.filter(pk=assignment_id).update(item_count=count)
    all_ids = list(task.assignments.values_list("pk", flat=True))
    _ensure_status_counts(assignment_ids=all_ids, keys=[s["key"] for s in plan.statuses])
    HoldingChange.objects.bulk_create(
        [
            HoldingChange(
                task=task,
                kind=ChangeKind.CREATE,
                to_assignment_id=a,
                count=counts.get(a, 0),
                by=plan.created_by,
                at=now,
            )
            for a in all_ids
        ]
    )
    if pulling:
        for unit in plan.workload:
            pulling_claim(task=task, user=unit.user)
    signals.task_items_added.send(sender=AnnotationTask, task=task, item_ids=None, by=plan.created_by)
    if progress:
        progress(total, total)
    return task


def _rows_progress(progress: Progress | None, rows: int, total: int) -> None:
    """The rows are nine tenths of the work; counters and records, small next to them, the rest."""
    if progress:
        progress(min(rows, total) * 9 // 10, total)


def _insert_consensus(
    *, task, plan: _Plan, worker_ids: list[int], loads: list[int], now, progress: Progress | None
) -> dict[int, int]:
    """Originals of consensus items to a hidden assignment (copy 0), copies 1..k rotated over people."""
    total = plan.total
    chosen = total * plan.consensus_percentage // 100
    k = plan.consensus_assignees
    n = len(worker_ids)
    # Ranked by a hash over the whole selection, these rows cannot go in runs: progress per statement.
    all_rows = max(1, total + chosen * k)
    pool = Assignment.objects.create(task=task, kind=AssignmentKind.CONSENSUS, created_at=now)
    ranked, params = _ranked_sql(plan.items)
    hashed = (
        f"SELECT r.item_id, r.rn, row_number() OVER (ORDER BY (r.item_id * {HASH_MULTIPLIER} + %s) %% {HASH_MODULUS}, "
        f"r.item_id) AS hr FROM ({ranked}) r"
    )
    hparams = [task.consensus_seed] + params
    counts = dict.fromkeys(worker_ids, 0)

    rest = total - chosen
    if rest:
        split = split_counts(rest, loads)
        case, case_params = _case_by_boundaries("o.nr", boundaries(split), worker_ids)
        _insert_task_items(
            task_id=task.pk,
            select_sql=f"SELECT o.item_id, {case} AS assignment_id, 0 AS copy, o.rn AS rank, %s AS in_queue FROM "
            f"(SELECT h.item_id, h.rn, row_number() OVER (ORDER BY h.rn) AS nr FROM ({hashed}) h WHERE h.hr > %s) o",
            params=case_params + [False] + hparams + [chosen],
        )
        _rows_progress(progress, rest * total // all_rows, total)
        for assignment_id, count in zip(worker_ids, split, strict=True):
            counts[assignment_id] += count
    if chosen:
        _insert_task_items(
            task_id=task.pk,
            select_sql=f"SELECT h.item_id, %s AS assignment_id, 0 AS copy, h.rn AS rank, %s AS in_queue "
            f"FROM ({hashed}) h WHERE h.hr <= %s",
            params=[pool.pk, False] + hparams + [chosen],
        )
        _rows_progress(progress, total * total // all_rows, total)
        copies = " UNION ALL ".join(f"SELECT {j} AS c" for j in range(1, k + 1))
        whens = " ".join(f"WHEN {i} THEN {int(a)}" for i, a in enumerate(worker_ids))
        _insert_task_items(
            task_id=task.pk,
            select_sql=f"SELECT q.item_id, CASE ((q.cr + cs.c - 2) %% {n}) {whens} END AS assignment_id, "
            f"cs.c AS copy, q.rn AS rank, %s AS in_queue FROM "
            f"(SELECT h.item_id, h.rn, row_number() OVER (ORDER BY h.rn) AS cr FROM ({hashed}) h WHERE h.hr <= %s) q "
            f"CROSS JOIN ({copies}) cs",
            params=[False] + hparams + [chosen],
        )
        # Copy j of the cr-th consensus item goes to person (cr - 1 + j - 1) mod n.
        base, extra = divmod(chosen, n)
        for i, assignment_id in enumerate(worker_ids):
            counts[assignment_id] += sum(base + (1 if (i - (j - 1)) % n < extra else 0) for j in range(1, k + 1))
        counts[pool.pk] = chosen
    return counts


def _ensure_status_counts(*, assignment_ids: list[int], keys: list[str]) -> None:
    StatusCount.objects.bulk_create(
        [StatusCount(assignment_id=a, status=key, count=0) for a in assignment_ids for key in keys],
        ignore_conflicts=True,
    )


def task_create_start(**kwargs) -> TaskCreation:
    """Create the task in this request, or as a job with progress when the selection is large."""
    from taskboard.jobs import services as job_services

    plan = task_plan(**kwargs)
    if plan.total < settings.TASK_JOB_THRESHOLD:
        return TaskCreation(task=task_create(**kwargs), job=None)
    job = job_services.job_create(
        kind="task_create",
        params=task_create_params(**kwargs),
        project=plan.project,
        created_by=plan.created_by,
        total=plan.total,
    )
    job_services.job_enqueue(job=job)
    return TaskCreation(task=None, job=job)


def task_create_params(**kwargs) -> dict:
    """task_create's arguments as JSON, for a job to rebuild them."""
    params: dict[str, Any] = {}
    for key, value in kwargs.items():
        if key in ("dataset", "created_by", "parent", "recipe", "owner"):
            params[key] = value.pk if value is not None else None
        elif key == "selection":
            params[key] = value.to_json() if value is not None else None
        elif key == "workload":
            params[key] = [[u.user.pk, u.load] for u in value] if value is not None else None
        elif key == "assignees":
            params[key] = [u.pk for u in value] if value is not None else None
        elif key == "due_at":
            params[key] = value.isoformat() if isinstance(value, datetime.datetime) else value
        else:
            params[key] = value
    return params


def task_create_args(params: dict) -> dict:
    """The inverse of task_create_params."""
    from django.contrib.auth import get_user_model
    from django.utils.dateparse import parse_datetime

    from taskboard.datasets.models import Dataset, Recipe

    User = get_user_model()
    users = {}

    def user(pk):
        if pk is None:
            return None
        if pk not in users:
            users[pk] = User.objects.get(pk=pk)
        return users[pk]

    args = dict(params)
    args["dataset"] = Dataset.objects.select_related("project").get(pk=params["dataset"])
    args["created_by"] = user(params["created_by"])
    for key, model in (("parent", AnnotationTask), ("recipe", Recipe)):
        if params.get(key) is not None:
            args[key] = model.objects.get(pk=params[key])
    if params.get("owner") is not None:
        args["owner"] = user(params["owner"])
    if params.get("selection") is not None:
        args["selection"] = Selection.from_json(params["selection"])
    if params.get("workload") is not None:
        args["workload"] = [WorkloadUnit(user(pk), load) for pk, load in params["workload"]]
    if params.get("assignees") is not None:
        args["assignees"] = [user(pk) for pk in params["assignees"]]
    if isinstance(params.get("due_at"), str):
        args["due_at"] = parse_datetime(params["due_at"])
    return args


# --------------------------------------------------------------------------- pulling


# The whole claim on PostgreSQL as ONE statement: the rule under the claimer's row lock, the next
# rows of the queue (skipping rows another claim has locked), the move, the claimer's counters
# and the change record. It writes no row that another claimer writes (the queue's intake count
# stays; claimed_count says what left it), so claimers never wait for each other, and one
# statement keeps Python out of the loop.
PG_CLAIM_SQL = f"""
WITH me AS (
  SELECT a.id, a.item_count - COALESCE(
    (SELECT SUM(s.count) FROM {StatusCount._meta.db_table} s WHERE s.assignment_id = a.id), 0) AS undone
  FROM {Assignment._meta.db_table} a
  WHERE a.task_id = %(task)s AND a.assignee_id = %(user)s AND a.kind = 'work' AND NOT a.removed
  FOR NO KEY UPDATE
), want AS (
  -- Under the rule (undone <= max - batch) a whole batch always fits under max.
  SELECT id FROM me WHERE undone <= %(max)s - %(batch)s
), picked AS (
  SELECT t.id FROM {TASK_ITEM_TABLE} t WHERE t.task_id = %(task)s AND t.in_queue AND EXISTS (SELECT 1 FROM want)
  ORDER BY t.rank LIMIT %(batch)s FOR UPDATE SKIP LOCKED
), moved AS (
  UPDATE {TASK_ITEM_TABLE} t SET assignment_id = (SELECT id FROM want), in_queue = false
  WHERE t.id = ANY(ARRAY(SELECT id FROM picked)) AND t.in_queue RETURNING t.item_id
), queue AS (
  SELECT id FROM {Assignment._meta.db_table} WHERE task_id = %(task)s AND kind = 'queue'
), bump AS (
  UPDATE {Assignment._meta.db_table} SET item_count = item_count + (SELECT count(*) FROM moved),
    claimed_count = claimed_count + (SELECT count(*) FROM moved)
  WHERE id = (SELECT id FROM want) AND EXISTS (SELECT 1 FROM moved)
), record AS (
  INSERT INTO {CHANGE_TABLE} (task_id, item_id, kind, from_assignment_id, to_assignment_id, count, by_id, at, note)
  SELECT %(task)s, item_id, '{ChangeKind.CLAIM.value}', (SELECT id FROM queue), (SELECT id FROM want), 1, %(user)s,
    now(), '' FROM moved
)
SELECT (SELECT count(*) FROM me), (SELECT count(*) FROM moved)
"""


def pulling_claim(*, task, user) -> int:
    """Give `user` their next batch from the queue if their undone items are low; returns how many.

    The rule (DESIGN.md): refill when undone ≤ max_batch_workload − batch_size, never above
    max_batch_workload undone. Concurrent claimers never get the same item: PostgreSQL skips rows
    another claim has locked, SQLite's compare-and-set only moves rows still in the queue.
    A claim changes no done count, so the task's state stays as it is.
    """
    if not task.is_pulling:
        raise ValidationError({"allocation": "Only pulling tasks hand out batches."})
    if not task.accepts_work:
        return 0
    if connection.vendor == "postgresql":
        params = {"task": task.pk, "user": user.pk, "batch": task.batch_size, "max": task.max_batch_workload}
        with connection.cursor() as cursor:
            cursor.execute(PG_CLAIM_SQL, params)
            holders, moved = cursor.fetchone()
        if holders:
            return moved
    # SQLite, and a first claim of an allowed assignee (their assignment is made here).
    with transaction.atomic():
        return _pulling_claim_orm(task=task, user=user)


def _pulling_claim_orm(*, task, user) -> int:
    assignment = (
        Assignment.objects.select_for_update().filter(task=task, assignee=user, kind=AssignmentKind.WORK).first()
    )
    if assignment is None:
        if not WorkloadEntry.objects.filter(task=task, assignee=user).exists():
            raise ValidationError({"allowed_assignees": "You are not among this task's assignees."})
        assignment, _ = Assignment.objects.get_or_create(task=task, assignee=user, kind=AssignmentKind.WORK)
        _ensure_status_counts(assignment_ids=[assignment.pk], keys=list(task.statuses.values_list("key", flat=True)))
        assignment = Assignment.objects.select_for_update().get(pk=assignment.pk)
    if assignment.removed:
        return 0
    with_status = StatusCount.objects.filter(assignment=assignment).aggregate(n=Sum("count"))["n"] or 0
    undone = assignment.item_count - with_status
    if undone > task.max_batch_workload - task.batch_size:
        return 0
    want = min(task.batch_size, task.max_batch_workload - undone)
    if want <= 0:
        return 0
    queue = Assignment.objects.filter(task=task, kind=AssignmentKind.QUEUE).first()
    if queue is None:
        return 0
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    sql = (
        f"UPDATE {TASK_ITEM_TABLE} SET assignment_id = %s, in_queue = %s "
        f"WHERE id IN (SELECT id FROM {TASK_ITEM_TABLE} WHERE task_id = %s AND in_queue = %s "
        f"ORDER BY rank LIMIT %s{lock}) AND in_queue = %s RETURNING item_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [assignment.pk, False, task.pk, True, want, True])
        claimed = [row[0] for row in cursor.fetchall()]
    if not claimed:
        return 0
    n = len(claimed)
    Assignment.objects.filter(pk=assignment.pk).update(
        item_count=F("item_count") + n, claimed_count=F("claimed_count") + n
    )
    now = timezone.now()
    HoldingChange.objects.bulk_create(
        [
            HoldingChange(
                task=task,
                item_id=item_id,
                kind=ChangeKind.CLAIM,
                from_assignment=queue,
                to_assignment=assignment,
                by=user,
                at=now,
            )
            for item_id in claimed
        ]
    )
    return n


# --------------------------------------------------------------------------- statuses


def _lock_task(task) -> AnnotationTask:
    """The task's row lock: one change of its items at a time. NO KEY UPDATE, so inserts that only
    reference the task (change records, from concurrent pulling claims) are not held up by it,
    which would deadlock a claim holding the queue's counter against a status change waiting for it."""
    return AnnotationTask.objects.select_for_update(no_key=True).get(pk=task.pk)


def _require_not_closed(task, field: str) -> None:
    if task.is_closed:
        raise ValidationError({field: "This task is closed; its items and assignments no longer change."})


def _task_state_refresh(task) -> None:
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


def _task_item_for(*, task, item, by, copy: int | None) -> TaskItem:
    rows = TaskItem.objects.select_for_update().filter(task=task, item=item)
    if copy is not None:
        rows = rows.filter(copy=copy)
    rows = list(rows.select_related("assignment").order_by("copy"))
    if not rows:
        raise ValidationError({"item": "This item is not in the task."})
    for row in rows:
        if row.assignment.assignee_id == by.pk:
            return row
    return rows[0]


def _status_change(*, task, item, by, copy, new_status: str | None) -> TaskItem:
    task = _lock_task(task)
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
    if old_status == new_status:
        return row
    row.status = new_status
    row.status_by = by if new_status is not None else None
    row.status_at = timezone.now() if new_status is not None else None
    row.save(update_fields=["status", "status_by", "status_at"])
    if old_status is not None:
        StatusCount.objects.filter(assignment_id=row.assignment_id, status=old_status).update(count=F("count") - 1)
    if new_status is not None:
        _ensure_status_counts(assignment_ids=[row.assignment_id], keys=[new_status])
        StatusCount.objects.filter(assignment_id=row.assignment_id, status=new_status).update(count=F("count") + 1)
    _task_state_refresh(task)
    signals.task_item_status_changed.send(
        sender=TaskItem, task_item=row, old_status=old_status, new_status=new_status, by=by
    )
    return row


@transaction.atomic
def item_status_set(*, task, item, status: str, by, copy: int | None = None) -> TaskItem:
    if not isinstance(status, str) or not status:
        raise ValidationError({"status": "Choose a status."})
    return _status_change(task=task, item=item, by=by, copy=copy, new_status=status)


@transaction.atomic
def item_status_clear(*, task, item, by, copy: int | None = None) -> TaskItem:
    return _status_change(task=task, item=item, by=by, copy=copy, new_status=None)


# --------------------------------------------------------------------------- add / remove


def _work_assignments(*, task, users: list) -> list[Assignment]:
    """The work assignment of each user in `task`, made (or revived) where missing."""
    existing = {a.assignee_id: a for a in Assignment.objects.filter(task=task, assignee__in=users)}
    result, revive, made = [], [], []
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
    _ensure_status_counts(
        assignment_ids=[a.pk for a in made],
        keys=list(TaskStatus.objects.filter(task=task).values_list("key", flat=True)),
    )
    return result


@transaction.atomic
def task_add_items(
    *, task, selection: Selection, by, workload=None, assignees=None, to_queue=False, limit=None, within=None
) -> AddResult:
    """Add the selected items not yet in the task, in one INSERT … SELECT.

    `within` (a Q over items) narrows the selection further: a pipeline passes its dataset node's
    folder and what has not entered yet, so no list of ids is ever built."""
    task = _lock_task(task)
    _require_not_closed(task, "selection")
    errors: dict[str, str] = {}
    if limit is not None:
        _check_whole(limit, "limit", errors, 1, MAX_WHOLE, LIMIT_MESSAGE)
    if errors:
        raise ValidationError(errors)
    try:
        qs = _select(dataset=task.dataset, selection=selection, query=None)
    except ValidationError as e:
        raise ValidationError({"selection": e.messages[0]}) from None
    if within is not None:
        qs = qs.filter(within)
    in_task = TaskItem.objects.filter(task=task).values("item_id")
    skipped = qs.filter(id__in=in_task).count()
    new_items = _ordered(qs.exclude(id__in=in_task), limit)
    total = new_items.count()
    if total == 0:
        if skipped == 0:
            raise ValidationError({"selection": "No items match this selection."})
        return AddResult(added=0, skipped=skipped)

    offset = TaskItem.objects.filter(task=task).aggregate(m=Max("rank"))["m"] or 0
    ranked, params = _ranked_sql(new_items)
    now = timezone.now()
    if to_queue or (task.is_pulling and workload is None and not assignees):
        if not task.is_pulling:
            raise ValidationError({"allocation": "Only pulling tasks have a queue."})
        queue, _ = Assignment.objects.get_or_create(task=task, kind=AssignmentKind.QUEUE)
        targets, split, in_queue = [queue], [total], True
    else:
        if workload is None and not assignees:
            # The task's own split; an equal one when its loads no longer add up (after reassigns).
            entries = list(WorkloadEntry.objects.filter(task=task).select_related("assignee"))
            if sum(e.load for e in entries) == 100:
                workload = [WorkloadUnit(e.assignee, e.load) for e in entries]
            else:
                assignees = [e.assignee for e in entries]
        units = workload_build(project=task.project, workload=workload, assignees=assignees)
        targets = _work_assignments(task=task, users=[u.user for u in units])
        split, in_queue = split_counts(total, [u.load for u in units]), False
    case, case_params = _case_by_boundaries("r.rn", boundaries(split), [a.pk for a in targets])
    _insert_task_items(
        task_id=task.pk,
        select_sql=f"SELECT r.item_id, {case} AS assignment_id, 0 AS copy, r.rn + %s AS rank, %s AS in_queue "
        f"FROM ({ranked}) r",
        params=case_params + [offset, in_queue] + params,
    )
    changes = []
    for assignment, count in zip(targets, split, strict=True):
        if count:
            Assignment.objects.filter(pk=assignment.pk).update(item_count=F("item_count") + count)
            changes.append(
                HoldingChange(task=task, kind=ChangeKind.ADD, to_assignment=assignment, count=count, by=by, at=now)
            )
    HoldingChange.objects.bulk_create(changes)
    if task.state != TaskState.OPEN:
        _task_state_refresh(task)
    added_ids = list(TaskItem.objects.filter(task=task, rank__gt=offset).values_list("item_id", flat=True))
    signals.task_items_added.send(sender=AnnotationTask, task=task, item_ids=added_ids, by=by)
    return AddResult(added=total, skipped=skipped)


@transaction.atomic
def task_remove_items(*, task, selection: Selection, by) -> RemoveResult:
    """Remove the selected items that have no status in any copy; the others stay and are counted."""
    task = _lock_task(task)
    _require_not_closed(task, "selection")
    try:
        qs = _select(dataset=task.dataset, selection=selection, query=None)
    except ValidationError as e:
        raise ValidationError({"selection": e.messages[0]}) from None
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
            _task_state_refresh(qa_task)
    _task_state_refresh(task)
    return RemoveResult(removed=removed, kept=kept)


def _delete_counted(*, task, rows, flagged_counter: str, by, at) -> list[int]:
    """Delete task item `rows` (none with a status) and take them off their assignments'
    `item_count`, the rework-flagged ones off `flagged_counter` too; one REMOVE change per
    assignment. Returns the item ids of the flagged rows."""
    per_assignment = (
        rows.order_by().values("assignment_id").annotate(n=Count("id"), flagged=Count("id", filter=Q(rework=True)))
    )
    per_assignment = [(r["assignment_id"], r["n"], r["flagged"]) for r in per_assignment]
    flagged_item_ids = []
    if any(flagged for _, _, flagged in per_assignment):
        flagged_item_ids = list(rows.filter(rework=True).values_list("item_id", flat=True))
    rows.delete()
    changes = []
    for assignment_id, n, flagged in per_assignment:
        Assignment.objects.filter(pk=assignment_id).update(
            item_count=F("item_count") - n, **{flagged_counter: F(flagged_counter) - flagged}
        )
        changes.append(
            HoldingChange(task=task, kind=ChangeKind.REMOVE, from_assignment_id=assignment_id, count=n, by=by, at=at)
        )
    HoldingChange.objects.bulk_create(changes)
    return flagged_item_ids


# --------------------------------------------------------------------------- reassign / redistribute


def _movable_sql(*, source_id: int, target_ids: list[int]) -> tuple[str, list]:
    """The undone rows of `source_id`, numbered in rank order, whose item no target already holds."""
    marks = ", ".join(["%s"] * len(target_ids))
    sql = (
        f"SELECT t.id, t.item_id, t.task_id, t.rework, row_number() OVER (ORDER BY t.rank, t.id) AS rn "
        f"FROM {TASK_ITEM_TABLE} t WHERE t.assignment_id = %s AND t.status IS NULL "
        f"AND NOT EXISTS (SELECT 1 FROM {TASK_ITEM_TABLE} o WHERE o.task_id = t.task_id AND o.item_id = t.item_id "
        f"AND o.assignment_id IN ({marks}) AND o.assignment_id <> %s)"
    )
    return sql, [source_id, *target_ids, source_id]


def _move(*, assignment, targets: list[Assignment], split_loads: list[int] | None, kind: str, by) -> dict[int, int]:
    """Move the undone items of `assignment` to `targets` in contiguous runs; returns moved counts."""
    target_ids = [a.pk for a in targets]
    movable, params = _movable_sql(source_id=assignment.pk, target_ids=target_ids)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM ({movable}) m", params)
        n = cursor.fetchone()[0]
    if not n:
        return {}
    split = split_counts(n, split_loads) if split_loads else [n]
    case, case_params = _case_by_boundaries("m.rn", boundaries(split), target_ids)
    now = timezone.now()
    with connection.cursor() as cursor:
        # Items out for rework take their place on the rework counter with them.
        cursor.execute(
            f"SELECT y.to_id, count(*) FROM (SELECT {case} AS to_id FROM ({movable}) m WHERE m.rework) y "
            f"WHERE y.to_id <> %s GROUP BY y.to_id",
            case_params + params + [assignment.pk],
        )
        rework_moved = dict(cursor.fetchall())
        cursor.execute(
            f"INSERT INTO {CHANGE_TABLE} (task_id, item_id, kind, from_assignment_id, to_assignment_id, count, by_id, "
            f"at, note) SELECT y.task_id, y.item_id, %s, %s, y.to_id, 1, %s, %s, '' FROM "
            f"(SELECT m.task_id, m.item_id, {case} AS to_id FROM ({movable}) m) y WHERE y.to_id <> %s",
            [kind, assignment.pk, by.pk if by else None, now] + case_params + params + [assignment.pk],
        )
        cursor.execute(
            f"UPDATE {TASK_ITEM_TABLE} SET assignment_id = y.to_id FROM "
            f"(SELECT m.id, {case} AS to_id FROM ({movable}) m) y "
            f"WHERE {TASK_ITEM_TABLE}.id = y.id AND y.to_id <> %s",
            case_params + params + [assignment.pk],
        )
    moved = {}
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
def assignment_reassign(*, assignment, to_user, by) -> Assignment:
    """Give `to_user` the undone items of `assignment`; items with a status stay where they are."""
    task = _lock_task(assignment.task)
    _require_not_closed(task, "assignees")
    assignment = Assignment.objects.select_for_update().get(pk=assignment.pk)
    if assignment.kind != AssignmentKind.WORK:
        raise ValidationError({"assignees": "Hidden pools cannot be reassigned."})
    if to_user is None or to_user.pk == assignment.assignee_id:
        raise ValidationError({"assignees": "Choose another person."})
    workload_build(project=task.project, workload=None, assignees=[to_user])
    (target,) = _work_assignments(task=task, users=[to_user])
    _move(assignment=assignment, targets=[target], split_loads=None, kind=ChangeKind.REASSIGN, by=by)
    # The newcomer takes over the share in the task's workload, so later additions follow.
    old = WorkloadEntry.objects.filter(task=task, assignee_id=assignment.assignee_id).first()
    if old is not None:
        mine = WorkloadEntry.objects.filter(task=task, assignee=to_user).first()
        if mine is None:
            WorkloadEntry.objects.filter(pk=old.pk).update(assignee=to_user)
        else:
            WorkloadEntry.objects.filter(pk=mine.pk).update(load=min(100, mine.load + old.load))
            old.delete()
    target.refresh_from_db()
    return target


@transaction.atomic
def assignment_redistribute(*, assignment, workload: list[WorkloadUnit], by) -> list[Assignment]:
    """Spread the undone items of `assignment` over `workload` in contiguous runs."""
    task = _lock_task(assignment.task)
    _require_not_closed(task, "workload")
    assignment = Assignment.objects.select_for_update().get(pk=assignment.pk)
    if assignment.kind != AssignmentKind.WORK:
        raise ValidationError({"workload": "Hidden pools cannot be redistributed."})
    units = workload_build(project=task.project, workload=workload, assignees=None, field="workload")
    targets = _work_assignments(task=task, users=[u.user for u in units])
    _move(
        assignment=assignment,
        targets=targets,
        split_loads=[u.load for u in units],
        kind=ChangeKind.REDISTRIBUTE,
        by=by,
    )
    for target in targets:
        target.refresh_from_db()
    return targets


# --------------------------------------------------------------------------- update / close / delete

UPDATABLE = {"name", "owner", "due_at", "priority", "description", "statuses", "lock_after_due", "metadata"}


@transaction.atomic
def task_update(*, task, by, **fields) -> AnnotationTask:
    task = _lock_task(task)
    unknown = set(fields) - UPDATABLE
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "This field cannot be changed."})
    errors: dict[str, str] = {}
    if "name" in fields:
        name = (fields["name"] or "").strip()
        if not name:
            errors["name"] = "Give the task a name."
        elif len(name) > 200:
            errors["name"] = "At most 200 characters."
        elif AnnotationTask.objects.filter(project=task.project, name=name).exclude(pk=task.pk).exists():
            errors["name"] = "A task with this name already exists in this project."
        task.name = name
    if "owner" in fields:
        if fields["owner"] is None or not _is_member(task.project, fields["owner"]):
            errors["owner"] = "The owner must be a member of the project."
        task.owner = fields["owner"]
    if "due_at" in fields:
        _check_due(fields["due_at"], errors)
        task.due_at = fields["due_at"]
    if "priority" in fields:
        _check_whole(fields["priority"], "priority", errors, 1, 3, "Priority is 1 (low), 2 (medium) or 3 (high).")
        task.priority = fields["priority"]
    if "description" in fields:
        task.description = fields["description"] or ""
    if "lock_after_due" in fields:
        task.lock_after_due = bool(fields["lock_after_due"])
    if "metadata" in fields:
        if not isinstance(fields["metadata"], dict):
            errors["metadata"] = "Metadata must be a JSON object."
        task.metadata = fields["metadata"]
    statuses = None
    if "statuses" in fields:
        statuses = _normalize_statuses(fields["statuses"], task.type, errors)
        if statuses:
            keep = {s["key"] for s in statuses}
            dropped = set(TaskStatus.objects.filter(task=task).values_list("key", flat=True)) - keep
            in_use = TaskItem.objects.filter(task=task, status__in=dropped).values_list("status", flat=True)[:1]
            if dropped and list(in_use):
                errors["statuses"] = f"Status “{in_use[0]}” is in use and cannot be removed."
            # Done-ness is counted when an item gets its status (throughput per day, task state, QA
            # intake): flipping it under items that hold the status would leave those counts wrong.
            was_done = dict(TaskStatus.objects.filter(task=task).values_list("key", "is_done"))
            flipped = [s["key"] for s in statuses if s["key"] in was_done and was_done[s["key"]] != s["is_done"]]
            held = (
                StatusCount.objects.filter(assignment__task=task, status__in=flipped, count__gt=0)
                .order_by("status")
                .values_list("status", flat=True)[:1]
            )
            if flipped and "statuses" not in errors and list(held):
                errors["statuses"] = (
                    f"Status “{held[0]}” is in use: whether it counts as done cannot change while items have it."
                )
    if errors:
        raise ValidationError(errors)
    task.save()
    if statuses is not None:
        keep = [s["key"] for s in statuses]
        TaskStatus.objects.filter(task=task).exclude(key__in=keep).delete()
        StatusCount.objects.filter(assignment__task=task).exclude(status__in=keep).delete()
        for position, status in enumerate(statuses):
            TaskStatus.objects.update_or_create(
                task=task, key=status["key"], defaults={**status, "position": position}
            )
        _ensure_status_counts(assignment_ids=list(task.assignments.values_list("pk", flat=True)), keys=keep)
        _task_state_refresh(task)
    return task


@transaction.atomic
def task_close(*, task, by) -> AnnotationTask:
    task = _lock_task(task)
    if task.closed_at is None:
        task.closed_at = timezone.now()
        task.save(update_fields=["closed_at", "updated_at"])
    return task


@transaction.atomic
def task_delete(*, task, by) -> None:
    task = _lock_task(task)
    family = [task.pk]
    frontier = [task.pk]
    while frontier:
        frontier = list(AnnotationTask.objects.filter(parent_id__in=frontier).values_list("pk", flat=True))
        family += frontier
    # One set-based delete of the rows first, so the ORM cascade never loads them.
    TaskItem.objects.filter(task_id__in=family).delete()
    task.delete()
