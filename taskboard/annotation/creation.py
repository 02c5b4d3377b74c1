"""Creating a task from a `TaskSpec`: the task row, its statuses and workload, its assignments and
every task item, in one transaction. Bulk work is one `INSERT … SELECT` per run of rows (`rows`).

The counts each assignment gets are the spec's plan (`CheckedSpec.plan`), the numbers the wizard
previews; the rows are placed by the same rules, so counters, preview and rows agree.
"""

import random
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation.models import (
    Allocation,
    AnnotationTask,
    Assignment,
    AssignmentKind,
    ChangeKind,
    HoldingChange,
    TaskStatus,
    WorkloadEntry,
)
from taskboard.annotation.pulling import pulling_claim
from taskboard.annotation.rows import Report, case_by_boundaries, insert_task_items, ranked_runs, ranked_sql
from taskboard.annotation.spec import CheckedSpec, Plan, TaskSpec
from taskboard.annotation.statuses import ensure_status_counts
from taskboard.annotation.telling import work_handed_out
from taskboard.annotation.workload import boundaries, split_counts
from taskboard.datasets.models import Item
from taskboard.jobs import services as job_services
from taskboard.jobs.models import Job
from taskboard.jobs.registry import job_runner

# A multiplicative hash for picking consensus items from the stored seed; plain integer
# arithmetic, so PostgreSQL and SQLite pick the same items.
HASH_MULTIPLIER = 1103515245
HASH_MODULUS = 2147483647


@dataclass
class TaskCreation:
    """A task made in the request, or the job making it."""

    task: AnnotationTask | None
    job: Job | None = None


def task_create(*, spec: TaskSpec, by: User, progress: Report | None = None) -> AnnotationTask:
    """Create the task the spec describes, or answer the one its idempotency key already made.

    Raises ValidationError with a message per field; nothing is written then. `progress(done, total)`
    is called as the rows go in (a job reports it out of band)."""
    key = spec.idempotency_key
    if key:
        existing = AnnotationTask.objects.filter(dataset_id=spec.dataset_id, idempotency_key=key).first()
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            checked = spec.check(by=by)
            return _task_write(checked, checked.plan(), progress=progress)
    except IntegrityError:
        # Two requests with the same key raced; the unique constraint let one through.
        if key:
            existing = AnnotationTask.objects.filter(dataset_id=spec.dataset_id, idempotency_key=key).first()
            if existing is not None:
                return existing
        raise


def task_create_start(*, spec: TaskSpec, by: User) -> TaskCreation:
    """Create the task in this request, or as a job with progress when the selection is large."""
    checked = spec.check(by=by)
    if checked.total < settings.TASK_JOB_THRESHOLD:
        return TaskCreation(task=task_create(spec=spec, by=by))
    job = job_services.job_create(
        kind="task_create",
        params={"spec": spec.to_json(), "by": by.pk},
        project=checked.project,
        created_by=by,
        total=checked.total,
    )
    job_services.job_enqueue(job=job)
    return TaskCreation(task=None, job=job)


@job_runner("task_create")
def task_create_job_run(*, job: Job, progress: Report) -> dict[str, Any]:
    """The "task_create" job: the same task_create as the in-request path, keyed by the job id."""
    spec = TaskSpec.from_json(job.params["spec"])
    if not spec.idempotency_key:
        spec = replace(spec, idempotency_key=f"job-{job.pk}")
    by = get_user_model().objects.get(pk=job.params["by"])
    task = task_create(spec=spec, by=by, progress=progress)
    return {
        "task_id": task.pk,
        "task_name": task.name,
        "task_url": reverse("dashboards:task-detail", args=[task.pk]),
    }


