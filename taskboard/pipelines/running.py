"""Running pipelines: installing (each task node's task is made from a TaskSpec), pausing, running
items in, taking in new uploads, and catching up after a pause or a failure.

Items move only while the pipeline is installed. Each step is recorded as a Move, unique per
(from node, to node, item, status, time the status was set): replaying a job, or the catch-up after
a pause, moves nothing twice.
"""

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation.creation import task_create
from taskboard.annotation.models import (
    AnnotationTask,
    TaskItem,
)
from taskboard.annotation.rows import Report
from taskboard.annotation.selection import Selection, select_items
from taskboard.annotation.spec import Load, Pulling, TaskSpec, equal_people, statuses_from
from taskboard.annotation.workload import WorkloadUnit
from taskboard.datasets import ids
from taskboard.datasets.models import Dataset
from taskboard.jobs import services as job_services
from taskboard.jobs.models import Job
from taskboard.pipelines import tasks
from taskboard.pipelines.editing import NodeFields, clean_node, task_name_for
from taskboard.pipelines.models import (
    TASK_KINDS,
    Connection,
    FailedStep,
    Move,
    Node,
    NodeKind,
    Pipeline,
    PipelineState,
)
from taskboard.pipelines.routing import (
    ROUTE_BATCH,
    TRANSIENT_ERRORS,
    Entry,
    add_by_workload,
    entry_nodes,
    entry_q,
    failure_reason,
    intake_entries,
    route_step,
    send_routing,
    step_failed,
    step_waiting,
    waiting_rows,
)

logger = logging.getLogger(__name__)


def _upstream(node: Node) -> Node | None:
    """The annotation node a QA node reviews: the first one connected into it."""
    conn = (
        Connection.objects.filter(target=node, source__kind=NodeKind.ANNOTATION, rework=False)
        .select_related("source")
        .order_by("id")
        .first()
    )
    return conn.source if conn else None


def _existing_task(node: Node) -> AnnotationTask | None:
    """A task this node may reuse: the one of its name, if it fits the node."""
    name = task_name_for(node)
    existing = AnnotationTask.objects.filter(project_id=node.pipeline.project_id, name=name).first()
    if existing is not None and (existing.dataset_id != node.dataset_id or existing.type != node.task_type):
        raise ValidationError(
            {"name": f"A task named {name!r} exists on another dataset or of another type; rename the node."}
        )
    return existing


def _task_for_node(node: Node, by: User) -> AnnotationTask:
    """Make the node's task, empty: routing fills it. Every rule of task creation applies (the spec's)."""
    parent = None
    if node.kind == NodeKind.QA:
        upstream = _upstream(node)
        if upstream is None or upstream.task_id is None:
            raise ValidationError({"source": "A QA node needs an annotation node connected into it."})
        parent = upstream.task
    loads = tuple(Load(user_id=w.assignee_id, share=w.load) for w in node.workload.order_by("id"))
    pulling = node.batch_size is not None
    assert node.dataset_id is not None  # pipeline_problems refuses a node without a dataset
    spec = TaskSpec(
        dataset_id=node.dataset_id,
        name=task_name_for(node),
        # Routing decides what enters, never the task's own query.
        empty=True,
        type=node.task_type,
        parent_id=parent.pk if parent is not None else None,
        people=equal_people(load.user_id for load in loads) if pulling else loads,
        pulling=Pulling(batch_size=node.batch_size, max_batch_workload=node.max_batch_workload) if pulling else None,
        due_at=node.due_at or timezone.now() + datetime.timedelta(days=7),
        priority=node.priority,
        recipe_id=node.recipe_id,
        owner_id=node.owner_id,
        statuses=statuses_from(node.statuses) if node.statuses else None,
        # Routing decides what enters the QA task, so the task does not take parent items itself.
        qa_intake=False,
        metadata={"pipeline": ids.api_id("pipeline", node.pipeline_id), "node": node.node_uid},
        description=f"Made by pipeline {node.pipeline.name!r}.",
    )
    return task_create(spec=spec, by=by)


