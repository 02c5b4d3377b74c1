"""The dataset page: the item browser (folders, filters, a page of items), the way into the wizard,
and the upload and manifest import forms beside it. It lives with the tasks because its filters and
selections are the ones tasks are made from (status in a task, items in no task)."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.annotation import queries as annotation_queries
from taskboard.annotation.filters import ItemFilter, item_list, selection_query_params
from taskboard.annotation.selection import Selection
from taskboard.datasets import importing, queries, services
from taskboard.datasets.forms import ManifestForm, UploadForm
from taskboard.datasets.models import Item

# Parameters that are paging, not filtering.
_PAGING = ("after", "before")
# The wizard takes a ticked list in its URL; servers cap a request line near 4 KB.
MAX_PICKED = 300


def _int_param(value) -> int | None:
    return int(value) if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) < 19 else None


def _filter_query(request: AuthedHttpRequest) -> str:
    params = request.GET.copy()
    for key in _PAGING:
        params.pop(key, None)
    return params.urlencode()


def _error_list(form) -> list[str]:
    out: list[str] = []
    for field, errors in form.errors.items():
        label = form.fields[field].label if field in form.fields else ""
        out.extend(f"{label}: {e}" if label else str(e) for e in errors)
    return out


def _browser_context(request: AuthedHttpRequest, dataset):
    item_filter, items = item_list(dataset=dataset, data=request.GET)
    page = None
    errors: list[str] = []
    if items is not None:
        page = queries.items_page(
            items, after=_int_param(request.GET.get("after")), before=_int_param(request.GET.get("before"))
        )
    else:
        errors = _error_list(item_filter.form)
    return {
        "dataset": dataset,
        "project": dataset.project,
        "filter": item_filter,
        "page": page,
        "list_errors": errors,
        "filter_query": _filter_query(request),
        "current_folder": item_filter.form.cleaned_data.get("folder") if item_filter.form.is_valid() else None,
        "lever_tasks": list(annotation_queries.open_tasks_of_dataset(dataset)) if page and page.items else [],
    }


def _render_browser(request: AuthedHttpRequest, dataset, *, upload_form=None, manifest_form=None):
    context = _browser_context(request, dataset)
    # htmx asks for the whole page when it restores history it no longer has cached.
    if request.htmx and request.method == "GET" and not request.htmx.history_restore_request:
        response = render(request, "annotation/browse.html#item-list", context)
    else:
        context["tree"] = list(queries.folder_tree(dataset).walk())
        context["upload_form"] = upload_form or UploadForm(initial={"folder": context["current_folder"] or "/"})
        context["manifest_form"] = manifest_form or ManifestForm()
        response = render(request, "annotation/browse.html", context)
    # The same URL answers a page or a fragment: caches must keep them apart.
    patch_vary_headers(response, ("HX-Request",))
    return response


@login_required
@require_GET
def browse(request: AuthedHttpRequest, pk: int):
    dataset = queries.dataset_for_manager(request.user, pk)
    return _render_browser(request, dataset)


@login_required
@require_http_methods(["GET", "POST"])
def to_wizard(request: AuthedHttpRequest, pk: int):
    """Hand the browsed selection to the create-task wizard as query parameters.

    The browser POSTs here (ticked ids would make a long GET line); GET works too.
    """
    dataset = queries.dataset_for_manager(request.user, pk)
    data = request.POST if request.method == "POST" else request.GET
    kept = data.copy()
    for key in (*_PAGING, "item", "pick", "csrfmiddlewaretoken"):
        kept.pop(key, None)
    back = reverse("annotation:dataset-browse", args=[dataset.pk]) + "?" + kept.urlencode()
    if data.get("pick") == "all":
        item_filter = ItemFilter(kept, dataset=dataset)
        if not item_filter.is_valid():
            messages.error(request, "Fix the filters first.")
            return redirect(back)
        selection = item_filter.selection
    else:
        picked = {n for v in data.getlist("item") if (n := _int_param(v)) is not None}
        if not picked:
            messages.error(request, "Tick the items for the task first, or choose all matching items.")
            return redirect(back)
        if len(picked) > MAX_PICKED:
            messages.error(
                request,
                f"{len(picked)} items are ticked; at most {MAX_PICKED} go to a task this way. "
                "Narrow the filters and use “all matching” instead.",
            )
            return redirect(back)
        ids = sorted(Item.objects.filter(dataset=dataset, pk__in=picked).values_list("pk", flat=True))
        if len(ids) != len(picked):
            messages.error(request, f"{len(picked) - len(ids)} of the ticked items are not in this dataset.")
            return redirect(back)
        selection = Selection(mode="list", item_ids=tuple(ids))
    params = {"dataset": dataset.pk, **selection_query_params(selection)}
    return redirect(reverse("annotation:wizard-start") + "?" + urlencode(params))


# The task pages a browsed filter can be carried to, as a bulk change over every item it matches.
TASK_LEVERS = {"priority": "annotation:task-priority", "status": "annotation:task-bulk-status"}


@login_required
@require_GET
def to_task_lever(request: AuthedHttpRequest, pk: int):
    """Carry the browsed filter (all matching items, not a page) to a task's bulk priority or bulk
    status page, where it arrives as the query language. Reads only: the change is made there."""
    dataset = queries.dataset_for_manager(request.user, pk)
    params = request.GET.copy()
    lever, task_id = params.pop("lever", [""])[-1], params.pop("target_task", [""])[-1]
    for key in (*_PAGING, "item", "pick"):
        params.pop(key, None)
    back = reverse("annotation:dataset-browse", args=[dataset.pk]) + "?" + params.urlencode()
    task = annotation_queries.open_tasks_of_dataset(dataset).filter(pk=_int_param(task_id) or 0).first()
    if lever not in TASK_LEVERS or task is None:
        messages.error(request, "Choose one of this dataset's open tasks, and priority or status.")
        return redirect(back)
    return redirect(reverse(TASK_LEVERS[lever], args=[task.pk]) + "?" + params.urlencode())


@login_required
@require_POST
def upload(request: AuthedHttpRequest, pk: int):
    dataset = queries.dataset_for_manager(request.user, pk)
    form = UploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            created = services.items_upload(
                dataset=dataset, files=form.cleaned_data["files"], folder=form.cleaned_data["folder"], by=request.user
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.success(request, f"Uploaded {len(created)} item{'s' if len(created) != 1 else ''}.")
            return redirect(reverse("annotation:dataset-browse", args=[dataset.pk]) + "?" + _filter_query(request))
    return _render_browser(request, dataset, upload_form=form)


@login_required
@require_POST
def import_manifest(request: AuthedHttpRequest, pk: int):
    dataset = queries.dataset_for_manager(request.user, pk)
    form = ManifestForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            started = importing.import_manifest_start(dataset=dataset, file=form.cleaned_data["file"], by=request.user)
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            if started.job is not None:
                messages.info(
                    request,
                    "The manifest is large: it is being imported by a job. Nothing shows until it has all gone in.",
                )
                return redirect("jobs:job-detail", started.job.pk)
            result = started.result
            assert result is not None  # no job: imported in this request
            text = f"Imported {result.created} item{'s' if result.created != 1 else ''}"
            if result.skipped:
                text += f"; {result.skipped} already in the dataset were skipped"
            messages.success(request, text + ".")
            return redirect("annotation:dataset-browse", dataset.pk)
    return _render_browser(request, dataset, manifest_form=form)
