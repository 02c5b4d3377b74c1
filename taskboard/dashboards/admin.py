"""The dashboards' counters on the admin site: to look at, never to edit. The services keep them in
the transaction of each change; `manage.py rebuild_counters` recounts and repairs them."""

from django.contrib import admin

from taskboard.dashboards.models import ConsensusTally, DailyThroughput, ReviewTally
from taskboard.datasets.admin import LargeTableAdmin


class CounterAdmin(admin.ModelAdmin):
    """Read-only: a hand edit would be drift, which rebuild_counters would report and undo."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(DailyThroughput)
class DailyThroughputAdmin(CounterAdmin, LargeTableAdmin):
    list_display = ("day", "task", "assignee", "done", "active_seconds")
    list_select_related = ("task", "assignment__assignee")
    list_filter = ("day", "task__project")
    search_fields = ("task__name", "assignment__assignee__email")
    raw_id_fields = ("task", "assignment")
    ordering = ("-day", "task", "assignment")

    @admin.display(description="assignee", ordering="assignment__assignee__email")
    def assignee(self, row):
        a = row.assignment
        return a.assignee.email if a.assignee_id else a.get_kind_display()


@admin.register(ReviewTally)
class ReviewTallyAdmin(CounterAdmin):
    list_display = ("task", "annotator", "approved", "first_pass", "discarded", "sent_back")
    list_select_related = ("task", "annotator")
    list_filter = ("task__project",)
    search_fields = ("task__name", "annotator__email")
    raw_id_fields = ("task", "annotator")


@admin.register(ConsensusTally)
class ConsensusTallyAdmin(CounterAdmin):
    list_display = ("task", "items", "agreement_percent", "low")
    list_select_related = ("task",)
    list_filter = ("task__project",)
    search_fields = ("task__name",)
    raw_id_fields = ("task",)

    @admin.display(description="agreement")
    def agreement_percent(self, tally):
        return "—" if tally.agreement is None else f"{tally.agreement:.0%}"
