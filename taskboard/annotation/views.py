"""The create-task wizard and the task page with its actions.

Wizard state lives in the session under a wizard id; the id is also the idempotency key the
task is created with, so a double click, a resubmit or a second tab all land on one task.
"""

import datetime
import uuid

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
from django.utils.datastructures import MultiValueDict
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from taskboard.annotation import forms, progress
from taskboard.annotation import queries as annotation_queries
from taskboard.annotation.models import AnnotationTask, Priority, TaskType
from taskboard.annotation.selection import Selection
from taskboard.annotation.workload import WorkloadUnit, equal_loads, split_counts
from taskboard.datasets import queries as dataset_queries
from taskboard.inputs import parse_pk
from taskboard.jobs import services as job_services
from taskboard.jobs.models import Job, JobState

JOB_PROGRESS_PARTIAL = "jobs/_job_progress_partial.html"
STEPS = ["items", "type", "people", "review"]
STEP_TITLES = {"items": "Items", "type": "Task type", "people": "People and dates", "review": "Review"}
SESSION_PREFIX = "wizard:"
# Where a service error about a field is shown: {service field: (step, form field)}.
ERROR_PLACES = {
    "selection": ("items", "mode"),
    "query": ("items", "dql"),
    "limit": ("items", "mode"),
    "parent": ("type", "parent"),
    "batch_size": ("type", "batch_size"),
    "max_batch_workload": ("type", "max_batch_workload"),
    "consensus_percentage": ("type", "consensus_percentage"),
    "consensus_assignees": ("type", "consensus_assignees"),
    "allocation": ("type", "kind"),
    "task_type": ("type", "kind"),
    "qa_intake": ("type", "qa_intake"),
    "name": ("people", "name"),
    "assignees": ("people", "assignees"),
    "allowed_assignees": ("people", "assignees"),
    "workload": ("people", "split"),
    "due_at": ("people", "due_at"),
    "priority": ("people", "priority"),
    "recipe": ("people", "recipe"),
    "owner": ("people", "owner"),
    "lock_after_due": ("people", "lock_after_due"),
}
# The field beside which "no items match" shows, per selection mode.
EMPTY_SELECTION_FIELD = {
    "folder": "folder",
    "annotated": "annotated",
    "task_status": "task_status",
    "unassigned": "mode",
    "list": "items",
    "all": "mode",
    "filter": "dql",
}


def _services():
    # Imported late: the services module imports models of several apps.
    from taskboard.annotation import services

    return services


def select_items(*, dataset, selection):
    from taskboard.annotation.selection import select_items as select

    return select(dataset=dataset, selection=selection)


# ---------------------------------------------------------------- wizard state


def _session_key(wid: str) -> str:
    return SESSION_PREFIX + wid


def _load_wizard(request, wid):
    """(state, dataset) for this user's wizard; 404 for an unknown id or a dataset they no longer manage."""
    state = request.session.get(_session_key(wid))
    if not state:
        raise Http404("This task draft has expired; start again from the dataset.")
    dataset = dataset_queries.dataset_for_manager(request.user, state["dataset"])
    return state, dataset


def _save_wizard(request, wid, state):
    request.session[_session_key(wid)] = state
    request.session.modified = True


def _step_data(state, step):
    stored = state["data"].get(step)
    return MultiValueDict(stored) if stored is not None else None


def _store_step(state, step, querydict):
    state["data"][step] = {
        key: querydict.getlist(key) for key in querydict if key not in ("csrfmiddlewaretoken", "goto")
    }


def _suggest_name(dataset, type_form) -> str:
    parent = type_form.cleaned_data.get("parent") if type_form.is_valid() else None
    if parent is not None and type_form.cleaned_data.get("kind") == "qa":
        base = f"{parent.name}_qa"
    else:
        base = f"{dataset.name} {timezone.localdate():%Y-%m-%d}"
    name, n = base, 1
    taken = set(
        AnnotationTask.objects.filter(project=dataset.project, name__startswith=base).values_list("name", flat=True)
    )
    while name in taken:
        n += 1
        name = f"{base} ({n})"
    return name


