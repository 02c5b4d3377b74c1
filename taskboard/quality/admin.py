from django.contrib import admin

from taskboard.quality.models import ActivityMark, ProjectQuality


@admin.register(ProjectQuality)
class ProjectQualityAdmin(admin.ModelAdmin):
    list_display = ["project", "idle_cutoff_seconds", "updated_at"]
    list_select_related = ["project"]
    search_fields = ["project__name"]


@admin.register(ActivityMark)
class ActivityMarkAdmin(admin.ModelAdmin):
    list_display = ["user", "task", "item_id", "at_ms"]
    list_select_related = ["user", "task"]
    list_filter = ["task__project"]
    search_fields = ["user__email", "task__name"]
    raw_id_fields = ["user", "task", "assignment", "item"]
