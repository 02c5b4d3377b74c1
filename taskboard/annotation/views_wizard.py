"""The create-task wizard's pages: items, task type, people and dates, review, then creation (in the
request, or by a job with a progress bar). The draft and its rules are `wizard`; the task is made
from the same `TaskSpec` as the API's and pipelines'."""

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django.http import Http404
from django.shortcuts import redirect, render
from django.template import TemplateDoesNotExist
from django.template.loader import get_template
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.annotation import creation, wizard
from taskboard.annotation.models import AnnotationTask
from taskboard.datasets import queries as dataset_queries
from taskboard.inputs import parse_pk
from taskboard.jobs import services as job_services
from taskboard.jobs.models import Job, JobState

JOB_PROGRESS_PARTIAL = "jobs/_job_progress_partial.html"


@login_required
def wizard_start(request: AuthedHttpRequest):
    """Starts a draft for a dataset, optionally seeded by the item browser or the task page."""
    dataset_id = parse_pk(request.GET.get("dataset", ""))
    if dataset_id is None:
        raise Http404("No such dataset.")
    dataset = dataset_queries.dataset_for_manager(request.user, dataset_id)
    wizard.prune_drafts(request)
    wid = uuid.uuid4().hex
    state: dict[str, Any] = {
        "dataset": dataset.pk,
        "data": {},
        "task_id": None,
        "job_id": None,
        "started": timezone.now().timestamp(),
    }
    mode = request.GET.get("mode")
    if mode == "list":
        refs = [part.strip() for part in request.GET.get("item_ids", "").split(",") if part.strip()]
        state["data"]["items"] = {"mode": ["list"], "items": ["\n".join(refs)]}
    elif mode == "filter":
        state["data"]["items"] = {"mode": ["filter"], "dql": [request.GET.get("dql", "")]}
    elif mode == "folder":
        state["data"]["items"] = {"mode": ["folder"], "folder": [request.GET.get("folder", "/")]}
        if request.GET.get("subfolders", "1") not in ("0", "false", "off", ""):
            state["data"]["items"]["include_subfolders"] = ["on"]
    elif mode in ("all", "unassigned"):
        state["data"]["items"] = {"mode": [mode]}
    else:
        # The default choice, stored so the live count shows from the first view.
        state["data"]["items"] = {"mode": ["folder"], "folder": ["/"], "include_subfolders": ["on"]}
    parent_id = parse_pk(request.GET.get("parent", ""))
    if request.GET.get("type") == "qa" and parent_id is not None:
        state["data"]["type"] = {"kind": ["qa"], "parent": [str(parent_id)], "qa_intake": ["on"]}
        if not mode:
            # Every item with a status in the parent; the items step can narrow them.
            state["data"]["items"] = {"mode": ["all"]}
    wizard.save(request, wid, state)
    return redirect(wizard.step_url(wid, "items"))


