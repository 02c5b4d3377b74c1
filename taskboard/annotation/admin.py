from django import forms as django_forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import IntegerField, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html

from taskboard.annotation import caps, forms
from taskboard.annotation.bulk_jobs import (
    BulkStart,
    assignment_reassign_start,
    assignment_redistribute_start,
    items_priority_start,
    items_status_start,
    person_hand_off_start,
)
from taskboard.annotation.leases import lease_release_items, leases_release
from taskboard.annotation.models import (
    AnnotationTask,
    Assignment,
    BulkOperation,
    Cap,
    HoldingChange,
    Lease,
    OperationRow,
    Pause,
    Pick,
    PickedItem,
    Skip,
    StatusCount,
    StatusLog,
    TaskItem,
    TaskStatus,
    WorkloadEntry,
)
from taskboard.annotation.operations import operation_undo
from taskboard.annotation.people import pause_person, resume_person
from taskboard.annotation.picks import items_pick
from taskboard.annotation.selection import Selection
from taskboard.datasets.admin import LargeTableAdmin


def _job_message(what: str, job_id: int) -> str:
    """Large work runs as a job (`bulk_jobs`); the admin says where its progress shows."""
    url = reverse("jobs:job-detail", args=[job_id])
    return format_html('{}: many items, so it runs as a job: <a href="{}">follow its progress</a>.', what, url)


def started_outcome(started: BulkStart, done: str) -> str:
    """What a started bulk change did: `done` with its count, or where the job it became shows progress."""
    if started.job is not None:
        url = reverse("jobs:job-detail", args=[started.job.pk])
        return format_html(
            '{} item(s), so it runs as a job: <a href="{}">follow its progress</a>.', started.count, url
        )
    return done.format(count=started.count)


def with_done_count(assignments):
    """Annotate `done`: the kept StatusCounts of the task's done statuses, never a count of task items."""
    done_keys = TaskStatus.objects.filter(task_id=OuterRef(OuterRef("task_id")), is_done=True).values("key")
    done = (
        StatusCount.objects.filter(assignment_id=OuterRef("pk"), status__in=Subquery(done_keys))
        .values("assignment_id")
        .annotate(total=Sum("count"))
        .values("total")
    )
    return assignments.annotate(done=Coalesce(Subquery(done, output_field=IntegerField()), 0))


def ask_page(model_admin, request, *, form, action: str, title: str, lead: str):
    """The intermediate page of an admin action that needs a value: the form, what it will touch, and
    the selection carried on (every page's rows, or the ticked ones)."""
    context = {
        **model_admin.admin_site.each_context(request),
        "title": title,
        "opts": model_admin.model._meta,
        "form": form,
        "action": action,
        "lead": lead,
        "select_across": request.POST.get("select_across", "0"),
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    }
    return TemplateResponse(request, "admin/annotation/bulk_action.html", context)


def all_or_nothing(model_admin, request, steps) -> None:
    """Run each (name, write) step in one transaction, `write()` answering what it did: a refusal in
    any step changes nothing anywhere and says why."""
    outcomes: list[str] = []
    try:
        with transaction.atomic():
            for name, write in steps:
                try:
                    outcomes.append(format_html("{}: {}", name, write()))
                except ValidationError as exc:
                    raise ValidationError(f"{name}: {' '.join(exc.messages)}") from exc
    except ValidationError as exc:
        model_admin.message_user(request, f"{' '.join(exc.messages)} Nothing was changed.", messages.ERROR)
        return
    for outcome in outcomes:
        model_admin.message_user(request, outcome)


class AssignmentCountsMixin:
    @admin.display(description="done", ordering="done")
    def done(self, assignment):
        return assignment.done


# Kept by the services ("done" from the status counts): shown, never edited here.
ASSIGNMENT_COUNTERS = ("item_count", "claimed_count", "done", "rework_count", "issue_count")


