"""API tokens (revocable from the admin) and the async commands the SDK polls."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from taskboard.projects.access import CommandQuerySet


class TokenKind(models.TextChoices):
    ID = "id", "ID token"
    REFRESH = "refresh", "Refresh token"


class ApiToken(models.Model):
    """One issued JWT, by its `jti`. The JWT is the credential; this row lets an admin revoke it."""

    jti = models.CharField(max_length=64, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    kind = models.CharField(max_length=10, choices=TokenKind.choices, default=TokenKind.ID)
    note = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(default=timezone.now)
    expires = models.DateTimeField()
    revoked = models.BooleanField(default=False)
    last_used = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created", "-id"]
        verbose_name = "API token"
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=TokenKind.values), name="api_token_kind_valid"),
        ]

    def __str__(self):
        return f"{self.user} · {self.get_kind_display()} · {self.jti[:8]}"

    @property
    def is_active(self) -> bool:
        return not self.revoked and self.expires > timezone.now()


class CommandStatus(models.TextChoices):
    # The subset of dtlpy's command statuses we produce.
    IN_PROGRESS = "in-progress", "In progress"
    SUCCESS = "success", "Success"
    FAILED = "failed", "Failed"


class ApiCommand(models.Model):
    """The answer to an async Dataloop operation. Work done in the request is stored as finished;
    work handed to a job follows the job's state."""

    type = models.CharField(max_length=50)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    job = models.ForeignKey("jobs.Job", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    status = models.CharField(max_length=20, choices=CommandStatus.choices, default=CommandStatus.SUCCESS)
    spec = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CommandQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=CommandStatus.values), name="api_command_status_valid"),
        ]

    def __str__(self):
        return f"{self.type} #{self.pk} ({self.status})"


class ApiTaskInfo(models.Model):
    """What the SDK sent when it made a task, echoed back exactly: the query string and the due date in ms."""

    task = models.OneToOneField("annotation.AnnotationTask", on_delete=models.CASCADE, related_name="api_info")
    query_text = models.TextField(blank=True)
    due_ms = models.FloatField(null=True, blank=True)
    available_actions = models.JSONField(default=list, blank=True)

    def __str__(self):
        return f"API info for task {self.task_id}"
