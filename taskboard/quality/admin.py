from django.contrib import admin

from taskboard.quality.models import (
    ActivityMark,
    GroundTruth,
    GroundTruthAnswer,
    Honeypot,
    Overturn,
    PayRate,
    ProjectQuality,
    QualificationAttempt,
    Rejection,
    RejectReason,
    ReviewHoneypot,
    SamplingState,
    TaskQuality,
)


@admin.register(ProjectQuality)
class ProjectQualityAdmin(admin.ModelAdmin):
    list_display = ["project", "idle_cutoff_seconds", "default_hourly_rate", "currency", "updated_at"]
    list_select_related = ["project"]
    search_fields = ["project__name"]


@admin.register(ActivityMark)
class ActivityMarkAdmin(admin.ModelAdmin):
    list_display = ["user", "task", "item_id", "at_ms"]
    list_select_related = ["user", "task"]
    list_filter = ["task__project"]
    search_fields = ["user__email", "task__name"]
    raw_id_fields = ["user", "task", "assignment", "item"]


@admin.register(GroundTruth)
class GroundTruthAdmin(admin.ModelAdmin):
    list_display = ["item", "project", "status", "labels", "by", "created_at"]
    list_select_related = ["item", "project", "by"]
    list_filter = ["project"]
    search_fields = ["item__filename", "status"]
    raw_id_fields = ["item", "by"]


@admin.register(TaskQuality)
class TaskQualityAdmin(admin.ModelAdmin):
    list_display = ["task", "honeypot_rate", "pause_below", "pause_after", "updated_at"]
    list_select_related = ["task"]
    list_filter = ["task__project"]
    search_fields = ["task__name"]
    raw_id_fields = ["task"]


@admin.register(Honeypot)
class HoneypotAdmin(admin.ModelAdmin):
    list_display = ["task", "item", "created_at"]
    list_select_related = ["task", "item"]
    list_filter = ["task__project"]
    raw_id_fields = ["task", "item"]


@admin.register(GroundTruthAnswer)
class GroundTruthAnswerAdmin(admin.ModelAdmin):
    list_display = ["user", "task", "item", "status", "labels", "correct", "answered_at"]
    list_select_related = ["user", "task", "item"]
    list_filter = ["correct", "task__project"]
    search_fields = ["user__email", "task__name", "item__filename"]
    raw_id_fields = ["task", "project", "user", "item"]


@admin.register(RejectReason)
class RejectReasonAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "needs_comment", "active", "position"]
    list_select_related = ["project"]
    list_filter = ["project", "active"]
    search_fields = ["name"]


@admin.register(Rejection)
class RejectionAdmin(admin.ModelAdmin):
    list_display = ["item", "task", "annotator", "reviewer", "reason", "at"]
    list_select_related = ["item", "task", "annotator", "reviewer", "reason"]
    list_filter = ["task__project", "reason"]
    search_fields = ["item__filename", "annotator__email", "reviewer__email", "comment"]
    raw_id_fields = ["qa_task", "task", "item", "qa_task_item", "reviewer", "annotator"]
    date_hierarchy = "at"


@admin.register(QualificationAttempt)
class QualificationAttemptAdmin(admin.ModelAdmin):
    list_display = ["user", "task", "right", "passed", "started_at", "finished_at"]
    list_select_related = ["user", "task"]
    list_filter = ["passed", "task__project"]
    search_fields = ["user__email", "task__name"]
    raw_id_fields = ["task", "user"]


@admin.register(SamplingState)
class SamplingStateAdmin(admin.ModelAdmin):
    list_display = ["annotator", "qa_task", "rate", "streak", "reviewed", "passed", "finished", "sampled"]
    list_select_related = ["annotator", "qa_task"]
    list_filter = ["qa_task__project"]
    search_fields = ["annotator__email", "qa_task__name"]
    raw_id_fields = ["qa_task", "annotator"]


@admin.register(Overturn)
class OverturnAdmin(admin.ModelAdmin):
    list_display = ["reviewer", "qa_task", "item", "status", "at"]
    list_select_related = ["reviewer", "qa_task", "item"]
    list_filter = ["qa_task__project"]
    search_fields = ["reviewer__email", "item__filename"]
    raw_id_fields = ["rejection", "reviewer", "qa_task", "item"]


@admin.register(PayRate)
class PayRateAdmin(admin.ModelAdmin):
    list_display = ["user", "project", "hourly_rate", "updated_at"]
    list_select_related = ["user", "project"]
    list_filter = ["project"]
    search_fields = ["user__email"]
    raw_id_fields = ["user"]


@admin.register(ReviewHoneypot)
class ReviewHoneypotAdmin(admin.ModelAdmin):
    list_display = ["qa_task", "item", "shown_status", "shown_labels", "outcome", "reviewer", "decided_at"]
    list_select_related = ["qa_task", "item", "reviewer"]
    list_filter = ["outcome", "qa_task__project"]
    search_fields = ["item__filename", "reviewer__email"]
    raw_id_fields = ["qa_task", "item", "shown_as", "reviewer"]
