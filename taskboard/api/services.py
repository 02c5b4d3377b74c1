"""The API's own rows, written in the same transaction as the domain change they describe.

An `ApiCommand` is the answer dtlpy polls for an operation (finished at once, or following a job);
`ApiTaskInfo` keeps what a Dataloop client sent that Taskboard stores differently (the query string
as sent, the due date in milliseconds, the actions as given), so the task echoes it back unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.files import File
from django.db import transaction

from taskboard.accounts.models import User
from taskboard.annotation import creation
from taskboard.annotation.models import AnnotationTask
from taskboard.annotation.selection import Selection
from taskboard.annotation.spec import TaskSpec
from taskboard.api.ids import api_id
from taskboard.api.models import ApiCommand, ApiTaskInfo, CommandStatus
from taskboard.datasets import importing
from taskboard.datasets.models import Dataset
from taskboard.jobs.models import Job
from taskboard.pipelines import running
from taskboard.pipelines.models import Pipeline
from taskboard.pipelines.running import RunResult
from taskboard.projects.models import Project


def command_record(
    *, user: User, type: str, project: Project | None, spec: dict[str, Any], job: Job | None = None
) -> ApiCommand:
    """The command for an operation: finished when it ran in the request, following `job` otherwise."""
    return ApiCommand.objects.create(
        type=type,
        user=user,
        project=project,
        job=job,
        status=CommandStatus.IN_PROGRESS if job is not None else CommandStatus.SUCCESS,
        spec=spec,
    )


@transaction.atomic
def command_run(
    *, user: User, type: str, project: Project | None, operation: Callable[[], dict[str, Any]]
) -> ApiCommand:
    """Run a domain operation and record its command in one transaction: an operation that fails
    leaves no command, and a command never describes work that rolled back."""
    return command_record(user=user, type=type, project=project, spec=operation())


@transaction.atomic
def task_create(
    *, spec: TaskSpec, by: User, payload: dict[str, Any], query_text: str | None, due_ms: float
) -> ApiCommand:
    """Create a task as a Dataloop client asked (in the request, or by a job), with its command and
    the echo of what the client sent."""
    made = creation.task_create_start(spec=spec, by=by)
    if made.task is not None:
        task_info_keep(
            task=made.task, query_text=query_text, due_ms=due_ms, actions=payload.get("availableActions") or []
        )
    job_project = made.job.project if made.job is not None else None
    return command_record(
        user=by,
        type="CreateTask",
        project=made.task.project if made.task is not None else job_project,
        job=made.job,
        spec={
            "createTaskPayload": payload,
            "createdTaskId": api_id("task", made.task.pk) if made.task is not None else None,
        },
    )


@transaction.atomic
def items_import(*, dataset: Dataset, file: File[bytes], by: User) -> ApiCommand:
    """Import a manifest as the dataset page does (in the request, or by a job past the threshold),
    with its command: finished with the counts, or following the job, whose result fills them in."""
    started = importing.import_manifest_start(dataset=dataset, file=file, by=by)
    result = started.result
    return command_record(
        user=by,
        type="ImportItems",
        project=dataset.project,
        job=started.job,
        spec={
            "datasetId": api_id("dataset", dataset.pk),
            "createdItemsCount": result.created if result is not None else None,
            "skippedItemsCount": result.skipped if result is not None else None,
        },
    )


@transaction.atomic
def pipeline_execute(
    *, pipeline: Pipeline, selection: Selection, by: User, type: str, spec_of: Callable[[RunResult], dict[str, Any]]
) -> tuple[ApiCommand, RunResult]:
    """Run items into a pipeline and record the command in the same transaction (a big run is a job
    the command follows)."""
    result = running.pipeline_run(pipeline=pipeline, selection=selection, by=by)
    command = command_record(user=by, type=type, project=pipeline.project, job=result.job, spec=spec_of(result))
    if result.job is None:
        command.status = CommandStatus.SUCCESS
    return command, result


def task_info_keep(
    *,
    task: AnnotationTask,
    query_text: str | None = None,
    due_ms: float | None = None,
    actions: list[Any] | None = None,
) -> ApiTaskInfo:
    defaults: dict[str, Any] = {}
    if query_text is not None:
        defaults["query_text"] = query_text
    if due_ms is not None:
        defaults["due_ms"] = float(due_ms)
    if actions is not None:
        defaults["available_actions"] = actions
    info, _ = ApiTaskInfo.objects.update_or_create(task=task, defaults=defaults)
    return info