def _build_forms(request, state, dataset, *, step=None, data=None):
    """Every step's form, bound to what was entered; `data` replaces the stored data of `step`."""

    def bound(name):
        return data if name == step and data is not None else _step_data(state, name)

    items = forms.ItemsForm(bound("items"), dataset=dataset)
    type_ = forms.TypeForm(bound("type"), dataset=dataset)
    kind = type_.cleaned_data.get("kind") if type_.is_valid() else (type_.data.get("kind") or "annotation")
    consensus_assignees = type_.cleaned_data.get("consensus_assignees") if type_.is_valid() else None
    parent = type_.cleaned_data.get("parent") if type_.is_valid() else None
    initial = {
        "due_at": forms.default_due_at(),
        "owner": (parent.created_by_id if parent else request.user.pk),
        "recipe": parent.recipe_id if parent else getattr(dataset.default_recipe, "pk", None),
        "name": _suggest_name(dataset, type_),
        "priority": 2,
        "split": "equal",
    }
    people = forms.PeopleForm(
        bound("people"),
        initial=initial,
        project=dataset.project,
        dataset=dataset,
        kind=kind,
        consensus_assignees=consensus_assignees if kind == "consensus" else None,
    )
    return {"items": items, "type": type_, "people": people}


def _qa_items(dataset, parent, selection):
    """A QA task's items: the parent's items with a status, narrowed by the selection if any."""
    items = select_items(
        dataset=dataset, selection=Selection(mode="task_status", task_id=parent.pk, task_status="any")
    )
    if selection is not None and selection.mode != "all":
        items = items.filter(pk__in=select_items(dataset=dataset, selection=selection).values("pk"))
    return items


def _count_items(items_form, type_form, dataset) -> int | None:
    """The matching count for a valid items form, adding the service's selection errors to the form."""
    if not items_form.is_valid():
        return None
    selection = items_form.selection
    qa_parent = None
    if type_form.is_valid() and type_form.cleaned_data["kind"] == "qa":
        qa_parent = type_form.cleaned_data["parent"]
    try:
        if qa_parent is not None:
            count = _qa_items(dataset, qa_parent, selection).count()
        else:
            count = _services().selection_count(dataset=dataset, selection=selection)
    except ValidationError as exc:
        _add_errors(items_form, exc, default=EMPTY_SELECTION_FIELD.get(selection.mode, "mode"))
        return None
    if count == 0 and qa_parent is None:
        items_form.add_error(EMPTY_SELECTION_FIELD.get(selection.mode, "mode"), "No items match.")
    return count


def _add_errors(form, exc: ValidationError, *, default=None):
    if hasattr(exc, "error_dict"):
        for key, errors in exc.message_dict.items():
            # A selection error belongs beside the field that made the selection.
            place = (
                default
                if key == "selection"
                else key
                if key in form.fields
                else ERROR_PLACES.get(key, (None, default))[1]
            )
            if place not in form.fields:
                place = default if default in form.fields else None
            for message in errors:
                form.add_error(place, message)
    else:
        for message in exc.messages:
            form.add_error(default, message)


def _first_invalid_step(request, state, dataset, built=None):
    built = built or _build_forms(request, state, dataset)
    if state["data"].get("items") is None or _count_items(built["items"], built["type"], dataset) is None:
        return "items", built
    if not built["items"].is_valid():
        return "items", built
    for step in ("type", "people"):
        if state["data"].get(step) is None or not built[step].is_valid():
            return step, built
    return None, built


def _step_url(wid, step):
    return reverse("annotation:wizard-step", args=[wid, step])


def _steps_nav(wid, current, state):
    return [
        {
            "key": key,
            "title": STEP_TITLES[key],
            "url": _step_url(wid, key),
            "current": key == current,
            "entered": key in state["data"],
        }
        for key in STEPS
    ]


# ---------------------------------------------------------------- wizard views


MAX_DRAFTS = 20


def _prune_drafts(request):
    """Keeps the session small: only the newest drafts survive."""
    drafts = sorted(
        (key for key in request.session.keys() if key.startswith(SESSION_PREFIX)),  # noqa: SIM118 (no __iter__)
        key=lambda key: request.session[key].get("started", 0),
    )
    for key in drafts[: max(len(drafts) - MAX_DRAFTS + 1, 0)]:
        del request.session[key]


@login_required
def wizard_start(request):
    """Starts a draft for a dataset, optionally seeded by the item browser or the task page."""
    dataset_id = parse_pk(request.GET.get("dataset", ""))
    if dataset_id is None:
        raise Http404("No such dataset.")
    dataset = dataset_queries.dataset_for_manager(request.user, dataset_id)
    _prune_drafts(request)
    wid = uuid.uuid4().hex
    state = {"dataset": dataset.pk, "data": {}, "task_id": None, "job_id": None, "started": timezone.now().timestamp()}
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
    _save_wizard(request, wid, state)
    return redirect(_step_url(wid, "items"))


