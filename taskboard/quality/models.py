"""Quality gates: honest active time, ground truth and honeypots, qualification, sampled review,
reject reasons, and what people cost. The rules themselves live in the modules named in each class."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

DEFAULT_IDLE_CUTOFF_SECONDS = 300


class ProjectQuality(models.Model):
    """A project's quality settings. A project without a row uses the defaults (`settings_for`)."""

    project = models.OneToOneField("projects.Project", on_delete=models.CASCADE, related_name="quality")
    idle_cutoff_seconds = models.PositiveIntegerField(
        default=DEFAULT_IDLE_CUTOFF_SECONDS,
        validators=[MinValueValidator(30), MaxValueValidator(3600)],
        help_text="A gap between two signs of activity longer than this is idle and does not count.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "project quality settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(idle_cutoff_seconds__gte=30, idle_cutoff_seconds__lte=3600), name="quality_cutoff_range"
            )
        ]

    def __str__(self) -> str:
        return f"Quality settings of {self.project_id}"


class ActivityMark(models.Model):
    """One sign of activity in the work view (a key, a click, a scroll), as the browser reported it.

    Active time is the sum of the gaps between one person's consecutive marks, over every task,
    that are no longer than the project's idle cut-off (`quality/activity.py`). Times are epoch
    milliseconds so both databases subtract them the same way.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    task = models.ForeignKey("annotation.AnnotationTask", on_delete=models.CASCADE, related_name="+")
    assignment = models.ForeignKey("annotation.Assignment", on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey("datasets.Item", on_delete=models.CASCADE, related_name="+", db_constraint=False)
    at_ms = models.BigIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["user", "at_ms"], name="activity_user_at"),
            models.Index(fields=["task", "at_ms"], name="activity_task_at"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} at {self.at_ms}"
