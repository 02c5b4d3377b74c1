"""Reads of projects and their people, scoped by the access policy (`taskboard.projects.access`)."""

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from taskboard.accounts.models import User
from taskboard.projects.access import AnyUser, get_or_404, working_member_filter
from taskboard.projects.models import Membership, Project


def project_for_member(user: AnyUser, pk: object) -> Project:
    return get_or_404(Project.objects.visible_to(user), pk, "project")


def project_for_manager(user: AnyUser, pk: object) -> Project:
    return get_or_404(Project.objects.managed_by(user), pk, "project")


def membership_of(user: AnyUser, project: Project) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, project=project).first()


def assignable_users(project: Project | int) -> QuerySet[User]:
    """Who may hold assignments in the project: active members with a working role."""
    return get_user_model().objects.filter(working_member_filter(project)).distinct().order_by("email")


def project_members(project: Project) -> QuerySet[User]:
    return get_user_model().objects.filter(memberships__project=project, is_active=True).distinct().order_by("email")
