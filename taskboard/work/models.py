"""What the work view records beside the task rows: time on items and consensus agreement."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class ItemTime(models.Model):
    """Active time one person spent on one item of one assignment.

    Heartbeats from the work view add to `active_seconds`; the browser only sends them while
    the person is active, and the server caps each one, so idle time is never counted.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    task = models.ForeignKey("annotation.AnnotationTask", on_delete=models.CASCADE, related_name="item_times")
    assignment = models.ForeignKey("annotation.Assignment", on_delete=models.CASCADE, related_name="item_times")
    item = models.ForeignKey("datasets.Item", on_delete=models.CASCADE, related_name="+")
    active_seconds = models.FloatField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assignment", "item", "user"], name="item_time_one_per_person"),
            models.CheckConstraint(condition=Q(active_seconds__gte=0), name="item_time_not_negative"),
        ]
        indexes = [
            models.Index(fields=["task", "user"], name="item_time_task_user"),
            models.Index(fields=["user", "ended_at"], name="item_time_user_ended"),
        ]

    def __str__(self):
        return f"{self.user} on {self.item_id}: {self.active_seconds:.0f}s"


class AssignmentTime(models.Model):
    """Running total of a person's active time in one assignment, kept by the same heartbeat as
    ItemTime, so a dashboard sums one row per assignment instead of one per item."""

    assignment = models.OneToOneField("annotation.Assignment", on_delete=models.CASCADE, related_name="active_time")
    task = models.ForeignKey("annotation.AnnotationTask", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    active_seconds = models.FloatField(default=0)
    items = models.PositiveIntegerField(default=0, help_text="Items with some active time.")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["task", "user"], name="assignment_time_task_user")]

    def __str__(self):
        return f"{self.user} in {self.assignment_id}: {self.active_seconds:.0f}s"


class ConsensusResult(models.Model):
    """Agreement on one consensus item once every copy has a status."""

    task = models.ForeignKey("annotation.AnnotationTask", on_delete=models.CASCADE, related_name="consensus_results")
    item = models.ForeignKey("datasets.Item", on_delete=models.CASCADE, related_name="+")
    # Share of the copies whose label set is the most common one, 0..1.
    agreement = models.FloatField()
    copies = models.PositiveSmallIntegerField()
    majority = models.JSONField(default=list, blank=True)
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["task", "item"]
        constraints = [
            models.UniqueConstraint(fields=["task", "item"], name="consensus_result_one_per_item"),
            models.CheckConstraint(condition=Q(agreement__gte=0, agreement__lte=1), name="consensus_agreement_0_1"),
        ]
        # The least agreed first, page by page (keyset on agreement, item), without sorting the task's results.
        indexes = [models.Index(fields=["task", "agreement", "item"], name="consensus_task_agreement")]

    def __str__(self):
        return f"{self.item_id}: {self.agreement:.0%} of {self.copies}"


class StuckAction(models.TextChoices):
    FLAG = "flag", "Flag only"
    REQUEUE = "requeue", "Give to someone else"
    MANAGER = "manager", "Hand to the task's owner"


class StuckPolicy(models.Model):
    """A distributed task's rule for stuck work: items untouched this many hours are flagged and,
    by the rule, given to someone else or handed to the task's owner."""

    task = models.OneToOneField("annotation.AnnotationTask", on_delete=models.CASCADE, related_name="stuck_policy")
    after_hours = models.PositiveSmallIntegerField()
    action = models.CharField(max_length=20, choices=StuckAction.choices, default=StuckAction.FLAG)

    class Meta:
        verbose_name_plural = "stuck policies"
        constraints = [
            models.CheckConstraint(
                condition=Q(after_hours__gte=1, after_hours__lte=24 * 30), name="stuck_hours_range"
            ),
        ]

    def __str__(self):
        return f"task {self.task_id}: stuck after {self.after_hours} h → {self.action}"


class StuckItem(models.Model):
    """An item found untouched past its task's limit: who held it, since when, and what was done."""

    task = models.ForeignKey("annotation.AnnotationTask", on_delete=models.CASCADE, related_name="stuck_items")
    item = models.ForeignKey("datasets.Item", on_delete=models.CASCADE, related_name="+")
    holder = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    idle_since = models.DateTimeField()
    flagged_at = models.DateTimeField(default=timezone.now)
    action = models.CharField(max_length=20, choices=StuckAction.choices)
    went_to = models.CharField(max_length=200, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-flagged_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "item", "holder"], condition=Q(resolved_at__isnull=True), name="stuck_open_once"
            ),
        ]
        indexes = [models.Index(fields=["task", "resolved_at"], name="stuck_task_open")]

    def __str__(self):
        return f"{self.item_id} stuck in {self.task_id}"