class AssignmentInline(AssignmentCountsMixin, admin.TabularInline):
    """The task's assignments with their kept counters; changes go through the services, not here."""

    model = Assignment
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("assignee", "kind", "removed", *ASSIGNMENT_COUNTERS, "created_at")
    readonly_fields = fields

    def get_queryset(self, request):
        return with_done_count(super().get_queryset(request).select_related("assignee", "task"))

    def has_add_permission(self, request, obj=None):
        return False


class TaskStatusInline(admin.TabularInline):
    model = TaskStatus
    extra = 0
    fields = ("key", "label", "color", "is_done", "position")


class WorkloadEntryInline(admin.TabularInline):
    model = WorkloadEntry
    extra = 0
    fields = ("assignee", "load")
    raw_id_fields = ("assignee",)


@admin.register(AnnotationTask)
class AnnotationTaskAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "dataset", "type", "allocation", "state", "due_at", "priority", "owner")
    list_select_related = ("project", "dataset", "owner")
    list_filter = ("state", "type", "allocation", "priority", "lock_after_due", "project")
    search_fields = ("name", "description", "owner__email", "project__name", "dataset__name")
    date_hierarchy = "due_at"
    raw_id_fields = ("project", "dataset", "recipe", "parent", "owner", "created_by")
    readonly_fields = ("consensus_seed", "idempotency_key", "closed_at", "created_at", "updated_at")
    inlines = (AssignmentInline, TaskStatusInline, WorkloadEntryInline)
    fieldsets = (
        (None, {"fields": ("name", "description", "project", "dataset", "recipe", "type", "parent")}),
        ("People and dates", {"fields": ("owner", "created_by", "due_at", "priority", "lock_after_due")}),
        (
            "Allocation",
            {
                "fields": (
                    "allocation",
                    "batch_size",
                    "max_batch_workload",
                    "lease_seconds",
                    "skip_allowed",
                    "skip_reason_required",
                    "skip_to",
                    "consensus_percentage",
                    "consensus_assignees",
                    "consensus_seed",
                )
            },
        ),
        ("Items", {"fields": ("selection", "query", "qa_intake", "metadata")}),
        ("State", {"fields": ("state", "closed_at", "idempotency_key", "created_at", "updated_at")}),
    )


@admin.register(TaskStatus)
class TaskStatusAdmin(admin.ModelAdmin):
    list_display = ("label", "key", "task", "is_done", "color", "position")
    list_select_related = ("task",)
    list_filter = ("is_done",)
    search_fields = ("key", "label", "task__name")
    raw_id_fields = ("task",)


class StatusCountInline(admin.TabularInline):
    model = StatusCount
    extra = 0
    can_delete = False
    fields = ("status", "count")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Assignment)
