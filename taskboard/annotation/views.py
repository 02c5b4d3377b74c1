"""The task page's actions: add and remove items, reassign, redistribute, close. Each is a page of
its own (a form, htmx-validated as it is typed) that lands back on the task page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.annotation import bulk_jobs, forms, moves, progress, services, wizard
from taskboard.annotation import queries as annotation_queries
from taskboard.annotation.selection import select_items
from taskboard.annotation.workload import WorkloadUnit, equal_loads
from taskboard.datasets import queries as dataset_queries


def _go(request: AuthedHttpRequest, url):
    """Redirect, through HX-Redirect when htmx asked."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


ACTION_TEXT = {
    "task_add_items.html": ("Add items", "Add items"),
    "task_remove_items.html": ("Remove items", "Remove items"),
    "task_reassign.html": ("Reassign an assignment", "Reassign"),
    "task_redistribute.html": ("Redistribute an assignment", "Redistribute"),
    "task_close.html": ("Close the task", "Close task"),
}


ITEM_ACTIONS = {"task_add_items.html": "add-items", "task_remove_items.html": "remove-items"}


def _posted(request: AuthedHttpRequest):
    # An empty POST is still a submission: `request.POST or None` would show an unbound form.
    return request.POST if request.method == "POST" else None


def _closed(request: AuthedHttpRequest, task):
    """A closed task's item and assignment actions lead back to its page, with the reason (the
    services refuse them too)."""
    messages.error(request, "This task is closed; its items and assignments no longer change.")
    return _go(request, reverse("dashboards:task-detail", args=[task.pk]))


def _action_page(request: AuthedHttpRequest, task, template, form, **extra):
    title, submit = ACTION_TEXT[template]
    context = {
        "task": task,
        "project": task.project,
        "form": form,
        "folders": dataset_queries.dataset_folders(task.dataset) if "folder" in form.fields else [],
        "action_title": title,
        "submit_label": submit,
        "danger": template == "task_close.html",
        "validate_url": reverse("annotation:task-items-validate", args=[task.pk, ITEM_ACTIONS[template]])
        if template in ITEM_ACTIONS
        else None,
        "count": None,
        **extra,
    }
    return render(request, f"annotation/{template}", context)


@login_required
@require_http_methods(["GET", "POST"])
def task_add_items(request: AuthedHttpRequest, pk: int):
    task = annotation_queries.task_for_manager(request.user, pk)
    if task.is_closed:
        return _closed(request, task)
    form = forms.AddItemsForm(_posted(request), task=task)
    # A valid items form has its selection.
    if request.method == "POST" and form.is_valid() and form.selection is not None:
        try:
            result = moves.task_add_items(
                task=task,
                selection=form.selection,
                by=request.user,
                assignees=list(form.cleaned_data.get("assignees") or []) or None,
                to_queue=bool(form.cleaned_data.get("to_queue")),
            )
        except ValidationError as exc:
            wizard.add_errors(form, exc, default=wizard.EMPTY_SELECTION_FIELD.get(form.selection.mode, "mode"))
        else:
            skipped = f" {result.skipped} were already in the task." if result.skipped else ""
            messages.success(request, f"Added {result.added} item{'s' if result.added != 1 else ''}.{skipped}")
            return _go(request, reverse("dashboards:task-detail", args=[task.pk]))
    return _action_page(request, task, "task_add_items.html", form)


@login_required
@require_http_methods(["GET", "POST"])
def task_remove_items(request: AuthedHttpRequest, pk: int):
    task = annotation_queries.task_for_manager(request.user, pk)
    if task.is_closed:
        return _closed(request, task)
    form = forms.RemoveItemsForm(_posted(request), task=task)
    if request.method == "POST" and form.is_valid() and form.selection is not None:
        try:
            result = moves.task_remove_items(task=task, selection=form.selection, by=request.user)
        except ValidationError as exc:
            wizard.add_errors(form, exc, default=wizard.EMPTY_SELECTION_FIELD.get(form.selection.mode, "mode"))
        else:
            kept = f" {result.kept} with a status were kept." if result.kept else ""
            messages.success(request, f"Removed {result.removed} item{'s' if result.removed != 1 else ''}.{kept}")
            return _go(request, reverse("dashboards:task-detail", args=[task.pk]))
    return _action_page(request, task, "task_remove_items.html", form)


