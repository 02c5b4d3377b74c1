"""Large bulk changes as jobs: a bulk status, a bulk priority, a reassign, a redistribute or a hand-off
that would change at least `BULK_JOB_THRESHOLD` rows runs as a job (`taskboard.jobs`: in-process without a
broker, Celery with one) whose page shows a progress bar; smaller ones run in the request. Either way it
is the same service and the same one recorded operation. Every front door (the pages, the API, the
admin) starts them here.

A job hands the service its progress report: the service records what it will change in one
statement, then changes the rows in runs (one statement a run, `rows.key_runs`), reporting after each,
all in the job's one transaction; the report reaches the page through the job's side connection.
"""

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.urls import reverse

from taskboard.accounts.models import User
from taskboard.annotation import bulk_status, moves, priority
from taskboard.annotation.models import AnnotationTask, Assignment, AssignmentKind, BulkOperation, OperationKind
from taskboard.annotation.rows import Report
from taskboard.annotation.selection import Selection
from taskboard.annotation.statuses import require_not_closed
from taskboard.annotation.workload import WorkloadUnit
from taskboard.jobs import services as job_services
from taskboard.jobs.models import Job
from taskboard.jobs.registry import job_runner
from taskboard.projects.models import Project


@dataclass
class BulkStart:
    """What a start did: ran in the request (`count` rows, `operation` or None when nothing
    changed) or handed the work to `job`."""

    count: int = 0
    operation: BulkOperation | None = None
    job: Job | None = None
    # What a move that ran in the request left: the assignments it moved items to, or a hand-off's
    # task by task account.
    assignments: list[Assignment] = field(default_factory=list)
    hand_offs: list[moves.HandOff] = field(default_factory=list)


def _selection_json(selection: Selection | None) -> dict | None:
    return selection.to_json() if selection is not None else None


def _selection_from(data: dict | None) -> Selection | None:
    return Selection.from_json(data) if data else None


def _job_start(*, kind: str, task: AnnotationTask, by: User, total: int, params: dict[str, Any]) -> BulkStart:
    job = job_services.job_create(
        kind=kind, params={"task": task.pk, "by": by.pk, **params}, project=task.project, created_by=by, total=total
    )
    job_services.job_enqueue(job=job)
    return BulkStart(count=total, job=job)


def _result(task: AnnotationTask, operation: BulkOperation | None, count: int) -> dict[str, Any]:
    return _project_result(task.project_id, operation, count)


def _project_result(project_id: int, operation: BulkOperation | None, count: int) -> dict[str, Any]:
    return {
        "operation_id": operation.pk if operation is not None else None,
        "count": count,
        "url": reverse("annotation:project-operations", args=[project_id]),
        "label": f"{count} item(s) changed: open the bulk operations (undo)",
    }


def _job_inputs(job: Job) -> tuple[AnnotationTask, User, Selection | None]:
    task = AnnotationTask.objects.get(pk=job.params["task"])
    by = get_user_model().objects.get(pk=job.params["by"])
    return task, by, _selection_from(job.params.get("selection"))


def items_status_start(
    *, task: AnnotationTask, selection: Selection | None, status: str | None, by: User
) -> BulkStart:
    """Bulk status, here or as a job when large. Bad input is refused here, before any job."""
    problem = bulk_status.status_problem(task=task, status=status)
    if problem:
        raise ValidationError({"status": problem})
    total = bulk_status.rows_to_change(task=task, selection=selection, status=status).count()
    if total < settings.BULK_JOB_THRESHOLD:
        operation = bulk_status.items_status_set(task=task, selection=selection, status=status, by=by)
        return BulkStart(count=operation.count if operation is not None else 0, operation=operation)
    params = {"selection": _selection_json(selection), "status": status}
    return _job_start(kind="bulk_status", task=task, by=by, total=total, params=params)


@job_runner("bulk_status")
def bulk_status_job_run(*, job: Job, progress: Report) -> dict[str, Any]:
    task, by, selection = _job_inputs(job)
    operation = bulk_status.items_status_set(
        task=task, selection=selection, status=job.params["status"], by=by, progress=progress
    )
    count = operation.count if operation is not None else 0
    progress(count, count)
    return _result(task, operation, count)


def items_priority_start(*, task: AnnotationTask, selection: Selection | None, value: object, by: User) -> BulkStart:
    """Bulk priority, here or as a job when large. Bad input is refused here, before any job."""
    problem = priority.item_priority_problem(value)
    if problem or not isinstance(value, int):
        raise ValidationError({"priority": problem or priority.PRIORITY_MESSAGE})
    total = priority.selected_rows(task=task, selection=selection).exclude(priority=value).count()
    if total < settings.BULK_JOB_THRESHOLD:
        return BulkStart(count=priority.items_priority_set(task=task, selection=selection, priority=value, by=by))
    params = {"selection": _selection_json(selection), "priority": value}
    return _job_start(kind="bulk_priority", task=task, by=by, total=total, params=params)


@job_runner("bulk_priority")
def bulk_priority_job_run(*, job: Job, progress: Report) -> dict[str, Any]:
    task, by, selection = _job_inputs(job)
    count = priority.items_priority_set(
        task=task, selection=selection, priority=job.params["priority"], by=by, progress=progress
    )
    progress(count, count)
    operation = _latest_operation(task, OperationKind.PRIORITY, by) if count else None
    return _result(task, operation, count)


