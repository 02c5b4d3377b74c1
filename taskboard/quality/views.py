"""The quality pages: a project's settings and figures, a task's gates. Thin over services/queries."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.accounts.models import User
from taskboard.annotation import queries as annotation_queries
from taskboard.annotation.models import AnnotationTask, TaskType
from taskboard.datasets.models import Item, Label
from taskboard.projects import queries as project_queries
from taskboard.projects.access import get_or_404
from taskboard.quality import honeypots, qualification, queries, reasons, review_honeypots, sampling, services
from taskboard.quality.forms import (
    GroundTruthFromTaskForm,
    PayRateForm,
    ProjectPayForm,
    ProjectQualityForm,
    RejectReasonForm,
    SamplingForm,
    TaskQualityForm,
)
from taskboard.quality.models import RejectReason, ReviewHoneypot


def _errors(request: AuthedHttpRequest, error: ValidationError) -> None:
    for message in error.messages:
        messages.error(request, message)


@login_required
@require_http_methods(["GET", "POST"])
def project_quality(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    project = project_queries.project_for_manager(request.user, project_id)
    form = ProjectQualityForm(request.POST or None, instance=queries.settings_for(project))
    if request.method == "POST" and form.is_valid():
        try:
            services.project_quality_update(
                project=project, by=request.user, idle_cutoff_seconds=form.cleaned_data["idle_cutoff_seconds"]
            )
        except ValidationError as error:
            _errors(request, error)
        else:
            messages.success(request, "Quality settings saved.")
            return redirect(reverse("quality:project", args=[project.pk]))
    context: dict[str, Any] = {
        "project": project,
        "form": form,
        "times": queries.active_time_by_person(project),
        "truth_form": GroundTruthFromTaskForm(project=project),
        "truth_count": queries.ground_truth_count(project),
        "scores": queries.scores(project=project),
        "reasons": queries.project_reasons(project),
        "reason_form": RejectReasonForm(),
        "pay_form": ProjectPayForm(instance=queries.settings_for(project)),
        "pay_rates": queries.pay_rates(project),
    }
    return render(request, "quality/project.html", context)


@login_required
@require_POST
def ground_truth_from_task(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    project = project_queries.project_for_manager(request.user, project_id)
    form = GroundTruthFromTaskForm(request.POST, project=project)
    if not form.is_valid():
        for message in form.errors.values():
            messages.error(request, " ".join(str(m) for m in message))
    else:
        try:
            n = honeypots.ground_truth_from_task(
                task=form.cleaned_data["task"], status=form.cleaned_data["status"], by=request.user
            )
        except ValidationError as error:
            _errors(request, error)
        else:
            messages.success(request, f"{n} items are ground truth now.")
    return redirect(reverse("quality:project", args=[project.pk]) + "#ground-truth")


@login_required
@require_http_methods(["GET", "POST"])
def task_quality(request: AuthedHttpRequest, task_id: int) -> HttpResponse:
    task = annotation_queries.task_for_manager(request.user, task_id)
    if task.type == TaskType.QA:
        return _qa_task_quality(request, task)
    form = TaskQualityForm(request.POST or None, instance=queries.task_rule(task))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            with transaction.atomic():
                services.task_quality_update(
                    task=task,
                    by=request.user,
                    honeypot_rate=data["honeypot_rate"],
                    pause_below=data["pause_below"],
                    pause_after=data["pause_after"],
                )
                qualification.qualification_update(
                    task=task,
                    by=request.user,
                    items=data["qualification_items"],
                    pass_mark=data["qualification_pass"],
                    attempts=data["qualification_attempts"],
                )
        except ValidationError as error:
            _errors(request, error)
        else:
            messages.success(request, "Quality gates saved.")
            return redirect(reverse("quality:task", args=[task.pk]))
    context: dict[str, Any] = {
        "task": task,
        "project": task.project,
        "form": form,
        "honeypots": queries.honeypot_count(task),
        "truth_count": queries.ground_truth_count(task.project),
        "scores": queries.scores(task=task),
        "qualified": qualification.qualification_people(task),
    }
    context.update(_errors_context(request, task))
    return render(request, "quality/task.html", context)


def _errors_context(request: AuthedHttpRequest, task: AnnotationTask) -> dict[str, Any]:
    errors_task = reasons.task_of(task)
    annotator_id = _annotator_param(request)
    return {
        "errors_task": errors_task,
        "annotator_id": annotator_id,
        "bars": queries.errors_by_reason(errors_task, annotator_id=annotator_id),
        "people_errors": queries.errors_by_person(errors_task),
    }


def _qa_task_quality(request: AuthedHttpRequest, task: AnnotationTask) -> HttpResponse:
    form = SamplingForm(request.POST or None, instance=queries.task_rule(task))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            sampling.sampling_update(
                qa_task=task,
                by=request.user,
                on=data["sampling"],
                floor=data["sample_floor"],
                new=data["sample_new"],
                step=data["sample_step"],
                min_score=data["sample_min_score"],
            )
        except ValidationError as error:
            _errors(request, error)
        else:
            messages.success(request, "Review sampling saved.")
            return redirect(reverse("quality:task", args=[task.pk]))
    context: dict[str, Any] = {
        "task": task,
        "project": task.project,
        "sampling_form": form,
        "rule": queries.task_rule(task),
        "sampling_rows": sampling.sampling_table(task),
        "decoy_queues": review_honeypots.queue_shares(task),
        "decoys_waiting": ReviewHoneypot.objects.filter(qa_task=task, outcome="").count(),
        "decoys_decided": ReviewHoneypot.objects.filter(qa_task=task).exclude(outcome="").count(),
        **_errors_context(request, task),
    }
    return render(request, "quality/task.html", context)


@login_required
@require_POST
def honeypots_mix(request: AuthedHttpRequest, task_id: int) -> HttpResponse:
    task = annotation_queries.task_for_manager(request.user, task_id)
    try:
        n = honeypots.honeypots_mix(task=task, by=request.user)
    except ValidationError as error:
        _errors(request, error)
    else:
        messages.success(request, f"{n} honeypots mixed in." if n else "The task already has its share of honeypots.")
    return redirect(reverse("quality:task", args=[task.pk]))


@login_required
@require_POST
def reason_add(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    project = project_queries.project_for_manager(request.user, project_id)
    form = RejectReasonForm(request.POST)
    if form.is_valid():
        try:
            reasons.reason_add(
                project=project,
                by=request.user,
                name=form.cleaned_data["name"],
                needs_comment=form.cleaned_data["needs_comment"],
            )
        except ValidationError as error:
            _errors(request, error)
    else:
        messages.error(request, "A reason needs a name of 1 to 100 characters.")
    return redirect(reverse("quality:project", args=[project.pk]) + "#reasons")


@login_required
@require_POST
def reason_toggle(request: AuthedHttpRequest, project_id: int, reason_id: int) -> HttpResponse:
    project = project_queries.project_for_manager(request.user, project_id)
    reason = get_object_or_404(RejectReason, pk=reason_id, project=project)
    reasons.reason_set_active(reason=reason, by=request.user, active=not reason.active)
    return redirect(reverse("quality:project", args=[project.pk]) + "#reasons")


def _annotator_param(request: AuthedHttpRequest) -> int | None:
    raw = request.GET.get("annotator", "")
    return int(raw) if raw.isdigit() else None


@login_required
@require_GET
def task_rejections(request: AuthedHttpRequest, task_id: int) -> HttpResponse:
    task = reasons.task_of(annotation_queries.task_for_manager(request.user, task_id))
    reason = request.GET.get("reason") or None
    annotator_id = _annotator_param(request)
    rows = queries.rejections(task, reason=reason, annotator_id=annotator_id)
    context: dict[str, Any] = {"task": task, "project": task.project, "rows": rows, "reason": reason}
    return render(request, "quality/rejections.html", context)


def _task_for_worker(request: AuthedHttpRequest, task_id: int) -> AnnotationTask:
    return get_or_404(AnnotationTask.objects.visible_to(request.user), task_id, "task")


@login_required
@require_GET
def qualify(request: AuthedHttpRequest, task_id: int) -> HttpResponse:
    task = _task_for_worker(request, task_id)
    state = qualification.qualification_of(task=task, user=request.user)
    context: dict[str, Any] = {"task": task, "state": state, "items": []}
    attempt = state.open_attempt
    if attempt is not None:
        by_id = {i.pk: i for i in Item.objects.filter(pk__in=attempt.item_ids)}
        context["items"] = [by_id[i] for i in attempt.item_ids if i in by_id]
        context["statuses"] = list(task.statuses.all())
        context["labels"] = list(Label.objects.filter(recipe_id=task.recipe_id))
    return render(request, "quality/qualify.html", context)


@login_required
@require_POST
def qualify_start(request: AuthedHttpRequest, task_id: int) -> HttpResponse:
    task = _task_for_worker(request, task_id)
    try:
        qualification.attempt_start(task=task, user=request.user)
    except ValidationError as error:
        _errors(request, error)
    return redirect(reverse("quality:qualify", args=[task.pk]))


@login_required
@require_POST
def qualify_submit(request: AuthedHttpRequest, task_id: int) -> HttpResponse:
    task = _task_for_worker(request, task_id)
    state = qualification.qualification_of(task=task, user=request.user)
    if state.open_attempt is None:
        messages.error(request, "There is no open attempt to submit.")
        return redirect(reverse("quality:qualify", args=[task.pk]))
    answers = {
        item_id: (request.POST.get(f"status-{item_id}", ""), request.POST.getlist(f"labels-{item_id}"))
        for item_id in state.open_attempt.item_ids
    }
    try:
        attempt = qualification.attempt_submit(attempt=state.open_attempt, by=request.user, answers=answers)
    except ValidationError as error:
        _errors(request, error)
        return redirect(reverse("quality:qualify", args=[task.pk]))
    n = len(attempt.item_ids)
    if attempt.passed:
        messages.success(request, f"Passed: {attempt.right} of {n} right. You can work in {task.name} now.")
    else:
        messages.error(request, f"Not passed: {attempt.right} of {n} right.")
    return redirect(reverse("quality:qualify", args=[task.pk]))


@login_required
@require_POST
def qualify_reset(request: AuthedHttpRequest, task_id: int, user_id: int) -> HttpResponse:
    task = annotation_queries.task_for_manager(request.user, task_id)
    person = get_object_or_404(User, pk=user_id)
    n = qualification.attempts_reset(task=task, user=person, by=request.user)
    messages.success(request, f"{person.email} has {n} attempt{'s' if n != 1 else ''} back.")
    return redirect(reverse("quality:task", args=[task.pk]) + "#qualification")


@login_required
@require_POST
def pay_settings(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    project = project_queries.project_for_manager(request.user, project_id)
    form = ProjectPayForm(request.POST, instance=queries.settings_for(project))
    if form.is_valid():
        try:
            services.project_pay_update(
                project=project,
                by=request.user,
                default_hourly_rate=form.cleaned_data["default_hourly_rate"],
                currency=form.cleaned_data["currency"],
            )
        except ValidationError as error:
            _errors(request, error)
    else:
        messages.error(request, "Give a rate of 0 or more and a three-letter currency.")
    return redirect(reverse("quality:project", args=[project.pk]) + "#pay")


@login_required
@require_POST
def pay_rate(request: AuthedHttpRequest, project_id: int) -> HttpResponse:
    project = project_queries.project_for_manager(request.user, project_id)
    form = PayRateForm(request.POST)
    if form.is_valid():
        person = get_object_or_404(User, pk=form.cleaned_data["user"])
        try:
            services.pay_rate_set(
                project=project, user=person, by=request.user, hourly_rate=form.cleaned_data["hourly_rate"]
            )
        except ValidationError as error:
            _errors(request, error)
    else:
        messages.error(request, "A rate is a number of 0 or more with at most two decimals.")
    return redirect(reverse("quality:project", args=[project.pk]) + "#pay")


@login_required
@require_POST
def review_honeypots_seed(request: AuthedHttpRequest, task_id: int) -> HttpResponse:
    """Set the QA task's review honeypot rate and top every reviewer's queue up to it."""
    task = annotation_queries.task_for_manager(request.user, task_id)
    raw = request.POST.get("honeypot_rate", "").strip()
    if not raw.isdigit():
        messages.error(request, "The review honeypot rate is a whole number of percent, 0 to 50.")
        return redirect(reverse("quality:task", args=[task.pk]) + "#review-honeypots")
    rule = queries.task_rule(task)
    try:
        with transaction.atomic():
            services.task_quality_update(
                task=task,
                by=request.user,
                honeypot_rate=int(raw),
                pause_below=rule.pause_below,
                pause_after=rule.pause_after,
            )
            n = review_honeypots.review_honeypots_seed(qa_task=task, by=request.user) if int(raw) else 0
    except ValidationError as error:
        _errors(request, error)
    else:
        messages.success(
            request,
            f"{n} known-wrong answers seeded into the reviewers' queues."
            if n
            else "Saved: every reviewer's queue has its share of known-wrong answers.",
        )
    return redirect(reverse("quality:task", args=[task.pk]) + "#review-honeypots")
