"""Permission-scoped reads for the pipeline pages: managers and owners of the project only;
everyone else gets 404. Node counts come from the task counters, never from task items."""

from collections.abc import Iterable

from django.db.models import Count, QuerySet
from django.http import Http404

from taskboard.annotation.progress import Progress, tasks_progress
from taskboard.datasets.models import Dataset, Recipe
from taskboard.jobs.models import Job
from taskboard.pipelines import routing
from taskboard.pipelines.models import Connection, FailedStep, Node, Pipeline
from taskboard.projects.access import AnyUser, get_or_404
from taskboard.projects.models import Project


def pipelines_for_manager(user: AnyUser, project: Project | None = None) -> QuerySet[Pipeline]:
    pipelines = Pipeline.objects.managed_by(user).select_related("project")
    if project is not None:
        pipelines = pipelines.filter(project=project)
    return pipelines.annotate(node_count=Count("nodes", distinct=True)).order_by("project__name", "name")


def pipeline_for_manager(user: AnyUser, pk: object) -> Pipeline:
    return get_or_404(Pipeline.objects.managed_by(user).select_related("project"), pk, "pipeline")


def node_of(pipeline: Pipeline, pk: int) -> Node:
    node = Node.objects.filter(pipeline=pipeline, pk=pk).select_related("dataset", "recipe", "owner", "task").first()
    if node is None:
        raise Http404("No such node.")
    return node


def connection_of(pipeline: Pipeline, pk: int) -> Connection:
    connection = Connection.objects.filter(pipeline=pipeline, pk=pk).first()
    if connection is None:
        raise Http404("No such connection.")
    return connection


def project_datasets(project: Project) -> QuerySet[Dataset]:
    return Dataset.objects.filter(project=project).order_by("name")


def project_recipes(project: Project) -> QuerySet[Recipe]:
    return Recipe.objects.filter(dataset__project=project).select_related("dataset").order_by("dataset__name", "name")


def node_counts(nodes: Iterable[Node]) -> dict[int, Progress]:
    """{node id: its task's progress} for task nodes with a task, from the progress read model."""
    tasks = {n.task.pk: n.task for n in nodes if n.task is not None}
    progress = tasks_progress(tasks.values())
    return {n.pk: progress[n.task_id] for n in nodes if n.task_id}


def run_jobs(pipeline: Pipeline, *, limit: int = 5) -> list[Job]:
    """The pipeline's recent big runs (jobs), newest first: the editor shows their progress and errors."""
    return list(Job.objects.filter(kind="pipeline_run", params__pipeline=pipeline.pk).order_by("-created_at")[:limit])


def failed_steps(pipeline: Pipeline) -> list[FailedStep]:
    """The pipeline's failed routing steps, newest first, each with `waiting`: the items it holds up
    now (capped), so the editor can say what a retry would move."""
    steps = list(
        FailedStep.objects.filter(pipeline=pipeline).select_related(
            "pipeline", "from_node", "to_node", "to_node__task", "from_node__task", "item"
        )
    )
    for step in steps:
        step.waiting = routing.step_waiting(step)
        step.waiting_capped = step.waiting >= routing.WAITING_CAP
    return steps
