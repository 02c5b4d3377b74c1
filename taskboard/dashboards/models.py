"""Rows the dashboards keep beside the core counters so their reads cost O(days), not O(items)."""

from django.db import models


class DailyThroughput(models.Model):
    """Net items that got a done status per assignment and day (+1 when done, -1 when cleared), and
    the active time spent on the assignment's items that day.

    `done` is kept by a receiver of `task_item_status_changed` inside the service's transaction, so
    it commits or rolls back with the change; net, so a day may be negative after rework.
    `active_seconds` is kept by a receiver of `work.signals.active_time_recorded`, in the work
    view's heartbeat transaction: the forecast's items per active hour come from these two.
    """

    task = models.ForeignKey("annotation.AnnotationTask", on_delete=models.CASCADE, related_name="+")
    assignment = models.ForeignKey("annotation.Assignment", on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    done = models.IntegerField(default=0)
    active_seconds = models.FloatField(default=0, db_default=0)

    class Meta:
        ordering = ["task", "day", "assignment"]
        constraints = [
            models.UniqueConstraint(fields=["task", "assignment", "day"], name="throughput_one_row_per_day"),
        ]
        indexes = [models.Index(fields=["task", "day"], name="throughput_task_day")]

    def __str__(self):
        return f"{self.task_id}/{self.assignment_id} {self.day}: {self.done:+d}, {self.active_seconds:.0f} s"


class ReviewTally(models.Model):
    """What QA made of one annotator's work in one annotation task: kept by the same receiver.

    `first_pass` counts approvals of items that had never been sent back for rework.
    `sent_back` counts every copy QA rejected back to this annotator (kept by the receiver of
    `work.signals.items_sent_back`, in the reject's transaction): one per REWORK change record.
    """

    task = models.ForeignKey("annotation.AnnotationTask", on_delete=models.CASCADE, related_name="+")
    annotator = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+")
    approved = models.IntegerField(default=0)
    first_pass = models.IntegerField(default=0)
    discarded = models.IntegerField(default=0)
    sent_back = models.IntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "annotator"], name="review_tally_one_per_annotator"),
        ]

    def __str__(self):
        return f"{self.task_id}/{self.annotator_id}: {self.approved} approved"


class ConsensusTally(models.Model):
    """A consensus task's scored items and the sum of their agreement, so the overall figure is one
    row, not an average over one result per item. Kept by the receiver of `work.signals.consensus_scored`
    in the transaction of the status change that scored (or unscored) an item.
    """

    task = models.OneToOneField("annotation.AnnotationTask", on_delete=models.CASCADE, related_name="+")
    items = models.IntegerField(default=0)
    agreement_sum = models.FloatField(default=0)
    low = models.IntegerField(default=0, help_text="Items under half agreement.")

    class Meta:
        verbose_name_plural = "consensus tallies"

    def __str__(self):
        return f"{self.task_id}: {self.items} scored"

    @property
    def agreement(self) -> float | None:
        return self.agreement_sum / self.items if self.items else None