def _render_step(request: AuthedHttpRequest, wid, state, dataset, step, built, *, status=200):
    count = wizard.count_items(built["items"], built["type"], dataset)
    context = {
        "wid": wid,
        "state": state,
        "dataset": dataset,
        "project": dataset.project,
        "step": step,
        "steps": wizard.steps_nav(wid, step, state),
        "form": built.get(step),
        "count": count,
        "kind": wizard.kind_of(built),
        "kind_label": wizard.kind_label(wizard.kind_of(built)),
        "qa_unchosen": wizard.qa_parent_missing(built),
        "folders": dataset_queries.dataset_folders(dataset) if step == "items" else [],
        "next_step": wizard.STEPS[wizard.STEPS.index(step) + 1] if step != "review" else None,
        "prev_step": wizard.STEPS[wizard.STEPS.index(step) - 1] if step != "items" else None,
    }
    if step == "people":
        context["load_sum"] = wizard.load_sum(built["people"])
    return render(request, f"annotation/wizard_{step}.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def wizard_step(request: AuthedHttpRequest, wid: str, step: str):
    if step not in wizard.STEPS:
        raise Http404("No such step.")
    state, dataset = wizard.load(request, wid)
    if state.get("task_id"):
        return redirect("dashboards:task-detail", state["task_id"])
    if step == "review":
        return wizard_review(request, wid, state, dataset)
    if request.method == "POST":
        wizard.store_step(state, step, request.POST)
        wizard.save(request, wid, state)
        goto = request.POST.get("goto")
        if goto in wizard.STEPS and wizard.STEPS.index(goto) < wizard.STEPS.index(step):
            # Going back keeps what was typed, valid or not.
            return redirect(wizard.step_url(wid, goto))
        built = wizard.build_forms(request, state, dataset)
        form = built[step]
        valid = form.is_valid()
        if step == "items":
            valid = wizard.count_items(form, built["type"], dataset) is not None and form.is_valid()
        if valid:
            next_step = goto if goto in wizard.STEPS else wizard.STEPS[wizard.STEPS.index(step) + 1]
            return redirect(wizard.step_url(wid, next_step))
        return _render_step(request, wid, state, dataset, step, built)
    built = wizard.build_forms(request, state, dataset)
    if state["data"].get(step) is None:
        # Not entered yet: an unbound form with its defaults, without errors.
        built[step] = wizard.unbound_form(dataset, step, built)
    return _render_step(request, wid, state, dataset, step, built)


@login_required
@require_POST
def wizard_validate(request: AuthedHttpRequest, wid: str, step: str):
    """As-you-type validation: keeps what was typed and answers with the errors, count and sum."""
    if step not in ("items", "type", "people"):
        raise Http404("No such step.")
    state, dataset = wizard.load(request, wid)
    wizard.store_step(state, step, request.POST)
    wizard.save(request, wid, state)
    built = wizard.build_forms(request, state, dataset)
    form = built[step]
    form.is_valid()
    context = {
        "wid": wid,
        "dataset": dataset,
        "step": step,
        "form": form,
        "count": wizard.count_items(built["items"], built["type"], dataset) if step in ("items", "type") else None,
        "kind": wizard.kind_of(built),
        "qa_unchosen": wizard.qa_parent_missing(built),
        "load_sum": wizard.load_sum(form) if step == "people" else None,
        "touched": wizard.touched_fields(request.POST),
    }
    return render(request, "annotation/_wizard_feedback.html", context)


def wizard_review(request: AuthedHttpRequest, wid, state, dataset):
    step, built = wizard.first_invalid_step(request, state, dataset)
    if step is not None:
        return redirect(wizard.step_url(wid, step))
    try:
        summary = wizard.summary(wid=wid, dataset=dataset, built=built, by=request.user)
    except ValidationError as exc:
        return _render_service_errors(request, wid, state, dataset, built, exc)
    return render(
        request,
        "annotation/wizard_review.html",
        {
            "wid": wid,
            "dataset": dataset,
            "project": dataset.project,
            "step": "review",
            "steps": wizard.steps_nav(wid, "review", state),
            "s": summary,
            "prev_step": "people",
        },
    )


def _go(request: AuthedHttpRequest, url):
    """Redirect, through HX-Redirect when htmx asked."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _task_by_key(dataset, wid):
    return AnnotationTask.objects.filter(project=dataset.project, idempotency_key=wid).first()


@login_required
@require_POST
def wizard_create(request: AuthedHttpRequest, wid: str):
    state, dataset = wizard.load(request, wid)
    existing = _task_by_key(dataset, wid)
    if existing is not None:
        return _go(request, reverse("dashboards:task-detail", args=[existing.pk]))
    if state.get("job_id"):
        return _go(request, reverse("annotation:wizard-job", args=[wid]))
    step, built = wizard.first_invalid_step(request, state, dataset)
    if step is not None:
        return _go(request, wizard.step_url(wid, step))
    try:
        result = creation.task_create_start(
            spec=wizard.spec_from(wid=wid, dataset=dataset, built=built), by=request.user
        )
    except ValidationError as exc:
        return _render_service_errors(request, wid, state, dataset, built, exc)
    except IntegrityError:
        # The same draft was created by a concurrent click; show that task.
        existing = _task_by_key(dataset, wid)
        if existing is None:
            raise
        return _go(request, reverse("dashboards:task-detail", args=[existing.pk]))
    if result.task is not None:
        state["task_id"] = result.task.pk
        wizard.save(request, wid, state)
        messages.success(request, f"Task “{result.task.name}” created.")
        return _go(request, reverse("dashboards:task-detail", args=[result.task.pk]))
    assert result.job is not None  # no task made in the request: a job is making it
    state["job_id"] = result.job.pk
    wizard.save(request, wid, state)
    return _go(request, reverse("annotation:wizard-job", args=[wid]))


def _render_service_errors(request: AuthedHttpRequest, wid, state, dataset, built, exc):
    """Puts each service error beside its field on the step that owns it and shows the first such step."""
    by_step: dict[str, dict] = {}
    messages_ = exc.message_dict if hasattr(exc, "error_dict") else {"selection": exc.messages}
    for key, errors in messages_.items():
        step, field = wizard.ERROR_PLACES.get(key, ("items", "mode"))
        if key.startswith("load_"):
            step, field = "people", key
        by_step.setdefault(step, {}).setdefault(field, []).extend(errors)
    first = next(s for s in wizard.STEPS if s in by_step)
    form = built[first]
    for field, errors in by_step[first].items():
        for message in errors:
            form.add_error(field if field in form.fields else None, message)
    response = _render_step(request, wid, state, dataset, first, built)
    if request.htmx:
        response["HX-Retarget"] = "body"
        response["HX-Push-Url"] = wizard.step_url(wid, first)
    return response


@login_required
def wizard_job(request: AuthedHttpRequest, wid: str):
    """Progress of a task being created by a job; lands on the task once it exists."""
    state, dataset = wizard.load(request, wid)
    task = _task_by_key(dataset, wid)
    job = Job.objects.filter(pk=state.get("job_id"), created_by=request.user).first() if state.get("job_id") else None
    if job is not None:
        job = job_services.job_watched(job=job)
        task = task or _task_by_key(dataset, wid)
    if task is not None and (job is None or job.state == JobState.SUCCEEDED):
        state["task_id"] = task.pk
        wizard.save(request, wid, state)
        return _go(request, reverse("dashboards:task-detail", args=[task.pk]))
    if job is None:
        return redirect(wizard.step_url(wid, "review"))
    context = {"wid": wid, "job": job, "dataset": dataset, "project": dataset.project, "job_partial": _job_partial()}
    if request.htmx:
        return render(request, "annotation/wizard_job.html#job-status", context)
    return render(request, "annotation/wizard_job.html", context)


def _job_partial() -> str | None:
    """The jobs app's progress fragment, when it is installed; the page has a plain bar otherwise."""
    try:
        get_template(JOB_PROGRESS_PARTIAL)
    except TemplateDoesNotExist:
        return None
    return JOB_PROGRESS_PARTIAL


@login_required
@require_POST
def wizard_retry(request: AuthedHttpRequest, wid: str):
    """After a failed job: a fresh draft with the same answers (the failed job wrote nothing)."""
    state, dataset = wizard.load(request, wid)
    new_wid = uuid.uuid4().hex
    wizard.save(
        request,
        new_wid,
        {
            "dataset": dataset.pk,
            "data": state["data"],
            "task_id": None,
            "job_id": None,
            "started": timezone.now().timestamp(),
        },
    )
    return redirect(wizard.step_url(new_wid, "review"))


# ---------------------------------------------------------------- task page