# Task creation's fields, as the node names them.
_TASK_FIELD_TO_NODE = {"assignees": "workload", "allowed_assignees": "workload", "parent": "source"}


def node_tasks_make(pipeline: Pipeline, by: User, *, installing: bool = True) -> None:
    """Make or reuse each task node's task; refuse, naming the node, what a task cannot be made of.

    Install and every save of the pipeline's Dataloop JSON (dtlpy's `pipeline.update()`) run it, as
    Dataloop makes a node's task when the node is saved. On a save (`installing=False`) a QA node whose
    annotation node is not connected yet waits for a later save or the install, and a closed task is
    left as it is (only install refuses to route into it)."""
    errors: dict[str, str] = {}
    for node in _ordered_task_nodes(pipeline):
        node.pipeline = pipeline
        task = node.task if node.task_id else None
        if task is None and not installing and node.kind == NodeKind.QA:
            upstream = _upstream(node)
            if upstream is None or upstream.task_id is None:
                continue
        try:
            if task is None:
                with transaction.atomic():
                    task = _existing_task(node) or _task_for_node(node, by)
                node.task = task
                node.save(update_fields=["task"])
        except ValidationError as e:
            for field, messages in e.message_dict.items():
                errors.setdefault(_TASK_FIELD_TO_NODE.get(field, field), f"{node.name}: {' '.join(messages)}")
            continue
        if installing and task.is_closed:
            errors.setdefault("task", f"{node.name}: its task {task.name!r} is closed; it takes no more items.")
    if errors:
        raise ValidationError(errors)


def pipeline_problems(pipeline: Pipeline) -> dict[str, str]:
    """What stops this pipeline from being installed, by field; {} when it can be."""
    errors: dict[str, str] = {}
    nodes = list(pipeline.nodes.select_related("dataset", "recipe", "owner", "pipeline__project"))
    if not any(n.is_task for n in nodes):
        errors["nodes"] = "Add at least one task node."
    for node in nodes:
        fields: NodeFields = {
            "kind": node.kind,
            "name": node.name,
            "column": node.column,
            "row": node.row,
            "dataset": node.dataset,
            "folder": node.folder,
            "recipe": node.recipe,
            "owner": node.owner,
            "due_at": node.due_at,
            "priority": node.priority,
            "batch_size": node.batch_size,
            "max_batch_workload": node.max_batch_workload,
            "statuses": node.statuses,
            "workload": [WorkloadUnit(w.assignee, w.load) for w in node.workload.select_related("assignee")],
        }
        node_errors: dict[str, str] = {}
        clean_node(pipeline=pipeline, fields=fields, errors=node_errors)
        if node.is_task and node.due_at is not None and node.due_at <= timezone.now():
            node_errors["due_at"] = "The due date has passed."
        if node.kind == NodeKind.QA and _upstream(node) is None:
            node_errors["source"] = "A QA node needs an annotation node connected into it."
        if node.is_task and not node_errors:
            try:
                _existing_task(node)
            except ValidationError as e:
                node_errors.update({k: v[0] for k, v in e.message_dict.items()})
        for field, message in node_errors.items():
            errors.setdefault(field, f"{node.name}: {message}")
    return errors


def _ordered_task_nodes(pipeline: Pipeline) -> list[Node]:
    # Annotation nodes first: a QA node's task is made over its upstream's task.
    nodes = list(pipeline.nodes.filter(kind__in=TASK_KINDS).select_related("dataset", "recipe", "owner", "task"))
    return sorted(nodes, key=lambda n: (n.kind == NodeKind.QA, n.column, n.row, n.pk))