def _render_step(request, wid, state, dataset, step, built, *, status=200):
    count = _count_items(built["items"], built["type"], dataset)
    context = {
        "wid": wid,
        "state": state,
        "dataset": dataset,
        "project": dataset.project,
        "step": step,
        "steps": _steps_nav(wid, step, state),
        "form": built.get(step),
        "count": count,
        "kind": _kind(built),
        "folders": dataset_queries.dataset_folders(dataset) if step == "items" else [],
        "next_step": STEPS[STEPS.index(step) + 1] if step != "review" else None,
        "prev_step": STEPS[STEPS.index(step) - 1] if step != "items" else None,
    }
    if step == "people":
        context["load_sum"] = _load_sum(built["people"])
    return render(request, f"annotation/wizard_{step}.html", context, status=status)


def _kind(built) -> str:
    form = built["type"]
    if form.is_valid():
        return form.cleaned_data["kind"]
    return form.data.get("kind") or "annotation" if form.is_bound else "annotation"


def _load_sum(form) -> int:
    return forms.typed_load_sum(form)


@login_required
@require_http_methods(["GET", "POST"])
def wizard_step(request, wid, step):
    if step not in STEPS:
        raise Http404("No such step.")
    state, dataset = _load_wizard(request, wid)
    if state.get("task_id"):
        return redirect("dashboards:task-detail", state["task_id"])
    if step == "review":
        return wizard_review(request, wid, state, dataset)
    if request.method == "POST":
        _store_step(state, step, request.POST)
        _save_wizard(request, wid, state)
        goto = request.POST.get("goto")
        if goto in STEPS and STEPS.index(goto) < STEPS.index(step):
            # Going back keeps what was typed, valid or not.
            return redirect(_step_url(wid, goto))
        built = _build_forms(request, state, dataset)
        form = built[step]
        valid = form.is_valid()
        if step == "items":
            valid = _count_items(form, built["type"], dataset) is not None and form.is_valid()
        if valid:
            next_step = goto if goto in STEPS else STEPS[STEPS.index(step) + 1]
            return redirect(_step_url(wid, next_step))
        return _render_step(request, wid, state, dataset, step, built)
    built = _build_forms(request, state, dataset)
    if state["data"].get(step) is None:
        # Not entered yet: an unbound form with its defaults, without errors.
        built[step] = _unbound(request, state, dataset, step, built)
    return _render_step(request, wid, state, dataset, step, built)


def _unbound(request, state, dataset, step, built):
    form = built[step]
    kwargs = {"dataset": dataset}
    if step == "items":
        return forms.ItemsForm(**kwargs)
    if step == "type":
        return forms.TypeForm(**kwargs)
    return forms.PeopleForm(
        initial=form.initial,
        project=dataset.project,
        dataset=dataset,
        kind=form.kind,
        consensus_assignees=form.consensus_assignees,
    )


@login_required
@require_POST
def wizard_validate(request, wid, step):
    """As-you-type validation: keeps what was typed and answers with the errors, count and sum."""
    if step not in ("items", "type", "people"):
        raise Http404("No such step.")
    state, dataset = _load_wizard(request, wid)
    _store_step(state, step, request.POST)
    _save_wizard(request, wid, state)
    built = _build_forms(request, state, dataset)
    form = built[step]
    form.is_valid()
    context = {
        "wid": wid,
        "dataset": dataset,
        "step": step,
        "form": form,
        "count": _count_items(built["items"], built["type"], dataset) if step in ("items", "type") else None,
        "kind": _kind(built),
        "load_sum": _load_sum(form) if step == "people" else None,
    }
    return render(request, "annotation/_wizard_feedback.html", context)


def _pace(users) -> dict[int, float]:
    return annotation_queries.seconds_per_item(users)


def wizard_review(request, wid, state, dataset):
    step, built = _first_invalid_step(request, state, dataset)
    if step is not None:
        return redirect(_step_url(wid, step))
    summary = _summary(request, state, dataset, built)
    return render(
        request,
        "annotation/wizard_review.html",
        {
            "wid": wid,
            "dataset": dataset,
            "project": dataset.project,
            "step": "review",
            "steps": _steps_nav(wid, "review", state),
            "s": summary,
            "prev_step": "people",
        },
    )


