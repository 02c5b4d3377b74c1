"""Who may see and who may manage what: the one access policy, for pages, the API and jobs alike.

Every model a person reaches from outside gets its manager from a QuerySet here, with two methods:

- `visible_to(user)`: what the user may read;
- `managed_by(user)`: what the user may change as an owner or manager of its project.

The rules (docs/access.md says the same in prose):

- Membership of a project is the only way in. Superusers and staff get nothing extra here: they
  use the admin site. Inactive users and anonymous visitors see nothing.
- Owners and managers see and manage everything in their projects.
- Annotators and reviewers see the projects they belong to and their datasets' names, and only the
  tasks, assignments and items of work they hold. A removed assignment (its person was taken off
  the task) is no longer theirs: they stop seeing it, and the task too unless they hold other work in it.
  Managers still see a removed assignment while it holds items.
- Pipelines are for managers only.
- A job and an API command belong to the person who started them and to the managers of their project.

Pages answer 404 for anything outside `visible_to`/`managed_by` (never 403, so that existence does
not leak); the API answers its own 404. This module sits in the lowest layer, so it names the
models of higher apps only through the relations they declare (`_far_side`), never by import.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Self, TypeAlias, TypedDict, TypeGuard, TypeVar

from django.contrib.auth import get_user_model
from django.db import models
from django.db.models import Exists, OuterRef, Q
from django.http import Http404

from taskboard.inputs import parse_pk

# The module, not its names: projects.models builds its manager from this module.
from taskboard.projects import models as project_models

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser

    from taskboard.accounts.models import User

# Whoever a request is from (request.user), signed in or not.
AnyUser: TypeAlias = "User | AnonymousUser"

_M = TypeVar("_M", bound=models.Model)

WORK = "work"  # annotation.AssignmentKind.WORK: the assignments people hold


def _is_person(user: AnyUser | None) -> TypeGuard[User]:
    return bool(user is not None and user.is_authenticated and user.is_active)


is_person = _is_person


def anyone_with_id(user_id: int) -> User:
    """A signed-in, active person known only by their id. The rules below read nothing else of a
    person, so `visible_to(anyone_with_id(key))` is the policy's SQL for every person at once: what a
    query compiled once per process (`taskboard.sql.Compiled`) is built with. Its callers check
    `is_person` of the real user first."""
    user: User = get_user_model()(pk=user_id, is_active=True)
    return user


class _ProjectId(TypedDict):
    project_id: int


def _member_projects(user: User) -> models.QuerySet[project_models.Membership, _ProjectId]:
    return project_models.Membership.objects.filter(user_id=user.pk).values("project_id")


def _managed_projects(user: User) -> models.QuerySet[project_models.Membership, _ProjectId]:
    return project_models.Membership.objects.filter(user_id=user.pk, role__in=project_models.MANAGING_ROLES).values(
        "project_id"
    )


def _far_side(model: type[models.Model], relation: str) -> models.Manager[Any]:
    """The default manager of the model at the far end of `relation` on `model`."""
    far = model._meta.get_field(relation).related_model
    assert far is not None, f"{model.__name__}.{relation} is not a relation"
    return far._default_manager


def role_of(user: AnyUser | None, project: project_models.Project | int) -> str | None:
    """The user's role in the project, or None for a stranger."""
    if not _is_person(user):
        return None
    project_id = project if isinstance(project, int) else project.pk
    return (
        project_models.Membership.objects.filter(user_id=user.pk, project_id=project_id)
        .values_list("role", flat=True)
        .first()
    )


def manager_ids(project: project_models.Project | int) -> models.QuerySet[Any, int]:
    """The ids of the people who own or manage the project: whom project-wide events are told to."""
    project_id = project if isinstance(project, int) else project.pk
    managing = project_models.MANAGING_ROLES
    members = project_models.Membership.objects.filter(project_id=project_id, role__in=managing)
    return members.values_list("user_id", flat=True)


def can_manage(user: AnyUser | None, project: project_models.Project | int) -> bool:
    return is_managing_role(role_of(user, project))


def is_managing_role(role: str | None) -> bool:
    return role in project_models.MANAGING_ROLES


class ProjectQuerySet(models.QuerySet[_M]):
    def visible_to(self, user: AnyUser | None) -> Self:
        if not _is_person(user):
            return self.none()
        return self.filter(pk__in=_member_projects(user))

    def managed_by(self, user: AnyUser | None) -> Self:
        if not _is_person(user):
            return self.none()
        return self.filter(pk__in=_managed_projects(user))