@transaction.atomic
def pipeline_install(*, pipeline: Pipeline, by: User) -> Pipeline:
    """Make or reuse each task node's task, start routing, and catch up on what waited."""

    given, pipeline = pipeline, Pipeline.objects.select_for_update().select_related("project").get(pk=pipeline.pk)
    if pipeline.state == PipelineState.INSTALLED:
        return pipeline
    problems = pipeline_problems(pipeline)
    if problems:
        raise ValidationError(problems)
    # Each task node's task now, with its rules checked: not at the first item that arrives.
    node_tasks_make(pipeline, by)
    pipeline.state = PipelineState.INSTALLED
    pipeline.installed_by = by
    pipeline.installed_at = timezone.now()
    # Uploads enter from the first install on (those made while paused enter at the next install).
    pipeline.intake_since = pipeline.intake_since or pipeline.installed_at
    pipeline.save(update_fields=["state", "installed_by", "installed_at", "intake_since", "updated_at"])
    pipeline_id = pipeline.pk
    transaction.on_commit(lambda: send_routing(tasks.pipeline_catch_up, kind="catch_up", pipeline_id=pipeline_id))
    given.refresh_from_db()
    return given


@transaction.atomic
def pipeline_pause(*, pipeline: Pipeline, by: User) -> Pipeline:
    given, pipeline = pipeline, Pipeline.objects.select_for_update().get(pk=pipeline.pk)
    if pipeline.state != PipelineState.INSTALLED:
        raise ValidationError({"state": "Only an installed pipeline can be paused."})
    pipeline.state = PipelineState.PAUSED
    pipeline.save(update_fields=["state", "updated_at"])
    given.refresh_from_db()
    return given


@dataclass(frozen=True)
class RunResult:
    added: int
    skipped: int
    # A big run goes through a job: nothing is added yet, `entering` items will be.
    job: Job | None = None
    entering: int = 0


def _entries_planned(pipeline: Pipeline, selection: Selection) -> list[Entry]:
    """What a run would add at each entry: counts only, in two COUNT queries per entry."""

    planned: list[Entry] = []
    refusal: ValidationError | None = None
    for source, target in entry_nodes(pipeline):
        dataset = source.dataset if source is not None else target.dataset
        if dataset is None or target.dataset_id != dataset.pk:
            continue
        if target.task_id is None:
            raise ValidationError(
                {"nodes": f"{target.name} has no task (was it deleted?); pause and install the pipeline again."}
            )
        try:
            items = select_items(dataset=dataset, selection=selection)
        except ValidationError as e:
            # Listed items of another dataset belong to another entry.
            if selection.mode != "list":
                raise
            refusal = refusal or e
            continue
        within = entry_q(source)
        items = items.filter(within)
        in_task = TaskItem.objects.filter(task_id=target.task_id).values("item_id")
        skipped = items.filter(id__in=in_task).count()
        new = items.exclude(id__in=in_task).count()
        planned.append(Entry(source=source, target=target, within=within, new=new, skipped=skipped))
    if not planned and refusal is not None:
        raise refusal
    return planned


@transaction.atomic
def pipeline_run(
    *,
    pipeline: Pipeline,
    selection: Selection,
    by: User | None,
    job_id: str = "",
    progress: Report | None = None,
    in_job: bool = False,
) -> RunResult:
    """Items of the selection enter at the dataset node: into the first task node's task, by its workload.

    Set-based (INSERT … SELECT, never a list of ids); a run of TASK_JOB_THRESHOLD items or more is
    handed to a job with progress unless this is that job (`in_job`)."""

    pipeline = Pipeline.objects.select_for_update().get(pk=pipeline.pk)
    if pipeline.state != PipelineState.INSTALLED:
        raise ValidationError({"state": "Install the pipeline before running items through it."})
    if not entry_nodes(pipeline):
        raise ValidationError({"nodes": "The pipeline has no task node for items to enter."})
    planned = _entries_planned(pipeline, selection)
    total = sum(e.new for e in planned)
    skipped = sum(e.skipped for e in planned)
    if not total and not skipped:
        raise ValidationError({"selection": "No items match."})
    if total >= settings.TASK_JOB_THRESHOLD and not in_job:
        job = job_services.job_create(
            kind="pipeline_run",
            params={"pipeline": pipeline.pk, "selection": selection.to_json(), "by": getattr(by, "pk", None)},
            project=pipeline.project,
            created_by=by,
            total=total,
        )
        job_services.job_enqueue(job=job)
        return RunResult(added=0, skipped=skipped, job=job, entering=total)
    added = 0
    if progress:
        progress(0, total)
    for entry in planned:
        if not entry.new:
            continue
        added += _enter(
            pipeline,
            entry,
            selection=selection,
            by=by,
            job_id=job_id,
            progress=_from(progress, added, total) if progress else None,
        )
    return RunResult(added=added, skipped=skipped)