def _summary(request, state, dataset, built) -> dict:
    items, type_, people = built["items"], built["type"], built["people"]
    kind = type_.cleaned_data["kind"]
    selection = items.selection
    if kind == "qa":
        matched = _qa_items(dataset, type_.cleaned_data["parent"], selection)
    else:
        matched = select_items(dataset=dataset, selection=selection)
    count = matched.count()
    assignees = list(people.cleaned_data["assignees"])
    if people.workload:
        loads = [load for _, load in people.workload]
        assignees = [user for user, _ in people.workload]
    else:
        loads = equal_loads(len(assignees))
    split = []
    if kind == "pulling":
        batch = type_.cleaned_data["batch_size"]
        first = min(batch * len(assignees), count)
        per = [min(batch, max(count - batch * i, 0)) for i in range(len(assignees))]
        split = list(zip(assignees, loads, per, strict=True))
        queued = count - first
    else:
        queued = 0
        copies = 0
        if kind == "consensus":
            consensus_items = round(count * type_.cleaned_data["consensus_percentage"] / 100)
            copies = consensus_items * type_.cleaned_data["consensus_assignees"]
            plain = count - consensus_items
            # Each consensus copy goes to a different person; spread as evenly as the loads allow.
            counts = [a + b for a, b in zip(split_counts(plain, loads), split_counts(copies, loads), strict=True)]
        else:
            counts = split_counts(count, loads)
        split = list(zip(assignees, loads, counts, strict=True))
    pace = _pace(assignees)
    estimate = None
    if split and all(user.pk in pace for user, _, _ in split):
        # Everyone works in parallel: the task ends when the slowest share is done.
        per_person = [pace[user.pk] * n for user, _, n in split]
        if kind == "pulling":
            per_person = [pace[user.pk] * count / len(split) for user, _, _ in split]
        seconds = max(per_person) if per_person else 0
        estimate = {"hours": seconds / 3600, "at": timezone.now() + datetime.timedelta(seconds=seconds)}
    return {
        "kind": kind,
        "kind_label": dict(forms.TASK_KINDS)[kind],
        "type": type_.cleaned_data,
        "items": items.cleaned_data,
        "mode_label": dict(forms.ITEM_MODES)[items.cleaned_data["mode"]],
        "selection": selection,
        "count": count,
        "split": split,
        "queued": queued,
        "consensus_copies": copies if kind == "consensus" else 0,
        # A QA task's items are in its parent by definition; only other tasks are worth a warning.
        "in_other_tasks": annotation_queries.items_in_other_open_tasks(
            matched, exclude_task=type_.cleaned_data.get("parent") if kind == "qa" else None
        )
        if count
        else 0,
        "pace": pace,
        "estimate": estimate,
        "people": people.cleaned_data,
        "priority_label": Priority(people.cleaned_data["priority"]).label,
        "custom_split": bool(people.workload),
        "due_overrun": estimate is not None and estimate["at"] > people.cleaned_data["due_at"],
    }


def _create_kwargs(request, wid, dataset, built) -> dict:
    items, type_, people = built["items"], built["type"], built["people"]
    kind = type_.cleaned_data["kind"]
    t, p = type_.cleaned_data, people.cleaned_data
    selection = items.selection
    if kind == "qa" and selection is not None and selection.mode == "all":
        selection = None
    workload = [WorkloadUnit(user, load) for user, load in people.workload] if people.workload else None
    return {
        "dataset": dataset,
        "created_by": request.user,
        "name": p["name"],
        "selection": selection,
        "task_type": TaskType.QA if kind == "qa" else TaskType.ANNOTATION,
        "parent": t.get("parent") if kind == "qa" else None,
        "workload": workload if kind != "pulling" else None,
        "assignees": None if workload and kind != "pulling" else list(p["assignees"]),
        "due_at": p["due_at"],
        "priority": p["priority"],
        "recipe": p["recipe"],
        "owner": p["owner"],
        "allocation": "pulling" if kind == "pulling" else "distribution",
        "batch_size": t.get("batch_size") if kind == "pulling" else None,
        "max_batch_workload": t.get("max_batch_workload") if kind == "pulling" else None,
        "consensus_percentage": t.get("consensus_percentage") if kind == "consensus" else None,
        "consensus_assignees": t.get("consensus_assignees") if kind == "consensus" else None,
        "qa_intake": bool(t.get("qa_intake")) if kind == "qa" else True,
        "lock_after_due": bool(p.get("lock_after_due")),
        "idempotency_key": wid,
    }


