"""Quality gates: honest active time, ground truth and honeypots, qualification, sampled review,
reject reasons, and what people cost. The rules themselves live in the modules named in each class."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

DEFAULT_IDLE_CUTOFF_SECONDS = 300


class ProjectQuality(models.Model):
    """A project's quality settings. A project without a row uses the defaults (`settings_for`)."""

    project = models.OneToOneField("projects.Project", on_delete=models.CASCADE, related_name="quality")
    idle_cutoff_seconds = models.PositiveIntegerField(
        default=DEFAULT_IDLE_CUTOFF_SECONDS,
        validators=[MinValueValidator(30), MaxValueValidator(3600)],
        help_text="A gap between two signs of activity longer than this is idle and does not count.",
    )
    default_hourly_rate = models.DecimalField(
        max_digits=8, decimal_places=2, default=0, help_text="Pay per active hour for people without their own rate."
    )
    currency = models.CharField(max_length=3, default="USD")
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
    milliseconds so both databases subtract them the same way. A mark that `ends_span` is the last
    input before the work view lost the person's attention (hidden, or another window took the
    focus): the gap after it never counts, however short.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    task = models.ForeignKey("annotation.AnnotationTask", on_delete=models.CASCADE, related_name="+")
    assignment = models.ForeignKey("annotation.Assignment", on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey("datasets.Item", on_delete=models.CASCADE, related_name="+", db_constraint=False)
    at_ms = models.BigIntegerField()
    ends_span = models.BooleanField(default=False)

    class Meta:
        indexes = [
            models.Index(fields=["user", "at_ms"], name="activity_user_at"),
            models.Index(fields=["task", "at_ms"], name="activity_task_at"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} at {self.at_ms}"


class GroundTruth(models.Model):
    """An item's accepted answer in a project: its status and, where the recipe has labels, its labels."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="ground_truth")
    item = models.ForeignKey("datasets.Item", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=50)
    labels = models.JSONField(default=list, blank=True, help_text="Label names, sorted; empty when none.")
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "ground truth"
        constraints = [
            models.UniqueConstraint(fields=["project", "item"], name="ground_truth_once_per_item"),
            models.CheckConstraint(condition=~Q(status=""), name="ground_truth_has_status"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id}: {self.status} {self.labels}"


class TaskQuality(models.Model):
    """A task's quality gates. A task without a row has none."""

    task = models.OneToOneField("annotation.AnnotationTask", on_delete=models.CASCADE, related_name="quality")
    honeypot_rate = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(50)],
        help_text="Percent of the task's items that are ground-truth items mixed in (0 to 50).",
    )
    pause_below = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        validators=[MaxValueValidator(100)],
        help_text="Pause a person whose honeypot score (percent) falls below this. Empty: never.",
    )
    pause_after = models.PositiveSmallIntegerField(
        default=10,
        validators=[MinValueValidator(1)],
        help_text="…once they have answered at least this many honeypots.",
    )
    qualification_items = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(100)],
        help_text="Ground-truth items a person must answer before working here (0: no qualification).",
    )
    qualification_pass = models.PositiveSmallIntegerField(
        default=80, validators=[MaxValueValidator(100)], help_text="Percent right needed to pass."
    )
    qualification_attempts = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1), MaxValueValidator(20)], help_text="Attempts allowed."
    )
    # QA tasks: review a share of each annotator's items (`quality/sampling.py`).
    sampling = models.BooleanField(default=False, help_text="Review a share of each annotator's items, not all.")
    sample_floor = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(100)], help_text="Lowest share reviewed (%)."
    )
    sample_new = models.PositiveSmallIntegerField(
        default=20, help_text="Passed reviews in a row before a person's share starts to fall."
    )
    sample_step = models.PositiveSmallIntegerField(
        default=10, validators=[MinValueValidator(1)], help_text="Each further run of this many passes halves it."
    )
    sample_min_score = models.PositiveSmallIntegerField(
        default=90,
        validators=[MaxValueValidator(100)],
        help_text="Below this share of passed reviews (%), everything is reviewed.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "task quality settings"
        constraints = [
            models.CheckConstraint(condition=Q(honeypot_rate__lte=50), name="task_quality_rate_0_50"),
            models.CheckConstraint(
                condition=Q(pause_below__isnull=True) | Q(pause_below__lte=100), name="task_quality_pause_0_100"
            ),
            models.CheckConstraint(condition=Q(pause_after__gte=1), name="task_quality_pause_after_1"),
            models.CheckConstraint(
                condition=Q(qualification_items__lte=100, qualification_pass__lte=100, qualification_attempts__gte=1),
                name="task_quality_qualification_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Quality gates of {self.task_id}"


class Honeypot(models.Model):
    """A ground-truth item mixed into a task to measure its annotators."""

    task = models.ForeignKey("annotation.AnnotationTask", on_delete=models.CASCADE, related_name="honeypots")
    item = models.ForeignKey("datasets.Item", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "item"], name="honeypot_once_per_task")]

    def __str__(self) -> str:
        return f"honeypot {self.item_id} in {self.task_id}"


class GroundTruthAnswer(models.Model):
    """A person's answer on a ground-truth item in a task, checked against the truth when given.
    Scores per task and project are counted from these rows."""

    task = models.ForeignKey("annotation.AnnotationTask", on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey("datasets.Item", on_delete=models.CASCADE, related_name="+")
    copy = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=50)
    labels = models.JSONField(default=list, blank=True)
    correct = models.BooleanField()
    answered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "item", "copy", "user"], name="gt_answer_once"),
        ]
        indexes = [
            models.Index(fields=["task", "user"], name="gt_answer_task_user"),
            models.Index(fields=["project", "user"], name="gt_answer_project_user"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} on {self.item_id}: {'right' if self.correct else 'wrong'}"


class RejectReason(models.Model):
    """One of a project's reasons for sending work back. Once a project has any, a reject needs one."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="reject_reasons")
    name = models.CharField(max_length=100)
    needs_comment = models.BooleanField(default=False, help_text="A reject for this reason needs a comment too.")
    active = models.BooleanField(default=True, help_text="Offered to reviewers. Retired reasons keep their counts.")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["project", "position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="reject_reason_unique_name"),
            models.CheckConstraint(condition=~Q(name=""), name="reject_reason_named"),
        ]

    def __str__(self) -> str:
        return self.name


class Rejection(models.Model):
    """One reject: which item a reviewer sent back to which annotator, for what reason."""

    qa_task = models.ForeignKey("annotation.AnnotationTask", on_delete=models.CASCADE, related_name="+")
    task = models.ForeignKey("annotation.AnnotationTask", on_delete=models.CASCADE, related_name="rejections")
    item = models.ForeignKey("datasets.Item", on_delete=models.CASCADE, related_name="+")
    qa_task_item = models.ForeignKey(
        "annotation.TaskItem", on_delete=models.SET_NULL, null=True, related_name="+", db_constraint=False
    )
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reason = models.ForeignKey(RejectReason, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    comment = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["task", "reason"], name="rejection_task_reason"),
            models.Index(fields=["annotator", "at"], name="rejection_annotator_at"),
            models.Index(fields=["reviewer", "at"], name="rejection_reviewer_at"),
        ]

    def __str__(self) -> str:
        return f"{self.item_id} back to {self.annotator_id}: {self.reason_id}"


class QualificationAttempt(models.Model):
    """One try at a task's qualification: the ground-truth items drawn for it and, once submitted,
    the answers and the result (`quality/qualification.py`)."""

    task = models.ForeignKey("annotation.AnnotationTask", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    item_ids = models.JSONField(default=list)
    answers = models.JSONField(default=dict, blank=True)
    right = models.PositiveSmallIntegerField(default=0)
    passed = models.BooleanField(null=True, blank=True, help_text="Empty while the attempt is open.")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # At most one open attempt per person and task.
            models.UniqueConstraint(
                fields=["task", "user"], condition=Q(passed__isnull=True), name="qualification_one_open_attempt"
            ),
        ]
        indexes = [models.Index(fields=["task", "user"], name="qualification_task_user")]

    def __str__(self) -> str:
        state = "open" if self.passed is None else ("passed" if self.passed else "failed")
        return f"{self.user_id} in {self.task_id}: {state}"


class SamplingState(models.Model):
    """Where one annotator stands in one QA task's sampling: their record and today's share."""

    qa_task = models.ForeignKey("annotation.AnnotationTask", on_delete=models.CASCADE, related_name="+")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    finished = models.PositiveIntegerField(default=0, help_text="Items they finished that QA could take in.")
    sampled = models.PositiveIntegerField(default=0, help_text="…of which QA took in for review.")
    reviewed = models.PositiveIntegerField(default=0)
    passed = models.PositiveIntegerField(default=0)
    streak = models.PositiveIntegerField(default=0, help_text="Passed reviews in a row since the last fail.")
    rate = models.PositiveSmallIntegerField(default=100, help_text="Share of their items reviewed now (%).")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["qa_task", "annotator"], name="sampling_one_per_annotator"),
            models.CheckConstraint(condition=Q(rate__gte=1, rate__lte=100), name="sampling_rate_1_100"),
        ]

    def __str__(self) -> str:
        return f"{self.annotator_id} in {self.qa_task_id}: {self.rate}%"


class Overturn(models.Model):
    """A reviewer's verdict on an item undone by a later reject of the same item (in the same QA task
    or another one over the same annotation task): the measure of how often acceptances hold."""

    rejection = models.ForeignKey(Rejection, on_delete=models.CASCADE, related_name="overturns")
    reviewer = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    qa_task = models.ForeignKey("annotation.AnnotationTask", on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey("datasets.Item", on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=50)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["reviewer", "at"], name="overturn_reviewer_at")]

    def __str__(self) -> str:
        return f"{self.reviewer_id}'s {self.status} on {self.item_id} overturned"


class PayRate(models.Model):
    """What one person is paid per active hour in one project."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="pay_rates")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    hourly_rate = models.DecimalField(max_digits=8, decimal_places=2)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="pay_rate_once_per_person"),
            models.CheckConstraint(condition=Q(hourly_rate__gte=0), name="pay_rate_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.project_id}: {self.hourly_rate}/h"


class ReviewHoneypot(models.Model):
    """A known-wrong answer seeded into a QA task's queue to measure its reviewers: a ground-truth item
    shown with a wrong status or wrong labels, as if an annotator of the reviewed task gave them.
    Rejecting it is a catch; accepting it is a miss (`quality/review_honeypots.py`)."""

    class Outcome(models.TextChoices):
        CAUGHT = "caught", "Caught"
        MISSED = "missed", "Missed"

    qa_task = models.ForeignKey("annotation.AnnotationTask", on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey("datasets.Item", on_delete=models.CASCADE, related_name="+")
    shown_status = models.CharField(max_length=50)
    shown_labels = models.JSONField(default=list, blank=True)
    shown_as = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    outcome = models.CharField(max_length=10, choices=Outcome.choices, blank=True)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["qa_task", "item"], name="review_honeypot_once")]
        indexes = [models.Index(fields=["reviewer", "outcome"], name="review_honeypot_reviewer")]

    def __str__(self) -> str:
        return f"decoy {self.item_id} in {self.qa_task_id}: {self.outcome or 'waiting'}"