def _from(progress: Report, base: int, total: int) -> Callable[[int], None]:
    """An entry's progress (items added so far) as the run's, which started at `base` of `total`."""
    return lambda n: progress(base + n, total)


def _enter(
    pipeline: Pipeline,
    entry: Entry,
    *,
    selection: Selection,
    by: User | None,
    job_id: str,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Add an entry's new items to its task by the node's workload and record a move for each, set-based."""
    target = entry.target
    # Locked before the rank is read: the rows above it are this entry's, whoever else adds items.
    assert target.task_id is not None  # an entry leads into a node with a task (entry planning skips others)
    task = AnnotationTask.objects.select_for_update().get(pk=target.task_id)
    offset = TaskItem.objects.filter(task=task).aggregate(m=Max("rank"))["m"] or 0
    add_by_workload(
        target, selection=selection, within=entry.within, count=entry.new, by=by, progress=progress, task=task
    )
    return _record_moves(
        pipeline=pipeline, source=entry.source, target=target, task=task, after_rank=offset, job_id=job_id, by=by
    )


def _record_moves(
    *,
    pipeline: Pipeline,
    source: Node | None,
    target: Node,
    task: AnnotationTask,
    after_rank: int,
    job_id: str,
    by: User | None,
) -> int:
    """One entry move per item added to `task` above `after_rank`: INSERT … SELECT, replays ignored."""
    ops = db_connection.ops
    now = ops.adapt_datetimefield_value(timezone.now())
    sql = (
        f"INSERT INTO {Move._meta.db_table} "
        "(pipeline_id, item_id, from_node_id, to_node_id, status, status_at, at, job_id, by_id) "
        f"SELECT %s, ti.item_id, %s, %s, '', %s, %s, %s, %s FROM {TaskItem._meta.db_table} ti "
        "WHERE ti.task_id = %s AND ti.rank > %s AND ti.copy = 0 "
        "ON CONFLICT DO NOTHING"
    )
    params = [
        pipeline.pk,
        source.pk if source is not None else None,
        target.pk,
        now,
        now,
        job_id[:64],
        getattr(by, "pk", None),
        task.pk,
        after_rank,
    ]
    with db_connection.cursor() as cursor:
        cursor.execute(sql, params)
        inserted: int = cursor.rowcount
        return max(inserted, 0)


def pipelines_watching(dataset: Dataset) -> QuerySet[Pipeline]:
    """Installed pipelines with a dataset node on `dataset`: where its new items enter."""
    return Pipeline.objects.filter(
        state=PipelineState.INSTALLED, nodes__kind=NodeKind.DATASET, nodes__dataset=dataset
    ).distinct()


def intake_enqueue(*, pipeline: Pipeline, count: int, by: User | None = None) -> Job | None:
    """After the commit, take a dataset's new items into `pipeline`: a job with progress for a big
    import, else a routing task. Either runs `pipeline_intake`, which is safe to run twice."""

    if count >= settings.TASK_JOB_THRESHOLD:
        job = job_services.job_create(
            kind="pipeline_intake",
            params={"pipeline": pipeline.pk},
            project=pipeline.project,
            created_by=by,
            total=count,
        )
        job_services.job_enqueue(job=job)
        return job
    pipeline_id = pipeline.pk
    transaction.on_commit(lambda: send_routing(tasks.pipeline_intake, kind="intake", pipeline_id=pipeline_id))
    return None


@transaction.atomic
def pipeline_intake(*, pipeline: Pipeline, job_id: str = "", progress: Report | None = None) -> int:
    """New uploads (and those that arrived while paused) enter at the dataset nodes, set-based.
    Nothing enters twice: an item with an entry move, or already in the task, is left alone."""
    installed = Pipeline.objects.select_for_update().filter(pk=pipeline.pk, state=PipelineState.INSTALLED).first()
    if installed is None or installed.intake_since is None:
        return 0
    pipeline = installed
    planned = intake_entries(pipeline)
    total = sum(e.new for e in planned)
    if progress:
        progress(0, total)
    added = 0
    for entry in planned:
        if entry.new:
            try:
                with transaction.atomic():
                    added += _enter(
                        pipeline,
                        entry,
                        selection=Selection(mode="all"),
                        by=pipeline.installed_by,
                        job_id=job_id,
                        progress=_from(progress, added, total) if progress else None,
                    )
            except TRANSIENT_ERRORS:
                raise
            except Exception as exc:
                if not isinstance(exc, ValidationError):
                    logger.exception("pipeline %s: new items could not enter %s", pipeline.pk, entry.target.pk)
                step_failed(
                    pipeline_id=pipeline.pk,
                    from_node_id=entry.source.pk if entry.source is not None else None,
                    to_node_id=entry.target.pk,
                    status="",
                    error=f"New items could not enter {entry.target.name}: {failure_reason(exc)}",
                    job_id=job_id,
                )
                continue
        # Everything new entered (or nothing was waiting): an earlier failure here is over.
        FailedStep.objects.filter(pipeline=pipeline, from_node=entry.source, to_node=entry.target, status="").delete()
    return added


@transaction.atomic
def pipeline_catch_up(*, pipeline: Pipeline, job_id: str = "") -> int:
    """After an install or a retry: take in the uploads that arrived while paused, then route every
    item whose status has an outgoing connection and no move yet. A step that fails is recorded and
    the others go on."""
    installed = Pipeline.objects.select_for_update().filter(pk=pipeline.pk, state=PipelineState.INSTALLED).first()
    if installed is None:
        return 0
    pipeline = installed
    moved = pipeline_intake(pipeline=pipeline, job_id=job_id)
    connections = (
        Connection.objects.filter(pipeline=pipeline, source__task__isnull=False)
        .exclude(source__kind=NodeKind.DATASET)
        .select_related("source", "target", "target__task")
        .order_by("id")
    )
    for connection in connections:
        # An item with a status has the time it got it.
        pending = cast(
            QuerySet[TaskItem, tuple[int, datetime.datetime]],
            waiting_rows(connection).order_by("item_id").values_list("item_id", "status_at"),
        )
        rows = list(pending[:ROUTE_BATCH])
        while rows:
            routed = route_step(connection, rows, by=pipeline.installed_by, job_id=job_id)
            if routed is None:
                break  # recorded; the next retry starts again from the first waiting item
            moved += routed
            if len(rows) < ROUTE_BATCH:
                break
            rows = list(pending.filter(item_id__gt=rows[-1][0])[:ROUTE_BATCH])
    # Steps whose items all moved (or no longer wait: a status changed, a connection went) are done.
    for step in FailedStep.objects.filter(pipeline=pipeline).select_related("from_node", "to_node"):
        if not step_waiting(step, cap=1):
            step.delete()
    return moved


@transaction.atomic
def pipeline_retry(*, pipeline: Pipeline, by: User) -> int:
    """Re-run what is stuck, after the cause is fixed: the catch-up moves every waiting item once
    (moves are unique per routing step). Returns how many failed steps there were."""

    pipeline = Pipeline.objects.select_for_update().get(pk=pipeline.pk)
    if pipeline.state != PipelineState.INSTALLED:
        raise ValidationError({"state": "Install the pipeline to retry: installing moves everything that waits."})
    failed = FailedStep.objects.filter(pipeline=pipeline).count()
    pipeline_id = pipeline.pk
    transaction.on_commit(lambda: send_routing(tasks.pipeline_catch_up, kind="catch_up", pipeline_id=pipeline_id))
    return failed
