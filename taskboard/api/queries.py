"""Permission-scoped reads for the API: a user sees only the projects they belong to,
and anything else answers 404. Annotators and reviewers see only their own assignments."""

from django.db.models import Q

from taskboard.annotation.models import AnnotationTask, Assignment, AssignmentKind
from taskboard.api.http import ApiError, not_found
from taskboard.api.ids import parse_id
from taskboard.datasets.models import Dataset, Item
from taskboard.projects.models import MANAGING_ROLES, Membership, Project


def projects_for(user):
    if user.is_superuser:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user)


def role_in(user, project) -> str | None:
    if user.is_superuser:
        return "owner"
    return Membership.objects.filter(project=project, user=user).values_list("role", flat=True).first()


def manages(user, project) -> bool:
    return role_in(user, project) in MANAGING_ROLES


def require_manager(user, project) -> None:
    if not manages(user, project):
        raise ApiError(403, "Only the project's owners and managers may do this.")


def project_get(user, api_id: str) -> Project:
    pk = parse_id(api_id, "project")
    project = projects_for(user).filter(pk=pk).first() if pk is not None else None
    if project is None:
        raise not_found("Project not found.")
    return project


def datasets_for(user):
    return Dataset.objects.filter(project__in=projects_for(user))


def dataset_get(user, api_id: str) -> Dataset:
    pk = parse_id(api_id, "dataset")
    dataset = datasets_for(user).select_related("project").filter(pk=pk).first() if pk is not None else None
    if dataset is None:
        raise not_found("Dataset not found.")
    return dataset


def item_get(user, api_id: str) -> Item:
    pk = parse_id(api_id, "item")
    item = (
        Item.objects.filter(dataset__in=datasets_for(user)).select_related("dataset").filter(pk=pk).first()
        if pk is not None
        else None
    )
    if item is None:
        raise not_found("Item not found.")
    return item


def tasks_for(user):
    if user.is_superuser:
        return AnnotationTask.objects.all()
    managed = Membership.objects.filter(user=user, role__in=MANAGING_ROLES).values("project_id")
    # Workers see the tasks they hold an assignment in.
    return AnnotationTask.objects.filter(
        Q(project_id__in=managed) | Q(pk__in=Assignment.objects.filter(assignee=user).values("task_id"))
    )


def task_get(user, api_id: str) -> AnnotationTask:
    pk = parse_id(api_id, "task")
    task = (
        tasks_for(user).select_related("project", "dataset", "recipe", "owner", "created_by").filter(pk=pk).first()
        if pk is not None
        else None
    )
    if task is None:
        raise not_found("Annotation task not found.")
    return task


def assignments_for(user):
    base = Assignment.objects.filter(kind=AssignmentKind.WORK)
    if user.is_superuser:
        return base
    managed = Membership.objects.filter(user=user, role__in=MANAGING_ROLES).values("project_id")
    return base.filter(Q(task__project_id__in=managed) | Q(assignee=user))


def assignment_get(user, api_id: str) -> Assignment:
    pk = parse_id(api_id, "assignment")
    assignment = (
        assignments_for(user)
        .select_related("task", "task__project", "task__dataset", "assignee")
        .filter(pk=pk)
        .first()
        if pk is not None
        else None
    )
    if assignment is None:
        raise not_found("Assignment not found.")
    return assignment
