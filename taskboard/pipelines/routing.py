"""Moving items along connections, where they enter, and what happens when a move fails.

Routed items are split by the target node's workload, balanced against what each person already
holds in that task, so items arriving one at a time still follow the loads. Routing an item back
into a task that already holds it (a rework connection) clears its status there, so it is to do
again. A step that cannot be made is kept as a FailedStep with its reason, for a retry.
"""

import datetime
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from celery import Task
from django.core.exceptions import ValidationError
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone
from kombu.exceptions import KombuError

from taskboard.accounts.models import User
from taskboard.annotation.models import (
    AnnotationTask,
    Assignment,
    AssignmentKind,
    TaskItem,
)
from taskboard.annotation.moves import task_add_items
from taskboard.annotation.pulling import pulling_claim
from taskboard.annotation.selection import Selection
from taskboard.annotation.statuses import StatusChange, status_clear
from taskboard.annotation.workload import WorkloadUnit, may_work, split_counts
from taskboard.datasets.folders import folder_q
from taskboard.datasets.models import Item
from taskboard.pipelines import tasks
from taskboard.pipelines.models import (
    Connection,
    FailedStep,
    Move,
    Node,
    NodeKind,
    Pipeline,
    PipelineState,
)

logger = logging.getLogger(__name__)


ROUTE_BATCH = 2000


def entry_nodes(pipeline: Pipeline) -> list[tuple[Node | None, Node]]:
    """(dataset node or None, task node) pairs where items enter the pipeline."""
    conns = list(
        Connection.objects.filter(pipeline=pipeline, source__kind=NodeKind.DATASET)
        .select_related("source", "target", "target__task")
        .order_by("id")
    )
    if conns:
        return [(c.source, c.target) for c in conns]
    # No dataset node (the SDK's TaskNode alone): the start node, or the first task node.
    start = [s.get("nodeId") for s in (pipeline.extra.get("startNodes") or []) if isinstance(s, dict)]
    nodes = list(pipeline.nodes.filter(kind=NodeKind.ANNOTATION).select_related("task").order_by("column", "row"))
    nodes.sort(key=lambda n: n.node_uid not in start)
    return [(None, nodes[0])] if nodes else []


def entry_q(source: Node | None) -> Q:
    """The items a dataset node lets in: its folder and subfolders ("/city" is not "/cityscape")."""
    if source is None or not source.folder:
        return Q()
    return folder_q(source.folder, include_subfolders=True)


@dataclass
class Entry:
    source: Node | None
    target: Node
    within: Q
    new: int
    skipped: int


def intake_entries(pipeline: Pipeline, *, count: bool = True) -> list[Entry]:
    """Per dataset node: the items uploaded into its folder since the pipeline was first installed
    (and the node made) that have not entered yet, and how many of them are new to the task."""
    planned: list[Entry] = []
    if pipeline.intake_since is None:
        return planned
    for source, target in entry_nodes(pipeline):
        if (
            source is None
            or source.dataset_id is None
            or source.dataset_id != target.dataset_id
            or target.task_id is None
        ):
            continue
        since = max(pipeline.intake_since, source.created_at)
        entered = Move.objects.filter(from_node=source, to_node=target, status="", item_id=OuterRef("pk"))
        within = entry_q(source) & Q(created_at__gte=since) & ~Q(Exists(entered))
        new = 0
        if count:
            items = Item.objects.filter(dataset_id=source.dataset_id).filter(within)
            in_task = TaskItem.objects.filter(task_id=target.task_id).values("item_id")
            new = items.exclude(id__in=in_task).count()
        planned.append(Entry(source=source, target=target, within=within, new=new, skipped=0))
    return planned