def _latest_operation(task: AnnotationTask, kind: str, by: User) -> BulkOperation | None:
    """The operation the job's service just recorded (the task's lock kept others out meanwhile)."""
    return BulkOperation.objects.filter(task=task, kind=kind, by=by).order_by("-id").first()


def _undone_items(assignment: Assignment) -> int:
    return assignment.task_items.filter(status__isnull=True).count()


def _move_checks(assignment: Assignment, field: str) -> None:
    """What the move itself would refuse at once, refused here before any job (the rest, such as a
    cap, fails the job with the service's message)."""
    require_not_closed(assignment.task, field)
    if assignment.kind != AssignmentKind.WORK:
        raise ValidationError({field: "Hidden pools cannot be reassigned or redistributed."})


def assignment_reassign_start(*, assignment: Assignment, to_user: User, by: User) -> BulkStart:
    """Reassign, here or as a job when the person holds many undone items."""
    _move_checks(assignment, "assignees")
    if to_user.pk == assignment.assignee_id:
        raise ValidationError({"assignees": "Choose another person."})
    total = _undone_items(assignment)
    if total < settings.BULK_JOB_THRESHOLD:
        target = moves.assignment_reassign(assignment=assignment, to_user=to_user, by=by)
        return BulkStart(count=total, assignments=[target])
    params = {"assignment": assignment.pk, "to_user": to_user.pk}
    return _job_start(kind="bulk_reassign", task=assignment.task, by=by, total=total, params=params)


@job_runner("bulk_reassign")
def bulk_reassign_job_run(*, job: Job, progress: Report) -> dict[str, Any]:
    task, by, _ = _job_inputs(job)
    assignment = Assignment.objects.get(pk=job.params["assignment"], task=task)
    to_user = get_user_model().objects.get(pk=job.params["to_user"])
    target = moves.assignment_reassign(assignment=assignment, to_user=to_user, by=by, progress=progress)
    operation = _latest_operation(task, OperationKind.REASSIGN, by)
    count = operation.count if operation is not None else 0
    progress(count, count)
    return {**_result(task, operation, count), "to_assignment": target.pk}


def assignment_redistribute_start(*, assignment: Assignment, workload: list[WorkloadUnit], by: User) -> BulkStart:
    """Redistribute, here or as a job when the person holds many undone items."""
    _move_checks(assignment, "workload")
    total = _undone_items(assignment)
    if total < settings.BULK_JOB_THRESHOLD:
        targets = moves.assignment_redistribute(assignment=assignment, workload=workload, by=by)
        return BulkStart(count=total, assignments=targets)
    params = {"assignment": assignment.pk, "workload": [[unit.user.pk, unit.load] for unit in workload]}
    return _job_start(kind="bulk_redistribute", task=assignment.task, by=by, total=total, params=params)


@job_runner("bulk_redistribute")
def bulk_redistribute_job_run(*, job: Job, progress: Report) -> dict[str, Any]:
    task, by, _ = _job_inputs(job)
    assignment = Assignment.objects.get(pk=job.params["assignment"], task=task)
    users = get_user_model().objects.in_bulk([user_id for user_id, _ in job.params["workload"]])
    workload = [WorkloadUnit(users[user_id], load) for user_id, load in job.params["workload"]]
    targets = moves.assignment_redistribute(assignment=assignment, workload=workload, by=by, progress=progress)
    operation = _latest_operation(task, OperationKind.REDISTRIBUTE, by)
    count = operation.count if operation is not None else 0
    progress(count, count)
    return {**_result(task, operation, count), "assignments": [a.pk for a in targets]}


def person_hand_off_start(*, project: Project, user: User, by: User, task: AnnotationTask | None = None) -> BulkStart:
    """A hand-off of a person's unstarted items, here or as a job when they hold many."""
    total = moves.hand_off_rows(project=project, user=user, task=task).count()
    if total < settings.BULK_JOB_THRESHOLD:
        done = moves.person_hand_off(project=project, user=user, by=by, task=task)
        return BulkStart(count=sum(h.moved + h.to_queue for h in done), hand_offs=done)
    job = job_services.job_create(
        kind="bulk_hand_off",
        params={"project": project.pk, "user": user.pk, "by": by.pk, "task": task.pk if task is not None else None},
        project=project,
        created_by=by,
        total=total,
    )
    job_services.job_enqueue(job=job)
    return BulkStart(count=total, job=job)


@job_runner("bulk_hand_off")
def bulk_hand_off_job_run(*, job: Job, progress: Report) -> dict[str, Any]:
    project = Project.objects.get(pk=job.params["project"])
    people = get_user_model().objects.in_bulk([job.params["user"], job.params["by"]])
    task = AnnotationTask.objects.get(pk=job.params["task"]) if job.params.get("task") else None
    by = people[job.params["by"]]
    done = moves.person_hand_off(project=project, user=people[job.params["user"]], by=by, task=task, progress=progress)
    count = sum(h.moved + h.to_queue for h in done)
    progress(count, count)
    operation = (
        BulkOperation.objects.filter(project=project, kind=OperationKind.HAND_OFF, by=by).order_by("-id").first()
    )
    return {
        **_project_result(project.pk, operation, count),
        "moved": sum(h.moved for h in done),
        "to_queue": sum(h.to_queue for h in done),
        "skipped": [f"{h.task.name} ({h.skipped})" for h in done if h.skipped],
    }
