"""What people are told: one row per person and event, their inbox."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class EventKind(models.TextChoices):
    WORK_ASSIGNED = "work_assigned", "Work assigned"
    REWORK = "rework", "Item back for rework"
    REVIEW_READY = "review_ready", "Items ready for review"
    MENTION = "mention", "Mentioned in a comment"
    DUE_SOON = "due_soon", "Due within 24 hours"
    OVERDUE = "overdue", "Overdue"
    PAUSED = "paused", "Paused"
    STUCK = "stuck", "Stuck work"
    JOB_FINISHED = "job_finished", "Job finished"
    JOB_FAILED = "job_failed", "Job failed"


class Notification(models.Model):
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, null=True, blank=True, related_name="notifications"
    )
    kind = models.CharField(max_length=30, choices=EventKind.choices)
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True)
    # A deep link on this site: the exact item or task.
    url = models.CharField(max_length=500, blank=True)
    # One notification per person and event, however many times the event is reported.
    event_key = models.CharField(max_length=200)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["recipient", "event_key"], name="notification_once_per_event"),
            models.CheckConstraint(condition=Q(kind__in=EventKind.values), name="notification_kind_valid"),
        ]
        indexes = [
            models.Index(
                fields=["recipient", "-created_at"], condition=Q(read_at__isnull=True), name="notification_unread"
            ),
            models.Index(fields=["recipient", "-created_at"], name="notification_recipient_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.recipient_id}: {self.title}"

    @property
    def is_read(self) -> bool:
        return self.read_at is not None


class EmailMode(models.TextChoices):
    IMMEDIATE = "immediate", "Immediately"
    DIGEST = "digest", "In a daily digest"
    NEVER = "never", "Never"


class EmailPreference(models.Model):
    """How one person wants one kind of event by email. No row: the site's default
    (settings.NOTIFY_EMAIL_DEFAULT)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="email_preferences")
    kind = models.CharField(max_length=30, choices=EventKind.choices)
    mode = models.CharField(max_length=20, choices=EmailMode.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "kind"], name="email_preference_once_per_kind"),
            models.CheckConstraint(condition=Q(mode__in=EmailMode.values), name="email_preference_mode_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} {self.kind}: {self.mode}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Waiting"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class EmailDelivery(models.Model):
    """One email to send: a notice on its own, or a person's digest of a day. The unique key is what
    keeps an email from going out twice, whatever retries or replays happen: a send first claims its
    row (pending → sending), and a row that is sending or sent is never claimed again."""

    key = models.CharField(max_length=200, unique=True)
    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    # A digest: the day whose notices it gathers.
    digest_day = models.DateField(null=True, blank=True)
    state = models.CharField(max_length=20, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(notification__isnull=False) | Q(digest_day__isnull=False),
                name="email_delivery_has_content",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"


class Webhook(models.Model):
    """A project's receiver of events: each event it subscribes to is POSTed to `url` as JSON, signed
    with `secret` (HMAC-SHA256)."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    events = models.JSONField(default=list, help_text="The event kinds sent here.")
    secret = models.CharField(max_length=128)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["project", "id"]

    def __str__(self) -> str:
        return f"{self.url} ({self.project_id})"


class WebhookDelivery(models.Model):
    """One event for one webhook, and how its sending went. Unique per webhook and event: an event
    reported again is not delivered again."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event_key = models.CharField(max_length=200)
    kind = models.CharField(max_length=30, choices=EventKind.choices)
    payload = models.JSONField()
    state = models.CharField(max_length=20, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.TextField(blank=True, help_text="The start of the receiver's last answer.")
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_tried_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["webhook", "event_key"], name="webhook_delivery_once_per_event"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} → {self.webhook_id} ({self.state})"