class AssignmentAdmin(AssignmentCountsMixin, admin.ModelAdmin):
    list_display = ("id", "task", "assignee", "kind", "removed", *ASSIGNMENT_COUNTERS)
    list_select_related = ("task", "assignee")
    list_filter = ("kind", "removed", "task__state")
    search_fields = ("task__name", "assignee__email")
    raw_id_fields = ("task", "assignee")
    readonly_fields = ("item_count", "claimed_count", "rework_count", "issue_count", "created_at")
    inlines = (StatusCountInline,)
    actions = ("reassign", "redistribute")

    def get_queryset(self, request):
        return with_done_count(super().get_queryset(request))

    def _lead(self, queryset, what: str) -> str:
        names = ", ".join(f"{a.assignee or a.get_kind_display()} in {a.task.name}" for a in queryset[:20])
        more = f" and {queryset.count() - 20} more" if queryset.count() > 20 else ""
        return (
            f"{what} the undone items of: {names}{more}. Items with a status stay. Each assignment's move is one "
            "bulk operation, undoable from the bulk operations list; caps are kept (a move past one is refused)."
        )

    def _moves(self, request, queryset, move) -> None:
        """`move(assignment)` for each selected assignment (task, then id: the lock order), all or nothing."""
        chosen = queryset.select_related("task", "assignee").order_by("task_id", "pk")
        steps = [(f"{a.assignee or a.get_kind_display()} in {a.task.name}", lambda a=a: move(a)) for a in list(chosen)]
        all_or_nothing(self, request, steps)

    @admin.action(description="Reassign their undone items to another person (undoable)")
    def reassign(self, request, queryset):
        form = forms.AdminReassignForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            lead = self._lead(queryset.select_related("task", "assignee"), "Give another person")
            return ask_page(self, request, form=form, action="reassign", title="Reassign", lead=lead)
        to_user = form.cleaned_data["to"]

        def move(assignment):
            started = assignment_reassign_start(assignment=assignment, to_user=to_user, by=request.user)
            return started_outcome(started, f"{{count}} undone item(s) reassigned to {to_user.email}.")

        self._moves(request, queryset, move)
        return None

    @admin.action(description="Redistribute their undone items over several people (undoable)")
    def redistribute(self, request, queryset):
        form = forms.AdminRedistributeForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            lead = self._lead(queryset.select_related("task", "assignee"), "Spread over other people")
            return ask_page(self, request, form=form, action="redistribute", title="Redistribute", lead=lead)
        workload = form.cleaned_data["people"]

        def move(assignment):
            started = assignment_redistribute_start(assignment=assignment, workload=workload, by=request.user)
            people = ", ".join(u.user.email for u in workload)
            return started_outcome(started, f"{{count}} undone item(s) spread over {people}.")

        self._moves(request, queryset, move)
        return None


