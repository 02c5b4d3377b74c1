"""Bulk status over a filter, on the task's side: a manager sets or clears one status on every held
item a filter matches (htmx in place, the outcome with its Undo). Thin views over `bulk_status`."""

import json

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.annotation import bulk_jobs, forms
from taskboard.annotation import queries as annotation_queries
from taskboard.annotation.filters import ItemFilter
from taskboard.annotation.models import AnnotationTask, BulkOperation, TaskItem
from taskboard.annotation.wizard import add_errors


def job_redirect(request: AuthedHttpRequest, started: bulk_jobs.BulkStart):
    """A large change runs as a job: its page, with the progress bar (through HX-Redirect for htmx)."""
    assert started.job is not None
    url = reverse("jobs:job-detail", args=[started.job.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _status_levels(task: AnnotationTask) -> list[tuple[str, int]]:
    rows = TaskItem.objects.filter(task=task).order_by().values_list("status").annotate(n=Count("id"))
    return sorted(((status or "", n) for status, n in rows), key=lambda level: level[0])


def _page(
    request: AuthedHttpRequest,
    task: AnnotationTask,
    *,
    form: forms.BulkStatusForm | None = None,
    done: BulkOperation | None = None,
    nothing: bool = False,
    status: int = 200,
):
    if form is None:
        initial: dict[str, object] = {}
        browsed = ItemFilter(request.GET, dataset=task.dataset) if request.GET else None
        if browsed is not None and browsed.is_valid() and browsed.dql:
            # Arriving from the item browser: its filter, as the query language.
            initial["dql"] = json.dumps(browsed.dql)
        form = forms.BulkStatusForm(initial=initial, task=task)
    context = {
        "task": task,
        "project": task.project,
        "action_title": "Bulk status",
        "form": form,
        "done": done,
        "nothing": nothing,
        "levels": _status_levels(task),
    }
    template = "annotation/task_bulk_status.html#panel" if request.htmx else "annotation/task_bulk_status.html"
    return render(request, template, context, status=status)


@login_required
@require_GET
def task_bulk_status(request: AuthedHttpRequest, pk: int):
    task = annotation_queries.task_for_manager(request.user, pk)
    return _page(request, task)


@login_required
@require_POST
def task_bulk_status_set(request: AuthedHttpRequest, pk: int):
    task = annotation_queries.task_for_manager(request.user, pk)
    form = forms.BulkStatusForm(request.POST, task=task)
    if form.is_valid():
        try:
            started = bulk_jobs.items_status_start(
                task=task, selection=form.selection, status=form.chosen_status, by=request.user
            )
        except ValidationError as exc:
            add_errors(form, exc, default="dql")
        else:
            if started.job is not None:
                return job_redirect(request, started)
            task.refresh_from_db()
            return _page(request, task, done=started.operation, nothing=started.operation is None)
    return _page(request, task, form=form, status=400)
