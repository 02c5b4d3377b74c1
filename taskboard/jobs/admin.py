from django.contrib import admin

from taskboard.jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "kind",
        "state",
        "progress",
        "attempts",
        "project",
        "created_by",
        "created_at",
        "finished_at",
    )
    list_select_related = ("project", "created_by")
    list_filter = ("state", "kind", "project")
    search_fields = ("kind", "error", "created_by__email")
    date_hierarchy = "created_at"
    raw_id_fields = ("project", "created_by")
    readonly_fields = ("progress", "created_at", "started_at", "heartbeat_at", "finished_at")

    @admin.display(description="progress")
    def progress(self, job):
        return f"{job.done}/{job.total} ({job.percent}%)"
