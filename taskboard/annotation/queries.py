"""Reads of tasks and assignments, scoped by the access policy (`taskboard.projects.access`)."""

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, QuerySet, Sum
from django.http import Http404
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation.filters import TaskFilter
from taskboard.annotation.models import AnnotationTask, Assignment, AssignmentKind, TaskItem, TaskState
from taskboard.annotation.progress import assignments_progress
from taskboard.datasets.models import Dataset, Item
from taskboard.inputs import parse_pk
from taskboard.projects.access import AnyUser, anyone_with_id, get_or_404, is_person
from taskboard.projects.models import Project
from taskboard.projects.queries import assignable_users
from taskboard.sql import Compiled


def task_for_manager(user: AnyUser, pk: object) -> AnnotationTask:
    """A task of a project the user owns or manages; anyone else gets 404."""
    tasks = AnnotationTask.objects.managed_by(user).select_related(
        "project", "dataset", "recipe", "owner", "parent", "created_by"
    )
    return get_or_404(tasks, pk, "task")


def task_for_viewer(user: AnyUser, pk: object) -> AnnotationTask:
    """A task its project's managers or the people working in it may open; anyone else gets 404."""
    tasks = AnnotationTask.objects.visible_to(user).select_related("project", "dataset", "parent")
    return get_or_404(tasks, pk, "task")


def item_in_task(task: AnnotationTask, pk: object) -> Item:
    """An item of the task, or 404."""
    return get_or_404(Item.objects.filter(task_items__task_id=task.pk).distinct(), pk, "item")


# The work loop opens assignments all day: the policy's query compiled once per process.
_ASSIGNMENT_FOR_VIEWER = Compiled(
    lambda user_id, pk: (
        Assignment.objects.visible_to(anyone_with_id(user_id))
        .select_related("task", "task__project", "task__recipe", "assignee")
        .filter(pk=pk)
        .order_by()[:1]
    )
)


def assignment_for_viewer(user: AnyUser, pk: object) -> Assignment:
    """A work assignment its holder or the project's managers may open; anyone else gets 404."""
    key = parse_pk(pk)
    found: Assignment | None = None
    if is_person(user) and key is not None:
        found = _ASSIGNMENT_FOR_VIEWER.first(user.pk, key)
    if found is None:
        raise Http404("No such assignment.")
    return found


@dataclass(frozen=True)
class StrandedWork:
    """Items not done, held by someone who may no longer work in the project."""

    assignment: Assignment
    remaining: int

    @property
    def why(self) -> str:
        assignee = self.assignment.assignee
        return "deactivated" if assignee is not None and not assignee.is_active else "no longer a working member"


STRANDED_SHOWN = 100


def stranded_work(*, project: Project, task: AnnotationTask | None = None) -> list[StrandedWork]:
    """For managers to move: the open work of people who may no longer be given any (deactivated, or no
    longer a working member) in the project's tasks that are not closed (or in `task`)."""
    assignments = (
        Assignment.objects.filter(
            task__project=project,
            kind=AssignmentKind.WORK,
            removed=False,
            item_count__gt=0,
            task__closed_at__isnull=True,
        )
        .exclude(assignee__in=assignable_users(project))
        .select_related("task", "assignee")
        .order_by("task__due_at", "task_id", "assignee__email")
    )
    if task is not None:
        assignments = assignments.filter(task=task)
    shown = list(assignments[:STRANDED_SHOWN])
    progress = assignments_progress(shown)
    return [StrandedWork(a, progress[a.pk].remaining) for a in shown if progress[a.pk].remaining]


def tasks_of_project(project: Project, user: AnyUser) -> QuerySet[AnnotationTask]:
    """The project's tasks the user may see: all of them for managers, their own work's for the others."""
    return AnnotationTask.objects.visible_to(user).filter(project=project).select_related("dataset", "owner")


def task_list(
    *, project: Project, user: AnyUser, data: Mapping[str, Any] | None
) -> tuple[TaskFilter, QuerySet[AnnotationTask]]:
    """The project's tasks the user may see, narrowed by the task tables' filters (state, type,
    assignee, due date); an invalid filter narrows nothing and shows its error."""
    task_filter = TaskFilter(
        data or None, queryset=tasks_of_project(project, user), project=project, people=assignable_users(project)
    )
    tasks = task_filter.qs if task_filter.is_bound and task_filter.is_valid() else task_filter.queryset
    return task_filter, tasks


def items_in_other_open_tasks(items: QuerySet[Item], *, exclude_task: AnnotationTask | None = None) -> int:
    """How many of these items some open task already holds (a warning on the wizard's review)."""
    rows = TaskItem.objects.filter(item__in=items.values("pk"), task__state=TaskState.OPEN)
    if exclude_task is not None:
        rows = rows.exclude(task=exclude_task)
    return rows.values("item_id").distinct().count()


def seconds_per_item(users: Iterable[User], *, days: int = 30) -> dict[int, float]:
    """Each person's measured pace (active seconds per item) over their recent work; absent when unknown.

    Read through the assignments' `item_times` (the work view's records of active time per item)."""
    since = timezone.now() - datetime.timedelta(days=days)
    rows = (
        Assignment.objects.filter(
            assignee__in=[u.pk for u in users], item_times__ended_at__gte=since, item_times__active_seconds__gt=0
        )
        .values("assignee_id")
        .annotate(seconds=Sum("item_times__active_seconds"), items=Count("item_times"))
    )
    return {row["assignee_id"]: row["seconds"] / row["items"] for row in rows if row["items"]}


def open_tasks_of_dataset(dataset: Dataset) -> QuerySet[AnnotationTask]:
    """The dataset's tasks still open to changes: where the item browser's filter can take a bulk
    priority or status (its project's manager is the one browsing)."""
    return AnnotationTask.objects.filter(dataset=dataset, closed_at__isnull=True).order_by("name", "pk")
