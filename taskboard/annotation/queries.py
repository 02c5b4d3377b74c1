"""Reads of tasks and assignments, scoped by the access policy (`taskboard.projects.access`)."""

from taskboard.annotation.models import AnnotationTask, Assignment
from taskboard.projects.access import get_or_404


def task_for_manager(user, pk) -> AnnotationTask:
    """A task of a project the user owns or manages; anyone else gets 404."""
    tasks = AnnotationTask.objects.managed_by(user).select_related(
        "project", "dataset", "recipe", "owner", "parent", "created_by"
    )
    return get_or_404(tasks, pk, "task")


def assignment_for_viewer(user, pk) -> Assignment:
    """A work assignment its holder or the project's managers may open; anyone else gets 404."""
    assignments = Assignment.objects.visible_to(user).select_related(
        "task", "task__project", "task__recipe", "assignee"
    )
    return get_or_404(assignments, pk, "assignment")