class DatasetQuerySet(models.QuerySet[_M]):
    def visible_to(self, user: AnyUser | None) -> Self:
        if not _is_person(user):
            return self.none()
        return self.filter(project_id__in=_member_projects(user))

    def managed_by(self, user: AnyUser | None) -> Self:
        if not _is_person(user):
            return self.none()
        return self.filter(project_id__in=_managed_projects(user))


class ItemQuerySet(models.QuerySet[_M]):
    def visible_to(self, user: AnyUser | None) -> Self:
        """Managers: every item of their datasets. Others: the items their live work assignments hold."""
        if not _is_person(user):
            return self.none()
        held = _far_side(self.model, "task_items").filter(
            item_id=OuterRef("pk"),
            assignment__assignee_id=user.pk,
            assignment__kind=WORK,
            assignment__removed=False,
        )
        return self.filter(
            Q(dataset__project_id__in=_managed_projects(user))
            | (Q(dataset__project_id__in=_member_projects(user)) & Q(Exists(held)))
        )

    def managed_by(self, user: AnyUser | None) -> Self:
        if not _is_person(user):
            return self.none()
        return self.filter(dataset__project_id__in=_managed_projects(user))


class TaskQuerySet(models.QuerySet[_M]):
    def visible_to(self, user: AnyUser | None) -> Self:
        """Managers: every task of their projects. Others: the tasks where they hold a live work assignment."""
        if not _is_person(user):
            return self.none()
        holds = _far_side(self.model, "assignments").filter(
            task_id=OuterRef("pk"), assignee_id=user.pk, kind=WORK, removed=False
        )
        return self.filter(
            Q(project_id__in=_managed_projects(user)) | (Q(project_id__in=_member_projects(user)) & Q(Exists(holds)))
        )

    def managed_by(self, user: AnyUser | None) -> Self:
        if not _is_person(user):
            return self.none()
        return self.filter(project_id__in=_managed_projects(user))


class AssignmentQuerySet(models.QuerySet[_M]):
    def visible_to(self, user: AnyUser | None) -> Self:
        """Work assignments only (hidden pools are bookkeeping). Managers see every one of their
        projects that is live or still holds items; the others see their own live ones."""
        if not _is_person(user):
            return self.none()
        managed = Q(task__project_id__in=_managed_projects(user)) & (Q(removed=False) | Q(item_count__gt=0))
        own = Q(assignee_id=user.pk, removed=False, task__project_id__in=_member_projects(user))
        return self.filter(kind=WORK).filter(managed | own)

    def managed_by(self, user: AnyUser | None) -> Self:
        if not _is_person(user):
            return self.none()
        return self.filter(task__project_id__in=_managed_projects(user))


class PipelineQuerySet(models.QuerySet[_M]):
    def visible_to(self, user: AnyUser | None) -> Self:
        return self.managed_by(user)

    def managed_by(self, user: AnyUser | None) -> Self:
        if not _is_person(user):
            return self.none()
        return self.filter(project_id__in=_managed_projects(user))


class OwnedByStarterQuerySet(models.QuerySet[_M]):
    """Jobs and API commands: the person who started one, and the managers of its project.

    `starter_field` names the model's foreign key to the person who started it."""

    starter_field = "created_by"

    def visible_to(self, user: AnyUser | None) -> Self:
        if not _is_person(user):
            return self.none()
        own = Q(**{f"{self.starter_field}_id": user.pk})
        return self.filter(own | Q(project_id__in=_managed_projects(user)))

    def managed_by(self, user: AnyUser | None) -> Self:
        if not _is_person(user):
            return self.none()
        return self.filter(project_id__in=_managed_projects(user))


class JobQuerySet(OwnedByStarterQuerySet[_M]):
    starter_field = "created_by"


class CommandQuerySet(OwnedByStarterQuerySet[_M]):
    starter_field = "user"


def working_member_filter(project: project_models.Project | int) -> Q:
    """A Q over users: active members of the project whose role lets them hold assignments."""
    project_id = project if isinstance(project, int) else project.pk
    return Q(is_active=True, memberships__project_id=project_id, memberships__role__in=project_models.WORKING_ROLES)


def get_or_404(queryset: models.QuerySet[_M], pk: object, what: str = "object") -> _M:
    """The row of `queryset` with this primary key, or the pages' 404 for anything else (a foreign
    row, a missing one, or a value no primary key can have)."""
    key = parse_pk(pk)
    found = queryset.filter(pk=key).first() if key is not None else None
    if found is None:
        raise Http404(f"No such {what}.")
    return found