def _task_write(checked: CheckedSpec, plan: Plan, *, progress: Report | None) -> AnnotationTask:
    spec = checked.spec
    now = timezone.now()
    task = AnnotationTask.objects.create(
        project=checked.project,
        dataset=checked.dataset,
        recipe=checked.recipe,
        name=checked.name,
        description=spec.description or "",
        type=spec.type,
        parent=checked.parent,
        owner=checked.owner,
        created_by=checked.created_by,
        due_at=spec.due_at,
        priority=spec.priority,
        allocation=spec.allocation,
        batch_size=spec.pulling.batch_size if spec.pulling else None,
        max_batch_workload=spec.pulling.max_batch_workload if spec.pulling else None,
        consensus_percentage=spec.consensus.percentage if spec.consensus else None,
        consensus_assignees=spec.consensus.assignees if spec.consensus else None,
        consensus_seed=random.randrange(1, HASH_MODULUS) if spec.consensus else None,
        selection=spec.selection.to_json() if spec.selection is not None and not spec.empty else {},
        query=spec.query if not spec.empty else None,
        qa_intake=spec.qa_intake,
        lock_after_due=spec.lock_after_due,
        metadata=dict(spec.metadata),
        idempotency_key=spec.idempotency_key,
        created_at=now,
    )
    TaskStatus.objects.bulk_create(
        [TaskStatus(task=task, position=i, **status.to_json()) for i, status in enumerate(checked.statuses)]
    )
    WorkloadEntry.objects.bulk_create(
        [WorkloadEntry(task=task, assignee=u.user, load=u.load) for u in checked.workload]
    )
    workers = Assignment.objects.bulk_create(
        [Assignment(task=task, assignee=u.user, kind=AssignmentKind.WORK, created_at=now) for u in checked.workload]
    )
    worker_ids = [a.pk for a in workers]
    total = checked.total
    if progress:
        progress(0, total)

    counts: dict[int, int] = {}
    if task.allocation == Allocation.PULLING:
        queue = Assignment.objects.create(task=task, kind=AssignmentKind.QUEUE, created_at=now)
        if total:
            for ranked, params, before in ranked_runs(_selected(checked), total, progress):
                inserted = insert_task_items(
                    task_id=task.pk,
                    select_sql=f"SELECT r.item_id, %s AS assignment_id, 0 AS copy, r.rn AS rank, %s AS in_queue "
                    f"FROM ({ranked}) r",
                    params=[queue.pk, True] + params,
                )
                _rows_progress(progress, before + inserted, total)
        counts[queue.pk] = total
    elif task.is_consensus:
        counts = _insert_consensus(task=task, checked=checked, plan=plan, worker_ids=worker_ids, progress=progress)
    elif total:
        split = [share.items for share in plan.shares]
        case, case_params = case_by_boundaries("r.rn", boundaries(split), worker_ids)
        for ranked, params, before in ranked_runs(_selected(checked), total, progress):
            inserted = insert_task_items(
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
    ensure_status_counts(assignment_ids=all_ids, keys=[s.key for s in checked.statuses])
    HoldingChange.objects.bulk_create(
        [
            HoldingChange(
                task=task,
                kind=ChangeKind.CREATE,
                to_assignment_id=a,
                count=counts.get(a, 0),
                by=checked.created_by,
                at=now,
            )
            for a in all_ids
        ]
    )
    if task.is_pulling:
        # The first batches, in the workload's order: what the plan counted.
        for unit in checked.workload:
            pulling_claim(task=task, user=unit.user)
    held = Assignment.objects.filter(task=task, kind=AssignmentKind.WORK).values_list("pk", "item_count")
    work_handed_out(task=task, counts=dict(held), by=checked.created_by, occasion="create")
    if progress:
        progress(total, total)
    return task


def _selected(checked: CheckedSpec) -> QuerySet[Item]:
    assert checked.items is not None, "only an empty task has no selection, and it gets no rows"
    return checked.items


def _rows_progress(progress: Report | None, rows: int, total: int) -> None:
    """The rows are nine tenths of the work; counters and records, small next to them, the rest."""
    if progress:
        progress(min(rows, total) * 9 // 10, total)


def _insert_consensus(
    *, task: AnnotationTask, checked: CheckedSpec, plan: Plan, worker_ids: list[int], progress: Report | None
) -> dict[int, int]:
    """Originals of consensus items to a hidden assignment (copy 0), copies 1..k rotated over people:
    copy j of the c-th consensus item goes to person (c - 1 + j - 1) mod n, as the plan counts them."""
    total, chosen, k, n = checked.total, plan.originals, plan.per_item, len(worker_ids)
    loads = [unit.load for unit in checked.workload]
    # Ranked by a hash over the whole selection, these rows cannot go in runs: progress per statement.
    all_rows = max(1, total + chosen * k)
    pool = Assignment.objects.create(task=task, kind=AssignmentKind.CONSENSUS, created_at=task.created_at)
    ranked, params = ranked_sql(_selected(checked))
    hashed = (
        f"SELECT r.item_id, r.rn, row_number() OVER (ORDER BY (r.item_id * {HASH_MULTIPLIER} + %s) %% {HASH_MODULUS}, "
        f"r.item_id) AS hr FROM ({ranked}) r"
    )
    hparams = [task.consensus_seed] + params
    rest = total - chosen
    if rest:
        split = split_counts(rest, loads)
        case, case_params = case_by_boundaries("o.nr", boundaries(split), worker_ids)
        insert_task_items(
            task_id=task.pk,
            select_sql=f"SELECT o.item_id, {case} AS assignment_id, 0 AS copy, o.rn AS rank, %s AS in_queue FROM "
            f"(SELECT h.item_id, h.rn, row_number() OVER (ORDER BY h.rn) AS nr FROM ({hashed}) h WHERE h.hr > %s) o",
            params=case_params + [False] + hparams + [chosen],
        )
        _rows_progress(progress, rest * total // all_rows, total)
    counts = {a: share.items for a, share in zip(worker_ids, plan.shares, strict=True)}
    if chosen:
        insert_task_items(
            task_id=task.pk,
            select_sql=f"SELECT h.item_id, %s AS assignment_id, 0 AS copy, h.rn AS rank, %s AS in_queue "
            f"FROM ({hashed}) h WHERE h.hr <= %s",
            params=[pool.pk, False] + hparams + [chosen],
        )
        _rows_progress(progress, total * total // all_rows, total)
        copies = " UNION ALL ".join(f"SELECT {j} AS c" for j in range(1, k + 1))
        whens = " ".join(f"WHEN {i} THEN {int(a)}" for i, a in enumerate(worker_ids))
        insert_task_items(
            task_id=task.pk,
            select_sql=f"SELECT q.item_id, CASE ((q.cr + cs.c - 2) %% {n}) {whens} END AS assignment_id, "
            f"cs.c AS copy, q.rn AS rank, %s AS in_queue FROM "
            f"(SELECT h.item_id, h.rn, row_number() OVER (ORDER BY h.rn) AS cr FROM ({hashed}) h WHERE h.hr <= %s) q "
            f"CROSS JOIN ({copies}) cs",
            params=[False] + hparams + [chosen],
        )
        counts[pool.pk] = chosen
    return counts
