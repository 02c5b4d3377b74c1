from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from taskboard.work import stuck
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


class StuckPolicyForm(forms.ModelForm):
    """The rule's rules are the service's (`stuck.stuck_policy_check`): a distributed task, hours, action."""

    class Meta:
        model = StuckPolicy
        fields = ["task", "after_hours", "action"]

    def clean(self):
        data = super().clean() or {}
        if data.get("task") is not None and not self.errors:
            try:
                stuck.stuck_policy_check(
                    task=data["task"], after_hours=data.get("after_hours"), action=data.get("action")
                )
            except ValidationError as exc:
                self.add_error(None, exc.messages)
        return data


@admin.register(StuckPolicy)
class StuckPolicyAdmin(admin.ModelAdmin):
    """A task's stuck-work rule, set and removed through the same service as the task page; the
    action looks for stuck work now, as the task page's button does."""

    form = StuckPolicyForm
    list_display = ["task", "after_hours", "action"]
    list_select_related = ["task"]
    search_fields = ["task__name"]
    raw_id_fields = ["task"]
    actions = ["sweep_now"]

    def get_readonly_fields(self, request, obj=None):
        return ["task"] if obj is not None else []

    def save_model(self, request, obj, form, change):
        made = stuck.stuck_policy_set(task=obj.task, after_hours=obj.after_hours, action=obj.action, by=request.user)
        assert made is not None
        obj.pk = made.pk

    def delete_model(self, request, obj):
        stuck.stuck_policy_set(task=obj.task, after_hours=None, action=obj.action, by=request.user)

    def delete_queryset(self, request, queryset):
        for policy in queryset.select_related("task"):
            self.delete_model(request, policy)

    @admin.action(description="Look for stuck work now (by each task's rule)")
    def sweep_now(self, request, queryset):
        stuck.stuck_resolve_touched()
        flagged = moved = 0
        for policy in queryset.select_related("task").order_by("task_id"):
            swept = stuck.stuck_sweep_task(task=policy.task)
            flagged, moved = flagged + swept.flagged, moved + swept.moved
        self.message_user(request, f"{flagged} stuck item(s) found, {moved} handed on.")


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