def _go(request, url):
    """Redirect, through HX-Redirect when htmx asked."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _task_by_key(dataset, wid):
    return AnnotationTask.objects.filter(project=dataset.project, idempotency_key=wid).first()


@login_required
@require_POST
def wizard_create(request, wid):
    state, dataset = _load_wizard(request, wid)
    existing = _task_by_key(dataset, wid)
    if existing is not None:
        return _go(request, reverse("dashboards:task-detail", args=[existing.pk]))
    if state.get("job_id"):
        return _go(request, reverse("annotation:wizard-job", args=[wid]))
    step, built = _first_invalid_step(request, state, dataset)
    if step is not None:
        return _go(request, _step_url(wid, step))
    try:
        result = _services().task_create_start(**_create_kwargs(request, wid, dataset, built))
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
        _save_wizard(request, wid, state)
        messages.success(request, f"Task “{result.task.name}” created.")
        return _go(request, reverse("dashboards:task-detail", args=[result.task.pk]))
    state["job_id"] = result.job.pk
    _save_wizard(request, wid, state)
    return _go(request, reverse("annotation:wizard-job", args=[wid]))


def _render_service_errors(request, wid, state, dataset, built, exc):
    """Puts each service error beside its field on the step that owns it and shows the first such step."""
    by_step: dict[str, dict] = {}
    messages_ = exc.message_dict if hasattr(exc, "error_dict") else {"selection": exc.messages}
    for key, errors in messages_.items():
        step, field = ERROR_PLACES.get(key, ("items", "mode"))
        if key.startswith("load_"):
            step, field = "people", key
        by_step.setdefault(step, {}).setdefault(field, []).extend(errors)
    first = next(s for s in STEPS if s in by_step)
    form = built[first]
    for field, errors in by_step[first].items():
        for message in errors:
            form.add_error(field if field in form.fields else None, message)
    response = _render_step(request, wid, state, dataset, first, built)
    if request.htmx:
        response["HX-Retarget"] = "body"
        response["HX-Push-Url"] = _step_url(wid, first)
    return response


@login_required
def wizard_job(request, wid):
    """Progress of a task being created by a job; lands on the task once it exists."""
    state, dataset = _load_wizard(request, wid)
    task = _task_by_key(dataset, wid)
    job = Job.objects.filter(pk=state.get("job_id"), created_by=request.user).first() if state.get("job_id") else None
    if job is not None:
        job = job_services.job_watched(job=job)
        task = task or _task_by_key(dataset, wid)
    if task is not None and (job is None or job.state == JobState.SUCCEEDED):
        state["task_id"] = task.pk
        _save_wizard(request, wid, state)
        return _go(request, reverse("dashboards:task-detail", args=[task.pk]))
    if job is None:
        return redirect(_step_url(wid, "review"))
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
def wizard_retry(request, wid):
    """After a failed job: a fresh draft with the same answers (the failed job wrote nothing)."""
    state, dataset = _load_wizard(request, wid)
    new_wid = uuid.uuid4().hex
    _save_wizard(
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
    return redirect(_step_url(new_wid, "review"))


# ---------------------------------------------------------------- task page


ACTION_TEXT = {
    "task_add_items.html": ("Add items", "Add items"),
    "task_remove_items.html": ("Remove items", "Remove items"),
    "task_reassign.html": ("Reassign an assignment", "Reassign"),
    "task_redistribute.html": ("Redistribute an assignment", "Redistribute"),
    "task_close.html": ("Close the task", "Close task"),
}


ITEM_ACTIONS = {"task_add_items.html": "add-items", "task_remove_items.html": "remove-items"}


def _posted(request):
    # An empty POST is still a submission: `request.POST or None` would show an unbound form.
    return request.POST if request.method == "POST" else None


def _closed(request, task):
    """A closed task's item and assignment actions lead back to its page, with the reason (the
    services refuse them too)."""
    messages.error(request, "This task is closed; its items and assignments no longer change.")
    return _go(request, reverse("dashboards:task-detail", args=[task.pk]))


def _action_page(request, task, template, form, **extra):
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
def task_add_items(request, pk):
    task = annotation_queries.task_for_manager(request.user, pk)
    if task.is_closed:
        return _closed(request, task)
    form = forms.AddItemsForm(_posted(request), task=task)
    if request.method == "POST" and form.is_valid():
        try:
            result = _services().task_add_items(
                task=task,
                selection=form.selection,
                by=request.user,
                assignees=list(form.cleaned_data.get("assignees") or []) or None,
                to_queue=bool(form.cleaned_data.get("to_queue")),
            )
        except ValidationError as exc:
            _add_errors(form, exc, default=EMPTY_SELECTION_FIELD.get(form.selection.mode, "mode"))
        else:
            skipped = f" {result.skipped} were already in the task." if result.skipped else ""
            messages.success(request, f"Added {result.added} item{'s' if result.added != 1 else ''}.{skipped}")
            return _go(request, reverse("dashboards:task-detail", args=[task.pk]))
    return _action_page(request, task, "task_add_items.html", form)


@login_required
@require_http_methods(["GET", "POST"])
def task_remove_items(request, pk):
    task = annotation_queries.task_for_manager(request.user, pk)
    if task.is_closed:
        return _closed(request, task)
    form = forms.RemoveItemsForm(_posted(request), task=task)
    if request.method == "POST" and form.is_valid():
        try:
            result = _services().task_remove_items(task=task, selection=form.selection, by=request.user)
        except ValidationError as exc:
            _add_errors(form, exc, default=EMPTY_SELECTION_FIELD.get(form.selection.mode, "mode"))
        else:
            kept = f" {result.kept} with a status were kept." if result.kept else ""
            messages.success(request, f"Removed {result.removed} item{'s' if result.removed != 1 else ''}.{kept}")
            return _go(request, reverse("dashboards:task-detail", args=[task.pk]))
    return _action_page(request, task, "task_remove_items.html", form)


ITEM_ACTION_FORMS = {"add-items": forms.AddItemsForm, "remove-items": forms.RemoveItemsForm}


@login_required
@require_POST
def task_items_validate(request, pk, action):
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
            count = _services().selection_count(dataset=task.dataset, selection=form.selection)
        except ValidationError as exc:
            _add_errors(form, exc, default=EMPTY_SELECTION_FIELD.get(form.selection.mode, "mode"))
        else:
            if count == 0:
                form.add_error(EMPTY_SELECTION_FIELD.get(form.selection.mode, "mode"), "No items match.")
    return render(
        request, "annotation/_wizard_feedback.html", {"form": form, "step": "items", "count": count, "kind": ""}
    )


@login_required
@require_http_methods(["GET", "POST"])
def task_reassign(request, pk):
    task = annotation_queries.task_for_manager(request.user, pk)
    if task.is_closed:
        return _closed(request, task)
    initial = {"assignment": request.GET.get("assignment")} if request.method == "GET" else None
    form = forms.ReassignForm(_posted(request), initial=initial, task=task)
    if request.method == "POST" and form.is_valid():
        try:
            _services().assignment_reassign(
                assignment=form.cleaned_data["assignment"], to_user=form.cleaned_data["to_user"], by=request.user
            )
        except ValidationError as exc:
            _add_errors(form, exc, default="to_user")
        else:
            messages.success(
                request,
                f"Undone items of {form.cleaned_data['assignment'].assignee.email} moved to "
                f"{form.cleaned_data['to_user'].email}.",
            )
            return _go(request, reverse("dashboards:task-detail", args=[task.pk]))
    return _action_page(request, task, "task_reassign.html", form)


@login_required
@require_http_methods(["GET", "POST"])
def task_redistribute(request, pk):
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
            _services().assignment_redistribute(
                assignment=form.cleaned_data["assignment"], workload=workload, by=request.user
            )
        except ValidationError as exc:
            _add_errors(form, exc, default="assignees")
        else:
            messages.success(
                request, f"Undone items of {form.cleaned_data['assignment'].assignee.email} redistributed."
            )
            return _go(request, reverse("dashboards:task-detail", args=[task.pk]))
    return _action_page(request, task, "task_redistribute.html", form, load_sum=_load_sum(form))


@login_required
@require_http_methods(["GET", "POST"])
def task_close(request, pk):
    task = annotation_queries.task_for_manager(request.user, pk)
    form = forms.CloseForm(_posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            _services().task_close(task=task, by=request.user)
        except ValidationError as exc:
            _add_errors(form, exc, default="confirm")
        else:
            messages.success(request, f"Task “{task.name}” closed.")
            return _go(request, reverse("dashboards:task-detail", args=[task.pk]))
    return _action_page(request, task, "task_close.html", form, progress=progress.task_progress(task))