def add_by_workload(
    node: Node,
    *,
    selection: Selection,
    count: int,
    by: User | None,
    within: Q | None = None,
    progress: Callable[[int], None] | None = None,
    task: AnnotationTask | None = None,
) -> None:
    """Add `count` new items (the selection, narrowed by `within`, not yet in the node's task): to
    the pulling queue, or split by the node's workload balanced against what each person already
    holds there, in (dir, name, id) order. One INSERT … SELECT per person."""
    if count <= 0:
        return
    if node.task_id is None:
        raise ValidationError(
            {"task": f"{node.name} has no task (was it deleted?); pause and install the pipeline again to make one."}
        )
    task = task or node.task
    assert task is not None  # the node has a task (checked above)
    units = list(node.workload.select_related("assignee").order_by("id"))
    # People who may no longer work are skipped; when no one is left, the move fails naming them (a
    # recorded failure a manager fixes and retries), rather than quietly going elsewhere.
    workers = may_work(task.project_id, [u.assignee_id for u in units])
    units = [u for u in units if u.assignee_id in workers] or units
    if task.is_pulling or not units:
        task_add_items(task=task, selection=selection, within=within, by=by, to_queue=task.is_pulling)
        _hand_out_batches(task)
        if progress:
            progress(count)
        return
    held = dict(
        Assignment.objects.filter(
            task=task, kind=AssignmentKind.WORK, assignee__in=[u.assignee_id for u in units]
        ).values_list("assignee_id", "item_count")
    )
    current = [held.get(u.assignee_id, 0) for u in units]
    targets = split_counts(sum(current) + count, [u.load for u in units])
    deficits = [max(0, t - c) for t, c in zip(targets, current, strict=True)]
    counts = split_counts(count, deficits if sum(deficits) else [u.load for u in units])
    done = 0
    for unit, n in zip(units, counts, strict=True):
        if not n:
            continue
        # Each call takes the first `n` items not in the task yet: the next contiguous run.
        task_add_items(
            task=task,
            selection=selection,
            within=within,
            by=by,
            workload=[WorkloadUnit(unit.assignee, 100)],
            limit=n,
        )
        done += n
        if progress:
            progress(done)


def _hand_out_batches(task: AnnotationTask) -> None:
    """A pulling task hands each of its people a batch when their undone items are low, as at creation."""
    if not task.is_pulling:
        return
    for entry in task.workload.select_related("assignee").order_by("id"):
        pulling_claim(task=task, user=entry.assignee)


def _reopen(task: AnnotationTask, item_ids: list[int]) -> None:
    """Rework: items routed back into a task that holds them become to do again. The clear is the
    write alone: a pipeline's task has no consensus, and a clear routes and refills nothing."""
    rows = TaskItem.objects.filter(task=task, item_id__in=item_ids, status__isnull=False).select_related(
        "assignment__assignee", "item"
    )
    for row in rows:
        holder = row.assignment.assignee
        assert holder is not None  # only the holder of a work assignment sets a status
        status_clear(task=task, item=row.item, by=holder, copy=row.copy)


