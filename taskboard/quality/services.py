"""Writes of the quality settings a manager keeps per project and per task."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from taskboard.accounts.models import User
from taskboard.annotation.models import AnnotationTask
from taskboard.projects.access import can_manage, role_of
from taskboard.projects.models import Project
from taskboard.quality.models import PayRate, ProjectQuality, TaskQuality


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
    """Set a task's honeypot rate and pause rule. An annotation task's rate is the share of its items
    that are ground truth mixed in (`honeypots.py`); a QA task's, the share of each reviewer's queue
    that is known-wrong answers (`review_honeypots.py`)."""
    require_manager(task.project, by)
    errors: dict[str, str] = {}
    if not 0 <= honeypot_rate <= 50:
        errors["honeypot_rate"] = "The honeypot rate is from 0 to 50 percent."
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


@transaction.atomic
def pay_rate_set(*, project: Project, user: User, by: User, hourly_rate: Decimal | None) -> PayRate | None:
    """Set a person's pay per active hour in the project; None goes back to the project's default."""
    require_manager(project, by)
    if role_of(user, project) is None:
        raise ValidationError({"user": f"{user.email} is not a member of this project."})
    if hourly_rate is None:
        PayRate.objects.filter(project=project, user=user).delete()
        return None
    if hourly_rate < 0 or hourly_rate >= Decimal("1000000"):
        raise ValidationError({"hourly_rate": "A rate is from 0 to 999,999.99 per hour."})
    row, _ = PayRate.objects.update_or_create(project=project, user=user, defaults={"hourly_rate": hourly_rate})
    return row


@transaction.atomic
def project_pay_update(*, project: Project, by: User, default_hourly_rate: Decimal, currency: str) -> ProjectQuality:
    require_manager(project, by)
    currency = (currency or "").strip().upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ValidationError({"currency": "A currency is a three-letter code, such as USD or EUR."})
    if default_hourly_rate < 0 or default_hourly_rate >= Decimal("1000000"):
        raise ValidationError({"default_hourly_rate": "A rate is from 0 to 999,999.99 per hour."})
    row, _ = ProjectQuality.objects.update_or_create(
        project=project, defaults={"default_hourly_rate": default_hourly_rate, "currency": currency}
    )
    return row
