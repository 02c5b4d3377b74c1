"""Writes of the quality settings a manager keeps per project."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from taskboard.accounts.models import User
from taskboard.projects.access import can_manage
from taskboard.projects.models import Project
from taskboard.quality.models import ProjectQuality


def require_manager(project: Project, by: User) -> None:
    if not can_manage(by, project):
        raise ValidationError("Only the project's managers can change its quality settings.")


@transaction.atomic
def project_quality_update(*, project: Project, by: User, idle_cutoff_seconds: int) -> ProjectQuality:
    require_manager(project, by)
    if not 30 <= idle_cutoff_seconds <= 3600:
        raise ValidationError({"idle_cutoff_seconds": "The idle cut-off is from 30 seconds to 1 hour."})
    row, _ = ProjectQuality.objects.update_or_create(
        project=project, defaults={"idle_cutoff_seconds": idle_cutoff_seconds}
    )
    return row