ITEM_ACTION_FORMS = {"add-items": forms.AddItemsForm, "remove-items": forms.RemoveItemsForm}


@login_required
@require_POST
def task_items_validate(request: AuthedHttpRequest, pk: int, action: str):
    """As-you-type check of the add/remove items forms, with the live count of matching items."""
    if action not in ITEM_ACTION_FORMS:
        raise Http404("No such action.")
    task = annotation_queries.task_for_manager(request.user, pk)
    form = ITEM_ACTION_FORMS[action](request.POST, task=task)
    count = None
    form.is_valid()
    # The count needs only the selection; other fields' errors do not hide it.
    if form.selection is not None:
        try:
            count = select_items(dataset=task.dataset, selection=form.selection).count()
        except ValidationError as exc:
            wizard.add_errors(form, exc, default=wizard.EMPTY_SELECTION_FIELD.get(form.selection.mode, "mode"))
        else:
            if count == 0:
                form.add_error(wizard.EMPTY_SELECTION_FIELD.get(form.selection.mode, "mode"), "No items match.")
    return render(
        request,
        "annotation/_wizard_feedback.html",
        {"form": form, "step": "items", "count": count, "kind": "", "touched": wizard.touched_fields(request.POST)},
    )


@login_required
@require_http_methods(["GET", "POST"])
def task_reassign(request: AuthedHttpRequest, pk: int):
    task = annotation_queries.task_for_manager(request.user, pk)
    if task.is_closed:
        return _closed(request, task)
    initial = {"assignment": request.GET.get("assignment")} if request.method == "GET" else None
    form = forms.ReassignForm(_posted(request), initial=initial, task=task)
    if request.method == "POST" and form.is_valid():
        try:
            started = bulk_jobs.assignment_reassign_start(
                assignment=form.cleaned_data["assignment"], to_user=form.cleaned_data["to_user"], by=request.user
            )
        except ValidationError as exc:
            wizard.add_errors(form, exc, default="to_user")
        else:
            if started.job is not None:
                return _go(request, reverse("jobs:job-detail", args=[started.job.pk]))
            messages.success(
                request,
                f"Undone items of {form.cleaned_data['assignment'].assignee.email} moved to "
                f"{form.cleaned_data['to_user'].email}.",
            )
            return _go(request, reverse("dashboards:task-detail", args=[task.pk]))
    return _action_page(request, task, "task_reassign.html", form)


@login_required
@require_http_methods(["GET", "POST"])
def task_redistribute(request: AuthedHttpRequest, pk: int):
    task = annotation_queries.task_for_manager(request.user, pk)
    if task.is_closed:
        return _closed(request, task)
    initial = {"assignment": request.GET.get("assignment"), "split": "equal"} if request.method == "GET" else None
    form = forms.RedistributeForm(_posted(request), initial=initial, task=task)
    if request.method == "POST" and form.is_valid():
        if form.workload:
            workload = [WorkloadUnit(user, load) for user, load in form.workload]
        else:
            people = list(form.cleaned_data["assignees"])
            workload = [WorkloadUnit(u, load) for u, load in zip(people, equal_loads(len(people)), strict=True)]
        try:
            started = bulk_jobs.assignment_redistribute_start(
                assignment=form.cleaned_data["assignment"], workload=workload, by=request.user
            )
        except ValidationError as exc:
            wizard.add_errors(form, exc, default="assignees")
        else:
            if started.job is not None:
                return _go(request, reverse("jobs:job-detail", args=[started.job.pk]))
            messages.success(
                request, f"Undone items of {form.cleaned_data['assignment'].assignee.email} redistributed."
            )
            return _go(request, reverse("dashboards:task-detail", args=[task.pk]))
    return _action_page(request, task, "task_redistribute.html", form, load_sum=wizard.load_sum(form))


@login_required
@require_http_methods(["GET", "POST"])
def task_close(request: AuthedHttpRequest, pk: int):
    task = annotation_queries.task_for_manager(request.user, pk)
    form = forms.CloseForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            services.task_close(task=task, by=request.user)
        except ValidationError as exc:
            wizard.add_errors(form, exc, default="confirm")
        else:
            messages.success(request, f"Task “{task.name}” closed.")
            return _go(request, reverse("dashboards:task-detail", args=[task.pk]))
    return _action_page(request, task, "task_close.html", form, progress=progress.task_progress(task))
