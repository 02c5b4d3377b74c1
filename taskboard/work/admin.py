from django.contrib import admin

from taskboard.work.models import AssignmentTime, ConsensusResult, ItemTime, StuckItem, StuckPolicy


@admin.register(ItemTime)
class ItemTimeAdmin(admin.ModelAdmin):
    list_display = ["user", "task", "item", "active_seconds", "started_at", "ended_at"]
    list_select_related = ["user", "task", "item"]
    list_filter = ["task__project"]
    search_fields = ["user__email", "task__name", "item__filename"]
    raw_id_fields = ["user", "task", "assignment", "item"]
    date_hierarchy = "ended_at"


@admin.register(ConsensusResult)
class ConsensusResultAdmin(admin.ModelAdmin):
    list_display = ["task", "item", "agreement", "copies", "majority", "computed_at"]
    list_select_related = ["task", "item"]
    list_filter = ["task__project"]
    search_fields = ["task__name", "item__filename"]
    raw_id_fields = ["task", "item"]


@admin.register(AssignmentTime)
class AssignmentTimeAdmin(admin.ModelAdmin):
    list_display = ["user", "task", "assignment", "active_seconds", "items", "updated_at"]
    list_select_related = ["user", "task"]
    list_filter = ["task__project"]
    search_fields = ["user__email", "task__name"]
    raw_id_fields = ["user", "task", "assignment"]


@admin.register(StuckPolicy)
class StuckPolicyAdmin(admin.ModelAdmin):
    list_display = ["task", "after_hours", "action"]
    list_select_related = ["task"]
    search_fields = ["task__name"]
    raw_id_fields = ["task"]


@admin.register(StuckItem)
class StuckItemAdmin(admin.ModelAdmin):
    """Flags are made by the sweep and resolved when their item moves on; read here."""

    list_display = ["task", "item", "holder", "idle_since", "flagged_at", "action", "went_to", "resolved_at"]
    list_select_related = ["task", "item", "holder"]
    list_filter = ["action", ("resolved_at", admin.EmptyFieldListFilter)]
    search_fields = ["task__name", "item__filename", "holder__email"]
    raw_id_fields = ["task", "item", "holder"]

    def has_add_permission(self, request):
        return False
