"""Writes of the quality settings a manager keeps per project and per task."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from taskboard.accounts.models import User
from taskboard.annotation.models import AnnotationTask, TaskType
from taskboard.projects.access import can_manage
from taskboard.projects.models import Project
from taskboard.quality.models import ProjectQuality, TaskQuality


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


@transaction.atomic
def task_quality_update(
    *, task: AnnotationTask, by: User, honeypot_rate: int, pause_below: int | None, pause_after: int
) -> TaskQuality:
    """Set a task's honeypot rate and pause rule."""
    require_manager(task.project, by)
    errors: dict[str, str] = {}
    if not 0 <= honeypot_rate <= 50:
        errors["honeypot_rate"] = "The honeypot rate is from 0 to 50 percent."
    if honeypot_rate and task.type != TaskType.ANNOTATION:
        errors["honeypot_rate"] = "Honeypots go into annotation tasks."
    if pause_below is not None and not 0 <= pause_below <= 100:
        errors["pause_below"] = "The pause threshold is a percentage from 0 to 100."
    if pause_after < 1:
        errors["pause_after"] = "The minimum count is at least 1."
    if errors:
        raise ValidationError(errors)
    row, _ = TaskQuality.objects.update_or_create(
        task=task, defaults={"honeypot_rate": honeypot_rate, "pause_below": pause_below, "pause_after": pause_after}
    )
    return row
