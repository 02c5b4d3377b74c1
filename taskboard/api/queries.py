"""The API's getters: thin wrappers over the access policy (`taskboard.projects.access`) that answer
the API's own 404 (a JSON `{"message": …}`) for anything the user may not see, and 403 where the
user may see an object but not manage it."""

from typing import TypeVar

from django.db.models import Model, QuerySet

from taskboard.annotation.models import AnnotationTask, Assignment
from taskboard.api.http import ApiError, not_found
from taskboard.api.ids import parse_command_id, parse_id
from taskboard.api.models import ApiCommand
from taskboard.datasets.models import Dataset, Item
from taskboard.pipelines.models import Pipeline
from taskboard.projects.access import AnyUser, can_manage, role_of
from taskboard.projects.models import Project

_M = TypeVar("_M", bound=Model)


def _one(queryset: QuerySet[_M], api_id: object, kind: str, message: str) -> _M:
    pk = parse_id(api_id, kind)
    found = queryset.filter(pk=pk).first() if pk is not None else None
    if found is None:
        raise not_found(message)
    return found


def require_manager(user: AnyUser, project: Project | int) -> None:
    if not can_manage(user, project):
        raise ApiError(403, "Only the project's owners and managers may do this.")


def role_in(user: AnyUser, project: Project | int) -> str | None:
    return role_of(user, project)


def project_get(user: AnyUser, api_id: str) -> Project:
    return _one(Project.objects.visible_to(user), api_id, "project", "Project not found.")


def dataset_get(user: AnyUser, api_id: str) -> Dataset:
    return _one(Dataset.objects.visible_to(user).select_related("project"), api_id, "dataset", "Dataset not found.")


def item_get(user: AnyUser, api_id: str) -> Item:
    items = Item.objects.visible_to(user).select_related("dataset")
    return _one(items, api_id, "item", "Item not found.")


def task_get(user: AnyUser, api_id: str) -> AnnotationTask:
    tasks = AnnotationTask.objects.visible_to(user).select_related(
        "project", "dataset", "recipe", "owner", "created_by"
    )
    return _one(tasks, api_id, "task", "Annotation task not found.")


def task_get_managed(user: AnyUser, api_id: str) -> AnnotationTask:
    """A task the user may change: 404 when they cannot see it, 403 when they see it but do not manage it."""
    task = task_get(user, api_id)
    require_manager(user, task.project)
    return task


def assignment_get(user: AnyUser, api_id: str) -> Assignment:
    assignments = Assignment.objects.visible_to(user).select_related(
        "task", "task__project", "task__dataset", "assignee"
    )
    return _one(assignments, api_id, "assignment", "Assignment not found.")


def pipeline_get(user: AnyUser, api_id: str) -> Pipeline:
    return _one(Pipeline.objects.managed_by(user).select_related("project"), api_id, "pipeline", "Pipeline not found.")


def command_get(user: AnyUser, api_id: str) -> ApiCommand:
    try:
        pk = parse_command_id(api_id)
    except ValueError:
        raise not_found("Command not found.") from None
    command = ApiCommand.objects.visible_to(user).select_related("job").filter(pk=pk).first()
    if command is None:
        raise not_found("Command not found.")
    return command
