"""Distribution control on the task page's side: claim leases (who holds what and until when,
releasing a person's batches or one item, the lease length) and priority (the task's, and one
item priority over a filter). Thin views over `leases` and `priority`."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.accounts.models import User
from taskboard.annotation import bulk_jobs, forms, leases, operations, priority, services, skips
from taskboard.annotation import queries as annotation_queries
from taskboard.annotation.filters import ItemFilter
from taskboard.annotation.models import BulkOperation
from taskboard.annotation.views_bulk_status import job_redirect
from taskboard.annotation.wizard import add_errors
from taskboard.projects import queries as project_queries


def _leases_context(task, **extra):
    holdings = leases.task_holdings(task)
    for holding in holdings:
        holding.items = list(leases.held_items(task, holding.holder.pk))  # type: ignore[attr-defined]
    return {
        "task": task,
        "project": task.project,
        "action_title": "Leases",
        "holdings": holdings,
        "length_form": extra.pop("length_form", None)
        or forms.LeaseLengthForm(initial={"lease_minutes": task.lease_seconds // 60}),
        **extra,
    }


def _leases_page(request: AuthedHttpRequest, task, **extra):
    template = "annotation/task_leases.html#holders" if request.htmx else "annotation/task_leases.html"
    return render(request, template, _leases_context(task, **extra))


@login_required
@require_GET
def task_leases(request: AuthedHttpRequest, pk: int):
    task = annotation_queries.task_for_manager(request.user, pk)
    return _leases_page(request, task)


@login_required
@require_POST
def task_lease_release(request: AuthedHttpRequest, pk: int):
    task = annotation_queries.task_for_manager(request.user, pk)
    form = forms.LeaseReleaseForm(request.POST)
    error = None
    if form.is_valid():
        try:
            if form.cleaned_data.get("user"):
                holder = User.objects.filter(pk=form.cleaned_data["user"]).first()
                if holder is None:
                    raise ValidationError({"user": "No such person."})
                result = leases.lease_release_person(task=task, user=holder, by=request.user)
                messages.success(request, f"Released {result.items} item(s) held by {holder.email}.")
            else:
                leases.lease_release_item(task=task, item_id=form.cleaned_data["item"], by=request.user)
                messages.success(request, "The item is back in the queue.")
        except ValidationError as exc:
            error = " ".join(exc.messages)
    else:
        error = " ".join(str(m) for errs in form.errors.values() for m in errs)
    if error:
        messages.error(request, error)
    if request.htmx:
        return _leases_page(request, task)
    return redirect(reverse("annotation:task-leases", args=[task.pk]))


@login_required
@require_POST
def task_lease_length(request: AuthedHttpRequest, pk: int):
    task = annotation_queries.task_for_manager(request.user, pk)
    form = forms.LeaseLengthForm(request.POST)
    if form.is_valid():
        try:
            leases.lease_length_set(task=task, minutes=form.cleaned_data["lease_minutes"], by=request.user)
        except ValidationError as exc:
            add_errors(form, exc, default="lease_minutes")
        else:
            messages.success(
                request, f"Batches are now held {form.cleaned_data['lease_minutes']} minutes without work."
            )
            return redirect(reverse("annotation:task-leases", args=[task.pk]))
    return render(request, "annotation/task_leases.html", _leases_context(task, length_form=form), status=400)


# --- Priority ------------------------------------------------------------------------------------------


def _priority_page(request: AuthedHttpRequest, task, *, task_form=None, item_form=None, status=200):
    if item_form is None:
        initial: dict[str, object] = {"priority": 80}
        browsed = ItemFilter(request.GET, dataset=task.dataset) if request.GET else None
        if browsed is not None and browsed.is_valid() and browsed.dql:
            # Arriving from the item browser: its filter, as the query language.
            initial["dql"] = json.dumps(browsed.dql)
        item_form = forms.ItemPriorityForm(initial=initial)
    context = {
        "task": task,
        "project": task.project,
        "action_title": "Priority",
        "task_form": task_form or forms.TaskPriorityForm(initial={"task_priority": task.priority}),
        "item_form": item_form,
        "levels": priority.priority_levels(task),
    }
    return render(request, "annotation/task_priority.html", context, status=status)


@login_required
@require_GET
def task_priority(request: AuthedHttpRequest, pk: int):
    task = annotation_queries.task_for_manager(request.user, pk)
    return _priority_page(request, task)


@login_required
@require_POST
def task_priority_set(request: AuthedHttpRequest, pk: int):
    task = annotation_queries.task_for_manager(request.user, pk)
    form = forms.TaskPriorityForm(request.POST)
    if form.is_valid():
        try:
            services.task_update(task=task, by=request.user, priority=form.cleaned_data["task_priority"])
        except ValidationError as exc:
            add_errors(form, exc, default="task_priority")
        else:
            messages.success(request, "Task priority saved.")
            return redirect(reverse("annotation:task-priority", args=[task.pk]))
    return _priority_page(request, task, task_form=form, status=400)


@login_required
@require_POST
def task_items_priority(request: AuthedHttpRequest, pk: int):
    task = annotation_queries.task_for_manager(request.user, pk)
    form = forms.ItemPriorityForm(request.POST)
    if form.is_valid():
        try:
            started = bulk_jobs.items_priority_start(
                task=task, selection=form.selection, value=form.cleaned_data["priority"], by=request.user
            )
        except ValidationError as exc:
            add_errors(form, exc, default="dql")
        else:
            if started.job is not None:
                return job_redirect(request, started)
            messages.success(request, f"Priority {form.cleaned_data['priority']} set on {started.count} item(s).")
            return redirect(reverse("annotation:task-priority", args=[task.pk]))
    return _priority_page(request, task, item_form=form, status=400)


# --- Operations: the history of bulk changes, and undo -------------------------------------------------


def _operation_for_manager(user, pk: int) -> BulkOperation:
    operation = get_object_or_404(BulkOperation.objects.select_related("project", "task"), pk=pk)
    project_queries.project_for_manager(user, operation.project_id)  # 404 for anyone else
    return operation


@login_required
@require_GET
def project_operations(request: AuthedHttpRequest, pk: int):
    project = project_queries.project_for_manager(request.user, pk)
    context = {"project": project, "operations": operations.operations_of(project=project)[:100]}
    return render(request, "annotation/operations.html", context)


@login_required
@require_POST
def operation_undo(request: AuthedHttpRequest, pk: int):
    operation = _operation_for_manager(request.user, pk)
    try:
        count = operations.operation_undo(operation=operation, by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"Undone: {count} item(s) back as they were.")
    operation.refresh_from_db()
    if request.htmx:
        return render(request, "annotation/operations.html#operation", {"operation": operation})
    back = request.POST.get("next") or ""
    if back.startswith("/") and not back.startswith("//"):
        return redirect(back)
    return redirect(reverse("annotation:project-operations", args=[operation.project_id]))


# --- Skip policy ---------------------------------------------------------------------------------------


@login_required
@require_POST
def task_skip_policy(request: AuthedHttpRequest, pk: int):
    task = annotation_queries.task_for_manager(request.user, pk)
    form = forms.SkipPolicyForm(request.POST, task=task)
    if form.is_valid():
        try:
            skips.skip_policy_set(
                task=task,
                by=request.user,
                allowed=form.cleaned_data["skip_allowed"],
                reason_required=form.cleaned_data["skip_reason_required"],
                skip_to=form.cleaned_data["skip_to"],
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "Skip policy saved.")
    else:
        messages.error(request, " ".join(str(m) for errs in form.errors.values() for m in errs))
    return redirect(reverse("dashboards:task-detail", args=[task.pk]) + "#task-skips")