class TaskItemStatusFilter(admin.SimpleListFilter):
    """Statuses as the tasks define them: a DISTINCT over millions of task items would scan them all."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        keys = TaskStatus.objects.order_by("key").values_list("key", flat=True).distinct()
        return [("none", "No status (to do)"), *((key, key) for key in keys)]

    def queryset(self, request, queryset):
        if self.value() == "none":
            return queryset.filter(status__isnull=True)
        return queryset.filter(status=self.value()) if self.value() else queryset


# Up to this many selected rows of a task, a bulk action lists their items; past it, it picks them.
LIST_ROWS = 10_000


@admin.register(TaskItem)
class TaskItemAdmin(LargeTableAdmin):
    list_display = (
        "id",
        "task",
        "item",
        "assignee",
        "copy",
        "priority",
        "status",
        "status_by",
        "status_at",
        "in_queue",
        "rework",
    )
    list_select_related = ("task", "item", "assignment__assignee", "status_by")
    list_filter = (TaskItemStatusFilter, "in_queue", "rework")
    search_fields = ("item__filename", "=task__name")
    raw_id_fields = ("task", "item", "assignment", "lease")
    # A status is set by the item's holder through the status flow, or here in bulk: set or cleared
    # as one recorded operation per task (undoable), through the same service as the Bulk status page.
    # A priority is set in bulk the same way (one operation per task); one row's stays editable below.
    readonly_fields = ("status", "status_by", "status_at")
    actions = ("set_status", "clear_status", "set_priority", "release")

    def _tasks(self, queryset) -> list[AnnotationTask]:
        """The tasks of the selected rows, in id order (the lock order)."""
        return list(AnnotationTask.objects.filter(pk__in=queryset.order_by().values("task_id")).order_by("pk"))

    def _selection(self, request, queryset, task: AnnotationTask, *, listed: bool) -> Selection:
        """The items of the selected rows of `task`; a selection names items, so every copy of a selected
        item in its task follows. Listed up to LIST_ROWS rows (or when the service takes ids); past that
        (the changelist's "select all" over many rows) picked by one INSERT … SELECT, so no id passes
        through this process."""
        rows = queryset.order_by().filter(task_id=task.pk)
        if not listed and rows.count() > LIST_ROWS:
            return items_pick(task=task, rows=rows, by=request.user)
        return Selection(mode="list", item_ids=tuple(sorted(set(rows.values_list("item_id", flat=True)))))

    def _each_task(self, request, queryset, write, done: str, *, listed: bool = False) -> None:
        """`write(task, selection)` for every task, all or nothing (a pick made for a refused step too)."""
        steps = [
            (
                task.name,
                lambda task=task: started_outcome(
                    write(task, self._selection(request, queryset, task, listed=listed)), done
                ),
            )
            for task in self._tasks(queryset)
        ]
        all_or_nothing(self, request, steps)

    def _ask(self, request, queryset, *, form, action: str, title: str):
        count, names = queryset.count(), ", ".join(sorted(task.name for task in self._tasks(queryset)))
        lead = (
            f"{count} selected task item row(s) in {names}. Each task's change is one bulk operation, undoable "
            "from the bulk operations list; every copy of a selected item in its task follows, and a status "
            "changes only on items a person holds (a pulling queue's are nobody's work yet)."
        )
        return ask_page(self, request, form=form, action=action, title=title, lead=lead)

    @admin.action(description="Set a status (one bulk operation per task, undoable)")
    def set_status(self, request, queryset):
        data = request.POST if "apply" in request.POST else None
        form = forms.AdminBulkStatusForm(data, tasks=self._tasks(queryset))
        if not form.is_valid():
            return self._ask(request, queryset, form=form, action="set_status", title="Set a status")
        status = form.chosen_status

        def write(task, selection):
            return items_status_start(task=task, selection=selection, status=status, by=request.user)

        done = f"status {'cleared' if status is None else f'“{status}”'} on {{count}} item(s)."
        self._each_task(request, queryset, write, done)
        return None

    @admin.action(description="Clear their status (one bulk operation per task, undoable)")
    def clear_status(self, request, queryset):
        def write(task, selection):
            return items_status_start(task=task, selection=selection, status=None, by=request.user)

        self._each_task(request, queryset, write, "status cleared on {count} item(s).")

    @admin.action(description="Set their item priority (one bulk operation per task, undoable)")
    def set_priority(self, request, queryset):
        form = forms.AdminBulkPriorityForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            return self._ask(request, queryset, form=form, action="set_priority", title="Set item priority")
        value = form.cleaned_data["priority"]

        def write(task, selection):
            return items_priority_start(task=task, selection=selection, value=value, by=request.user)

        self._each_task(request, queryset, write, f"priority {value} on {{count}} item(s).")
        return None

    @admin.action(description="Release from their lease: unstarted pulled items back to the queue")
    def release(self, request, queryset):
        def write(task, selection):
            return BulkStart(count=lease_release_items(task=task, item_ids=selection.item_ids, by=request.user).items)

        # The lease service takes ids; a person's pulled batches are small.
        self._each_task(request, queryset, write, "{count} item(s) back in the queue.", listed=True)

    @admin.display(description="holder", ordering="assignment__assignee__email")
    def assignee(self, task_item):
        assignment = task_item.assignment
        return assignment.assignee if assignment.assignee_id else assignment.get_kind_display()


@admin.register(StatusCount)
class StatusCountAdmin(admin.ModelAdmin):
    list_display = ("assignment", "status", "count")
    list_select_related = ("assignment__task", "assignment__assignee")
    list_filter = ("status",)
    search_fields = ("assignment__task__name", "assignment__assignee__email", "status")
    raw_id_fields = ("assignment",)


@admin.register(WorkloadEntry)
class WorkloadEntryAdmin(admin.ModelAdmin):
    list_display = ("task", "assignee", "load")
    list_select_related = ("task", "assignee")
    search_fields = ("task__name", "assignee__email")
    raw_id_fields = ("task", "assignee")


@admin.register(HoldingChange)
class HoldingChangeAdmin(LargeTableAdmin):
    list_display = ("at", "task", "kind", "item", "from_assignment", "to_assignment", "count", "by")
    list_select_related = (
        "task",
        "item",
        "by",
        "from_assignment__task",
        "from_assignment__assignee",
        "to_assignment__task",
        "to_assignment__assignee",
    )
    list_filter = ("kind",)
    search_fields = ("task__name", "item__filename", "by__email")
    raw_id_fields = ("task", "item", "from_assignment", "to_assignment", "by")


@admin.register(Pause)
class PauseAdmin(admin.ModelAdmin):
    """Pausing here goes through the same service as the people pages, so the person and the managers
    are told; a pause is made or lifted, never edited."""

    list_display = ("user", "project", "task", "stops_work", "reason", "by", "created_at")
    list_filter = ("stops_work", "project")
    search_fields = ("user__email", "project__name", "task__name", "reason")
    raw_id_fields = ("project", "user", "task", "by")
    readonly_fields = ("by", "created_at")

    def get_readonly_fields(self, request, obj=None):
        if obj is not None:
            return ("project", "user", "task", "stops_work", "reason", "by", "created_at")
        return self.readonly_fields

    def save_model(self, request, obj, form, change):
        if change:
            return
        made = pause_person(
            project=obj.project,
            user=obj.user,
            task=obj.task,
            reason=obj.reason,
            by=request.user,
            stops_work=obj.stops_work,
        )
        obj.pk = made.pk

    def delete_model(self, request, obj):
        resume_person(project=obj.project, user=obj.user, task=obj.task, by=request.user)

    def delete_queryset(self, request, queryset):
        for pause in queryset.select_related("project", "user", "task"):
            self.delete_model(request, pause)

    actions = ("hand_off",)

    @admin.action(description="Hand their unstarted items to others (where paused)")
    def hand_off(self, request, queryset):
        moved = queued = 0
        for pause in queryset.select_related("project", "user", "task"):
            started = person_hand_off_start(project=pause.project, user=pause.user, by=request.user, task=pause.task)
            if started.job is not None:
                self.message_user(request, _job_message(pause.user.email, started.job.pk))
            for done in started.hand_offs:
                moved, queued = moved + done.moved, queued + done.to_queue
        self.message_user(request, f"{moved} item(s) handed to others, {queued} back to the queue.")


@admin.register(Lease)
class LeaseAdmin(admin.ModelAdmin):
    """Pulled batches: made by claims, ended by expiry or a release (the action below), never edited."""

    list_display = ("id", "task", "holder", "items", "returned", "claimed_at", "expires_at", "ended_at", "end")
    list_select_related = ("task", "holder")
    list_filter = ("end", ("ended_at", admin.EmptyFieldListFilter), "task__project")
    search_fields = ("task__name", "holder__email")
    raw_id_fields = ("task", "assignment", "holder")
    readonly_fields = ("task", "assignment", "holder", "items", "returned", "claimed_at", "ended_at", "end")
    actions = ("release",)

    def has_add_permission(self, request):
        return False

    @admin.action(description="Release: unstarted items go back to the queue")
    def release(self, request, queryset):
        result = leases_release(lease_ids=list(queryset.values_list("id", flat=True)), by=request.user)
        self.message_user(request, f"Released {result.leases} lease(s), {result.items} item(s) back in the queue.")


class CapForm(django_forms.ModelForm):
    """The cap's rules are the service's (`caps.cap_check`): a member, a count or a share."""

    class Meta:
        model = Cap
        fields = ("task", "user", "max_items", "max_share")

    def clean(self):
        data = super().clean() or {}
        task, user = data.get("task"), data.get("user")
        if task is not None and user is not None and not self.errors:
            if data.get("max_items") is None and data.get("max_share") is None:
                raise ValidationError("Give a count or a share (deleting the cap lifts it).")
            try:
                caps.cap_check(task=task, user=user, max_items=data.get("max_items"), max_share=data.get("max_share"))
            except ValidationError as exc:
                self.add_error(None, exc.messages)
        return data


@admin.register(Cap)
class CapAdmin(admin.ModelAdmin):
    """A cap is one row (a count or a share); made and changed through the same service as the people
    view (`caps.cap_set`), so the same rules hold; pulls and moves read it."""

    form = CapForm
    list_display = ("user", "task", "max_items", "max_share", "by", "created_at")
    list_select_related = ("user", "task", "by")
    list_filter = ("task__project",)
    search_fields = ("user__email", "task__name")
    raw_id_fields = ("task", "user")
    readonly_fields = ("by", "created_at")

    def get_readonly_fields(self, request, obj=None):
        # One cap per person and task: another person or task is another cap.
        return ("task", "user", *self.readonly_fields) if obj is not None else self.readonly_fields

    def save_model(self, request, obj, form, change):
        made = caps.cap_set(
            task=obj.task, user=obj.user, by=request.user, max_items=obj.max_items, max_share=obj.max_share
        )
        assert made is not None  # the form asks for a count or a share
        obj.pk, obj.by, obj.created_at = made.pk, made.by, made.created_at


@admin.register(BulkOperation)
class BulkOperationAdmin(admin.ModelAdmin):
    """The history of bulk operations; undone through the same service as the pages (all or nothing)."""

    list_display = ("id", "kind", "summary", "project", "task", "count", "by", "created_at", "undone_at", "undone_by")
    list_select_related = ("project", "task", "by", "undone_by")
    list_filter = ("kind", ("undone_at", admin.EmptyFieldListFilter))
    search_fields = ("summary", "task__name", "by__email")
    raw_id_fields = ("project", "task", "by", "undone_by")
    readonly_fields = (
        "project",
        "task",
        "kind",
        "summary",
        "count",
        "data",
        "by",
        "created_at",
        "undone_at",
        "undone_by",
    )
    actions = ("undo",)

    def has_add_permission(self, request):
        return False

    @admin.action(description="Undo (all its items go back, or none if any moved since)")
    def undo(self, request, queryset):
        for operation in queryset.order_by("-created_at"):
            try:
                count = operation_undo(operation=operation, by=request.user)
            except ValidationError as exc:
                self.message_user(request, f"#{operation.pk}: {' '.join(exc.messages)}", messages.ERROR)
            else:
                self.message_user(request, f"#{operation.pk} undone: {count} item(s) back.")


@admin.register(OperationRow)
class OperationRowAdmin(LargeTableAdmin):
    list_display = ("id", "operation", "task_item_id", "before_priority", "before_status")
    raw_id_fields = ("operation",)

    def has_add_permission(self, request):
        return False


@admin.register(Pick)
class PickAdmin(admin.ModelAdmin):
    """Picks are made by the task item rows' bulk actions (`picks.items_pick`) and swept after a day;
    here they are read."""

    list_display = ("id", "dataset", "count", "by", "created_at")
    list_select_related = ("dataset", "by")
    readonly_fields = ("dataset", "count", "by", "created_at")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # a bulk job may still be reading it; the sweep knows which


@admin.register(PickedItem)
class PickedItemAdmin(LargeTableAdmin):
    list_display = ("id", "pick", "item")
    raw_id_fields = ("pick", "item")
    readonly_fields = ("pick", "item")

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Skip)
class SkipAdmin(admin.ModelAdmin):
    """Skips are made by their holders (the work page, the API); here they are read."""

    list_display = ("at", "task", "item", "by", "went_to", "reason")
    list_select_related = ("task", "item", "by")
    search_fields = ("task__name", "item__filename", "by__email", "reason")
    raw_id_fields = ("task", "item", "by")
    readonly_fields = ("task", "item", "by", "reason", "went_to", "at")

    def has_add_permission(self, request):
        return False


@admin.register(StatusLog)
class StatusLogAdmin(LargeTableAdmin):
    """The history of statuses set and cleared: read here, written only by the status write."""

    list_display = ("at", "task", "item", "action", "status", "creator", "copy")
    list_select_related = ("task", "item")
    list_filter = ("action",)
    search_fields = ("=task__name", "item__filename", "=creator")
    raw_id_fields = ("task", "item")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
