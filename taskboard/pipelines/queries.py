"""Permission-scoped reads for the pipeline pages: managers and owners of the project only;
everyone else gets 404. Node counts come from the task counters, never from task items."""

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, QuerySet
from django.http import Http404

from taskboard.annotation.models import HELD_ITEMS, Assignment, AssignmentKind, StatusCount, TaskStatus
from taskboard.datasets.models import Dataset, Recipe
from taskboard.pipelines.models import Connection, Node, Pipeline
from taskboard.projects.access import get_or_404
from taskboard.projects.models import Project

# Consensus originals are bookkeeping; queue and work assignments hold the task's items.
COUNTED_KINDS = (AssignmentKind.WORK, AssignmentKind.QUEUE)


def pipelines_for_manager(user, project: Project | None = None) -> QuerySet[Pipeline]:
    pipelines = Pipeline.objects.managed_by(user).select_related("project")
    if project is not None:
        pipelines = pipelines.filter(project=project)
    return pipelines.annotate(node_count=Count("nodes", distinct=True)).order_by("project__name", "name")


def pipeline_for_manager(user, pk) -> Pipeline:
    return get_or_404(Pipeline.objects.managed_by(user).select_related("project"), pk, "pipeline")


def node_of(pipeline: Pipeline, pk) -> Node:
    node = Node.objects.filter(pipeline=pipeline, pk=pk).select_related("dataset", "recipe", "owner", "task").first()
    if node is None:
        raise Http404("No such node.")
    return node


def connection_of(pipeline: Pipeline, pk) -> Connection:
    connection = Connection.objects.filter(pipeline=pipeline, pk=pk).first()
    if connection is None:
        raise Http404("No such connection.")
    return connection


def project_datasets(project) -> QuerySet[Dataset]:
    return Dataset.objects.filter(project=project).order_by("name")


def project_recipes(project) -> QuerySet[Recipe]:
    return Recipe.objects.filter(dataset__project=project).select_related("dataset").order_by("dataset__name", "name")


@dataclass
class NodeCounts:
    total: int = 0
    waiting: int = 0  # no status yet
    in_work: int = 0  # a status that does not count as done
    done: int = 0
    by_status: dict[str, int] = field(default_factory=dict)


def node_counts(nodes) -> dict[int, NodeCounts]:
    """{node id: counts} for task nodes with a task, in three grouped queries whatever the size."""
    task_of = {n.pk: n.task_id for n in nodes if n.task_id}
    task_ids = set(task_of.values())
    if not task_ids:
        return {}
    totals: dict[int, int] = defaultdict(int)
    for task_id, count in (
        Assignment.objects.filter(task_id__in=task_ids, kind__in=COUNTED_KINDS)
        .annotate(held=HELD_ITEMS)
        .values_list("task_id", "held")
    ):
        totals[task_id] += count
    statuses: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for task_id, status, count in StatusCount.objects.filter(
        assignment__task_id__in=task_ids, assignment__kind__in=COUNTED_KINDS, count__gt=0
    ).values_list("assignment__task_id", "status", "count"):
        statuses[task_id][status] += count
    done_keys = set(TaskStatus.objects.filter(task_id__in=task_ids, is_done=True).values_list("task_id", "key"))
    result = {}
    for node_id, task_id in task_of.items():
        by_status = dict(statuses.get(task_id, {}))
        done = sum(n for key, n in by_status.items() if (task_id, key) in done_keys)
        with_status = sum(by_status.values())
        total = totals.get(task_id, 0)
        result[node_id] = NodeCounts(
            total=total,
            waiting=max(total - with_status, 0),
            in_work=with_status - done,
            done=done,
            by_status=by_status,
        )
    return result


def run_jobs(pipeline: Pipeline, *, limit: int = 5) -> list:
    """The pipeline's recent big runs (jobs), newest first: the editor shows their progress and errors."""
    from taskboard.jobs.models import Job

    return list(Job.objects.filter(kind="pipeline_run", params__pipeline=pipeline.pk).order_by("-created_at")[:limit])


def failed_steps(pipeline: Pipeline) -> list:
    """The pipeline's failed routing steps, newest first, each with `waiting`: the items it holds up
    now (capped), so the editor can say what a retry would move."""
    from taskboard.pipelines import services
    from taskboard.pipelines.models import FailedStep

    steps = list(
        FailedStep.objects.filter(pipeline=pipeline).select_related(
            "pipeline", "from_node", "to_node", "to_node__task", "from_node__task", "item"
        )
    )
    for step in steps:
        step.waiting = services.step_waiting(step)
        step.waiting_capped = step.waiting >= services.WAITING_CAP
    return steps
