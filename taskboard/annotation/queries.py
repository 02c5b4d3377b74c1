"""Permission-scoped reads of tasks and assignments: one getter decides access.

Managers and owners see every task of their projects; annotators and reviewers only the tasks
where they hold an assignment. Anything else answers 404, so existence does not leak.
"""

from django.db.models import Exists, OuterRef, Q
from django.http import Http404

from taskboard.annotation.models import AnnotationTask, Assignment, AssignmentKind, TaskItem
from taskboard.projects.models import MANAGING_ROLES, Membership


def tasks_for_user(*, user):
    if not user.is_authenticated:
        return AnnotationTask.objects.none()
    if user.is_superuser:
        return AnnotationTask.objects.all()
    manages = Membership.objects.filter(project=OuterRef("project"), user=user, role__in=MANAGING_ROLES)
    holds = Assignment.objects.filter(task=OuterRef("pk"), assignee=user, removed=False)
    return AnnotationTask.objects.filter(Q(Exists(manages)) | Q(Exists(holds)))


def task_get_for_user(*, user, pk: int) -> AnnotationTask:
    task = tasks_for_user(user=user).select_related("project", "dataset", "recipe", "owner").filter(pk=pk).first()
    if task is None:
        raise Http404("No such task.")
    return task


def task_get_for_manager(*, user, pk: int) -> AnnotationTask:
    task = task_get_for_user(user=user, pk=pk)
    if not (
        user.is_superuser
        or Membership.objects.filter(project=task.project, user=user, role__in=MANAGING_ROLES).exists()
    ):
        raise Http404("No such task.")
    return task


def assignments_for_user(*, user):
    """The user's own work assignments, open tasks first."""
    return (
        Assignment.objects.filter(assignee=user, kind=AssignmentKind.WORK, removed=False)
        .select_related("task", "task__project")
        .order_by("task__state", "task__due_at", "pk")
    )


def task_assignments(*, task, include_hidden: bool = False):
    qs = Assignment.objects.filter(task=task).select_related("assignee").prefetch_related("status_counts")
    return qs if include_hidden else qs.filter(kind=AssignmentKind.WORK)


def assignment_items(*, assignment, after_rank: int | None = None, limit: int = 100):
    """An assignment's task items in rank order, keyset-paginated by rank."""
    qs = TaskItem.objects.filter(assignment=assignment).select_related("item").order_by("rank", "id")
    if after_rank is not None:
        qs = qs.filter(rank__gt=after_rank)
    return qs[:limit]
