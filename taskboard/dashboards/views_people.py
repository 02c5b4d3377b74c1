"""The people view (distribution control): each person's load, pace, pauses, caps and leases in a
project, and the manager's levers beside them: pause or resume (one task or everywhere), hand their
unstarted items to others, cap them in a task; and the stuck work panel and rule. Thin views over
`annotation.people`, `annotation.bulk_jobs` (hand-offs), `annotation.caps` and `work.stuck`; each person lever
answers the person's row again (htmx) or the page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.accounts.models import User
from taskboard.annotation import bulk_jobs, caps, people
from taskboard.annotation import queries as annotation_queries
from taskboard.annotation.models import AnnotationTask
from taskboard.dashboards import forms
from taskboard.dashboards.people_view import people_rows
from taskboard.projects import queries as project_queries
from taskboard.projects.access import role_of
from taskboard.work import stuck


def _context(project, rows):
    tasks = list(AnnotationTask.objects.filter(project=project, closed_at__isnull=True).order_by("name"))
    return {"project": project, "rows": rows, "tasks": tasks}


@require_GET
@login_required
def people_control(request: AuthedHttpRequest, project_id: int):
    project = project_queries.project_for_manager(request.user, project_id)
    return render(request, "dashboards/people_control.html", _context(project, people_rows(project)))


def _person(project, user_id: int) -> User:
    user = get_object_or_404(User, pk=user_id)
    if role_of(user, project) is None:
        raise ValidationError({"user": "Not a member of this project."})
    return user


def _answer(request: AuthedHttpRequest, project, user_id: int):
    if request.htmx:
        context = _context(project, people_rows(project, only_user_id=user_id))
        context["row"] = context["rows"][0] if context["rows"] else None
        return render(request, "dashboards/people_control.html#person", context)
    return redirect(reverse("dashboards:people-control", args=[project.pk]))


def _lever(request: AuthedHttpRequest, project_id: int, user_id: int, act):
    project = project_queries.project_for_manager(request.user, project_id)
    form = forms.PersonLeverForm(request.POST, project=project)
    try:
        if not form.is_valid():
            raise ValidationError(form.errors.get_json_data())
        user = _person(project, user_id)
        messages.success(request, act(project, user, form.cleaned_data))
    except ValidationError as exc:
        messages.error(request, " ".join(str(m) for m in exc.messages))
    return _answer(request, project, user_id)


def _where(data) -> str:
    return f"in {data['task'].name}" if data.get("task") else "everywhere"


@require_POST
@login_required
def person_pause(request: AuthedHttpRequest, project_id: int, user_id: int):
    def act(project, user, data):
        people.pause_person(project=project, user=user, task=data.get("task"), by=request.user, reason=data["reason"])
        return f"{user.email} is paused {_where(data)}."

    return _lever(request, project_id, user_id, act)


@require_POST
@login_required
def person_resume(request: AuthedHttpRequest, project_id: int, user_id: int):
    def act(project, user, data):
        lifted = people.resume_person(project=project, user=user, task=data.get("task"), by=request.user)
        return f"{user.email} resumed {_where(data)}." if lifted else f"{user.email} was not paused {_where(data)}."

    return _lever(request, project_id, user_id, act)


@require_POST
@login_required
def person_hand_off(request: AuthedHttpRequest, project_id: int, user_id: int):
    """Hand a person's unstarted items to others; when they hold many, a job whose page shows the
    progress bar (the people view is left for it)."""
    project = project_queries.project_for_manager(request.user, project_id)
    form = forms.PersonLeverForm(request.POST, project=project)
    try:
        if not form.is_valid():
            raise ValidationError(form.errors.get_json_data())
        user = _person(project, user_id)
        started = bulk_jobs.person_hand_off_start(
            project=project, user=user, by=request.user, task=form.cleaned_data.get("task")
        )
    except ValidationError as exc:
        messages.error(request, " ".join(str(m) for m in exc.messages))
        return _answer(request, project, user_id)
    if started.job is not None:
        url = reverse("jobs:job-detail", args=[started.job.pk])
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    done = started.hand_offs
    moved = sum(h.moved for h in done)
    queued = sum(h.to_queue for h in done)
    skipped = [f"{h.task.name} ({h.skipped})" for h in done if h.skipped]
    text = f"{user.email}: {moved} unstarted item(s) handed to others, {queued} back to the queue."
    messages.success(request, text + (f" Not moved: {', '.join(skipped)}." if skipped else ""))
    return _answer(request, project, user_id)


@require_POST
@login_required
def person_cap(request: AuthedHttpRequest, project_id: int, user_id: int):
    def act(project, user, data):
        task = data.get("task")
        if task is None:
            raise ValidationError({"task": "A cap is set in one task: choose it."})
        cap = caps.cap_set(
            task=task, user=user, by=request.user, max_items=data.get("max_items"), max_share=data.get("max_share")
        )
        return f"{user.email} capped in {task.name}." if cap else f"{user.email}'s cap in {task.name} lifted."

    return _lever(request, project_id, user_id, act)


# --- Stuck work ----------------------------------------------------------------------------------------


@require_GET
@login_required
def stuck_panel(request: AuthedHttpRequest, project_id: int):
    """The project's stuck work: items flagged untouched past their task's limit, still open."""
    project = project_queries.project_for_manager(request.user, project_id)
    items = stuck.stuck_items(project_id=project.pk)[:500]
    context = {"project": project, "items": items, "unwatched": stuck.unwatched_tasks(project_id=project.pk)}
    return render(request, "dashboards/stuck.html", context)


@require_POST
@login_required
def task_stuck_policy(request: AuthedHttpRequest, pk: int):
    task = annotation_queries.task_for_manager(request.user, pk)
    form = forms.StuckPolicyForm(request.POST)
    if form.is_valid():
        try:
            stuck.stuck_policy_set(
                task=task,
                after_hours=form.cleaned_data["after_hours"],
                action=form.cleaned_data["action"],
                by=request.user,
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, "Stuck work rule saved.")
    else:
        messages.error(request, " ".join(str(m) for errs in form.errors.values() for m in errs))
    return redirect(reverse("dashboards:task-detail", args=[task.pk]) + "#task-stuck")


@require_POST
@login_required
def task_stuck_sweep(request: AuthedHttpRequest, pk: int):
    """Look for stuck work in the task now, rather than at the next periodic sweep."""
    task = annotation_queries.task_for_manager(request.user, pk)
    stuck.stuck_resolve_touched()
    swept = stuck.stuck_sweep_task(task=task)
    messages.success(request, f"{swept.flagged} stuck item(s) found, {swept.moved} handed on.")
    return redirect(reverse("dashboards:task-detail", args=[task.pk]) + "#task-stuck")