def _route(connection: Connection, rows: list[tuple[int, datetime.datetime]], *, by: User | None, job_id: str) -> int:
    """Move (item id, status time) pairs along one connection; pairs already moved are skipped."""
    source, target = connection.source, connection.target
    if not rows:
        return 0
    ids_ = [item_id for item_id, _ in rows]
    done = set(
        Move.objects.filter(from_node=source, to_node=target, status=connection.status, item_id__in=ids_).values_list(
            "item_id", "status_at"
        )
    )
    todo: dict[int, datetime.datetime] = {}
    for item_id, at in rows:
        if (item_id, at) not in done:
            todo.setdefault(item_id, at)
    if not todo:
        return 0
    in_task = set(
        TaskItem.objects.filter(task_id=target.task_id, item_id__in=list(todo)).values_list("item_id", flat=True)
    )
    new_ids = [pk for pk in todo if pk not in in_task]
    if new_ids:
        add_by_workload(target, selection=Selection(mode="list", item_ids=tuple(new_ids)), count=len(new_ids), by=by)
    if in_task and connection.rework and target.task is not None:
        _reopen(target.task, list(in_task))
    Move.objects.bulk_create(
        [
            Move(
                pipeline_id=connection.pipeline_id,
                item_id=pk,
                from_node=source,
                to_node=target,
                status=connection.status,
                status_at=at,
                job_id=job_id,
                by=by,
            )
            for pk, at in todo.items()
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )
    return len(todo)


@transaction.atomic
def item_route(*, task_item_id: int, status: str, status_at: datetime.datetime, job_id: str = "") -> int:
    """The routing job for one status change. Safe to run twice; a superseded change moves nothing.

    A step that cannot be made (a workload person left, the next task was closed) is recorded as
    a FailedStep with its reason and the other connections still route; the database being busy
    is raised, for the Celery task to retry."""
    row = TaskItem.objects.filter(pk=task_item_id).first()
    if row is None or row.status != status or row.status_at != status_at:
        return 0
    pipeline_ids = list(
        Connection.objects.filter(source__task_id=row.task_id, status=status)
        .values_list("pipeline_id", flat=True)
        .distinct()
    )
    moved = 0
    # Locked so a concurrent pause or a second copy of this job waits for this one.
    for pipeline in Pipeline.objects.select_for_update().filter(pk__in=pipeline_ids, state=PipelineState.INSTALLED):
        connections = Connection.objects.filter(
            pipeline=pipeline, source__task_id=row.task_id, status=status
        ).select_related("source", "target", "target__task")
        for connection in connections:
            rows = [(row.item_id, row.status_at)]
            moved += route_step(connection, rows, by=pipeline.installed_by, job_id=job_id, item_id=row.item_id) or 0
    return moved


def waiting_rows(connection: Connection) -> QuerySet[TaskItem]:
    """The source task's rows with the connection's status and no move along it yet."""
    return TaskItem.objects.filter(task_id=connection.source.task_id, status=connection.status).exclude(
        Exists(
            Move.objects.filter(
                from_node_id=connection.source_id,
                to_node_id=connection.target_id,
                status=connection.status,
                item_id=OuterRef("item_id"),
                status_at=OuterRef("status_at"),
            )
        )
    )


# The database was busy (a lock, a deadlock, a serialization failure) or away: worth retrying.
TRANSIENT_ERRORS: tuple[type[Exception], ...] = (OperationalError, InterfaceError)


WAITING_CAP = 10_000


def failure_reason(exc: BaseException, *, tries: int | None = None) -> str:
    """What a manager can act on: the rule that refused the move, or what went wrong."""
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    if isinstance(exc, RoutingNotQueued):
        return f"{exc} Nothing moved; press Retry once the queue is back."
    if isinstance(exc, TRANSIENT_ERRORS):
        tried = f" after {tries} tries" if tries else ""
        return (
            f"The database was busy or unreachable ({exc.__class__.__name__}){tried}. "
            "Press Retry, or install the pipeline again."
        )
    return f"Something went wrong ({exc.__class__.__name__}); the log has the details. Press Retry once it is fixed."


def step_failed(
    *,
    pipeline_id: int,
    from_node_id: int | None,
    to_node_id: int,
    status: str,
    error: str,
    item_id: int | None = None,
    job_id: str = "",
    transient: bool = False,
) -> None:
    """Record (or count again) a failed routing step. Never raises: recording must not hide the cause."""
    now = timezone.now()
    key = {"pipeline_id": pipeline_id, "from_node_id": from_node_id, "to_node_id": to_node_id, "status": status}
    fields = {"error": error[:2000], "job_id": (job_id or "")[:64], "transient": transient, "last_failed_at": now}
    if item_id is not None:
        fields["item_id"] = item_id
    try:
        with transaction.atomic():
            if not FailedStep.objects.filter(**key).update(attempts=F("attempts") + 1, **fields):
                try:
                    with transaction.atomic():
                        FailedStep.objects.create(**key, first_failed_at=now, **fields)
                except IntegrityError:
                    # Recorded meanwhile by another worker, or a node was deleted.
                    FailedStep.objects.filter(**key).update(attempts=F("attempts") + 1, **fields)
    except Exception:
        logger.exception("pipeline %s: the failed step %s could not be recorded", pipeline_id, key)


def step_waiting(step: FailedStep, *, cap: int = WAITING_CAP) -> int:
    """How many items the step holds up now (at most `cap`)."""
    source, target = step.from_node, step.to_node
    if target is None:
        return 0
    if source is None:
        return 0
    if source.kind == NodeKind.DATASET:
        entries = intake_entries(step.pipeline, count=False)
        entry = next(
            (e for e in entries if e.target.pk == target.pk and e.source is not None and e.source.pk == source.pk),
            None,
        )
        if entry is None or target.dataset_id is None:
            return 0
        waiting = Item.objects.filter(dataset_id=target.dataset_id).filter(entry.within)
        waiting = waiting.exclude(id__in=TaskItem.objects.filter(task_id=target.task_id).values("item_id"))
        return waiting.values("pk")[:cap].count()
    connection = Connection.objects.filter(source=source, target=target, status=step.status).first()
    if connection is None or source.task_id is None:
        return 0
    return waiting_rows(connection).values("pk")[:cap].count()


def _clear_if_done(
    *, pipeline_id: int, source: Node | None, target: Node, status: str, waiting: Callable[[], QuerySet[TaskItem]]
) -> None:
    steps = FailedStep.objects.filter(pipeline_id=pipeline_id, from_node=source, to_node=target, status=status)
    if steps.exists() and not waiting().exists():
        steps.delete()


def route_step(
    connection: Connection,
    rows: list[tuple[int, datetime.datetime]],
    *,
    by: User | None,
    job_id: str,
    item_id: int | None = None,
) -> int | None:
    """One connection's moves in a savepoint: a refusal is recorded as a failed step (None is
    returned) and the rest of the routing goes on; the database being busy is raised, to retry."""
    try:
        with transaction.atomic():
            moved = _route(connection, rows, by=by, job_id=job_id)
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        if not isinstance(exc, ValidationError):
            logger.exception("pipeline %s: routing along connection %s failed", connection.pipeline_id, connection.pk)
        step_failed(
            pipeline_id=connection.pipeline_id,
            from_node_id=connection.source_id,
            to_node_id=connection.target_id,
            status=connection.status,
            error=f"Could not move into {connection.target.name}: {failure_reason(exc)}",
            item_id=item_id,
            job_id=job_id,
        )
        return None
    _clear_if_done(
        pipeline_id=connection.pipeline_id,
        source=connection.source,
        target=connection.target,
        status=connection.status,
        waiting=lambda: waiting_rows(connection),
    )
    return moved


def routing_job_failed(
    *, kind: str, kwargs: dict[str, Any], exc: BaseException, tries: int | None = None, job_id: str = ""
) -> None:
    """A routing task gave up (the retries ran out, or the broker could not take it): record the
    steps it was to make, so the manager sees them and can retry."""
    error = failure_reason(exc, tries=tries)
    transient = isinstance(exc, (*TRANSIENT_ERRORS, RoutingNotQueued))
    steps: list[tuple[int, int | None, int, str, int | None]] = []
    if kind == "route":
        task_item_id = kwargs.get("task_item_id")
        row = TaskItem.objects.filter(pk=task_item_id).first() if task_item_id is not None else None
        if row is not None:
            for c in Connection.objects.filter(
                source__task_id=row.task_id, status=kwargs.get("status"), pipeline__state=PipelineState.INSTALLED
            ):
                steps.append((c.pipeline_id, c.source_id, c.target_id, c.status, row.item_id))
    else:
        pipeline_id = kwargs.get("pipeline_id")
        pipeline = Pipeline.objects.filter(pk=pipeline_id).first() if pipeline_id is not None else None
        if pipeline is not None:
            for source, target in entry_nodes(pipeline):
                if source is not None:
                    steps.append((pipeline.pk, source.pk, target.pk, "", None))
            if kind == "catch_up":
                for c in pipeline.connections.exclude(source__kind=NodeKind.DATASET):
                    steps.append((pipeline.pk, c.source_id, c.target_id, c.status, None))
    for pipeline_id, from_id, to_id, status, item_id in steps:
        step_failed(
            pipeline_id=pipeline_id,
            from_node_id=from_id,
            to_node_id=to_id,
            status=status,
            error=error,
            item_id=item_id,
            job_id=job_id,
            transient=transient,
        )


# Read with the task's lock by the status flow: whether an installed pipeline routes from this task.
ROUTED = "pipeline_routed"


def has_routes() -> Exists:
    return Exists(Connection.objects.filter(source__task_id=OuterRef("pk"), pipeline__state=PipelineState.INSTALLED))


def route_on_commit(change: StatusChange) -> None:
    """A step of the status flow: when an installed pipeline has a connection for the item's new status,
    the item moves along it, after the commit: the routing job must see the status, and a change that
    rolls back moves nothing."""
    row = change.row
    if not change.new or row.status_at is None or getattr(change.task, ROUTED, True) is False:
        return
    routed = Connection.objects.filter(
        source__task_id=row.task_id, status=change.new, pipeline__state=PipelineState.INSTALLED
    ).exists()
    if not routed:
        return

    args = {"task_item_id": row.pk, "status": change.new, "status_at": row.status_at.isoformat()}
    transaction.on_commit(lambda: send_routing(tasks.route_item, kind="route", **args))


def send_routing(task: Task, *, kind: str, **kwargs: object) -> None:
    """Hand a routing task to Celery (after the commit). A broker that cannot be reached does not
    fail the request that made the change: the steps are recorded as failed, for a retry."""
    try:
        task.delay(**kwargs)
    except (KombuError, OSError) as exc:
        logger.warning("pipelines: the broker is unreachable; %s %s recorded as failed", kind, kwargs)
        routing_job_failed(kind=kind, kwargs=kwargs, exc=RoutingNotQueued(exc))


class RoutingNotQueued(Exception):
    def __init__(self, cause: BaseException) -> None:
        super().__init__(f"The job queue could not be reached ({cause.__class__.__name__}).")
