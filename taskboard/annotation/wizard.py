"""The create-task wizard's state machine: a draft in the session, one form per step, and the task spec
the finished draft stands for.

A draft is keyed by a random id, holds what was typed at each step (valid or not) and is checked
again as a whole before the review and at creation. The spec (`spec_from`) is what the API and
pipeline nodes also build; the review shows its plan, the numbers creation will make.
"""

import datetime
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.datastructures import MultiValueDict

from taskboard.annotation import forms
from taskboard.annotation import queries as annotation_queries
from taskboard.annotation.models import AnnotationTask, Priority, TaskType
from taskboard.annotation.spec import Consensus, Load, Pulling, TaskSpec, equal_people, selected_items
from taskboard.datasets import queries as dataset_queries

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


MAX_DRAFTS = 20


def prune_drafts(request: HttpRequest):
    """Keeps the session small: only the newest drafts survive."""
    drafts = sorted(
        (key for key in request.session.keys() if key.startswith(SESSION_PREFIX)),  # noqa: SIM118 (no __iter__)
        key=lambda key: request.session[key].get("started", 0),
    )
    for key in drafts[: max(len(drafts) - MAX_DRAFTS + 1, 0)]:
        del request.session[key]


def session_key(wid: str) -> str:
    return SESSION_PREFIX + wid


def load(request: HttpRequest, wid):
    """(state, dataset) for this user's wizard; 404 for an unknown id or a dataset they no longer manage."""
    state = request.session.get(session_key(wid))
    if not state:
        raise Http404("This task draft has expired; start again from the dataset.")
    dataset = dataset_queries.dataset_for_manager(request.user, state["dataset"])
    return state, dataset


def save(request: HttpRequest, wid, state):
    request.session[session_key(wid)] = state
    request.session.modified = True


def step_data(state, step):
    stored = state["data"].get(step)
    return MultiValueDict(stored) if stored is not None else None


def store_step(state, step, querydict):
    state["data"][step] = {
        key: querydict.getlist(key) for key in querydict if key not in ("csrfmiddlewaretoken", "goto", "_touched")
    }


def suggest_name(dataset, type_form) -> str:
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


def build_forms(request: HttpRequest, state, dataset, *, step=None, data=None):
    """Every step's form, bound to what was entered; `data` replaces the stored data of `step`."""

    def bound(name):
        return data if name == step and data is not None else step_data(state, name)

    items = forms.ItemsForm(bound("items"), dataset=dataset)
    type_ = forms.TypeForm(bound("type"), dataset=dataset)
    kind = type_.cleaned_data.get("kind") if type_.is_valid() else (type_.data.get("kind") or "annotation")
    consensus_assignees = type_.cleaned_data.get("consensus_assignees") if type_.is_valid() else None
    parent = type_.cleaned_data.get("parent") if type_.is_valid() else None
    initial = {
        "due_at": forms.default_due_at(),
        "owner": (parent.created_by_id if parent else request.user.pk),
        "recipe": parent.recipe_id if parent else getattr(dataset.default_recipe, "pk", None),
        "name": suggest_name(dataset, type_),
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


def count_items(items_form, type_form, dataset) -> int | None:
    """The matching count for a valid items form (what the task will start with), adding the
    selection's errors to the form."""
    if not items_form.is_valid():
        return None
    selection = items_form.selection
    qa_parent = None
    if type_form.is_valid() and type_form.cleaned_data["kind"] == "qa":
        qa_parent = type_form.cleaned_data["parent"]
    try:
        count = selected_items(dataset=dataset, selection=selection, parent=qa_parent).count()
    except ValidationError as exc:
        add_errors(items_form, exc, default=EMPTY_SELECTION_FIELD.get(selection.mode, "mode"))
        return None
    if count == 0 and qa_parent is None:
        items_form.add_error(EMPTY_SELECTION_FIELD.get(selection.mode, "mode"), "No items match.")
    return count


def add_errors(form, exc: ValidationError, *, default=None):
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


def first_invalid_step(request: HttpRequest, state, dataset, built=None):
    built = built or build_forms(request, state, dataset)
    if state["data"].get("items") is None or count_items(built["items"], built["type"], dataset) is None:
        return "items", built
    if not built["items"].is_valid():
        return "items", built
    for step in ("type", "people"):
        if state["data"].get(step) is None or not built[step].is_valid():
            return step, built
    return None, built


def step_url(wid, step):
    return reverse("annotation:wizard-step", args=[wid, step])


def steps_nav(wid, current, state):
    return [
        {
            "key": key,
            "title": STEP_TITLES[key],
            "url": step_url(wid, key),
            "current": key == current,
            "entered": key in state["data"],
        }
        for key in STEPS
    ]


def qa_parent_missing(built) -> bool:
    """A QA task chosen without the task it reviews: there is nothing to count yet."""
    form = built["type"]
    return kind_of(built) == "qa" and not (form.is_valid() and form.cleaned_data.get("parent"))


def kind_label(kind: str) -> str:
    """How the wizard names a kind of task ("QA review of a task"), never its key."""
    return dict(forms.TASK_KINDS).get(kind, kind)


def kind_of(built) -> str:
    form = built["type"]
    if form.is_valid():
        return form.cleaned_data["kind"]
    return form.data.get("kind") or "annotation" if form.is_bound else "annotation"


def load_sum(form) -> int:
    return forms.typed_load_sum(form)


def unbound_form(dataset, step, built):
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


def spec_from(*, wid: str, dataset, built) -> TaskSpec:
    """The task the draft's valid forms describe."""
    items, type_, people = built["items"], built["type"], built["people"]
    kind = type_.cleaned_data["kind"]
    t, p = type_.cleaned_data, people.cleaned_data
    selection = items.selection
    if kind == "qa" and selection is not None and selection.mode == "all":
        selection = None
    if people.workload and kind != "pulling":
        loads = tuple(Load(user_id=user.pk, share=load) for user, load in people.workload)
    else:
        loads = equal_people(user.pk for user in p["assignees"])
    return TaskSpec(
        dataset_id=dataset.pk,
        name=p["name"],
        type=TaskType.QA if kind == "qa" else TaskType.ANNOTATION,
        parent_id=t["parent"].pk if kind == "qa" and t.get("parent") else None,
        selection=selection,
        people=loads,
        pulling=Pulling(batch_size=t.get("batch_size"), max_batch_workload=t.get("max_batch_workload"))
        if kind == "pulling"
        else None,
        consensus=Consensus(percentage=t.get("consensus_percentage"), assignees=t.get("consensus_assignees"))
        if kind == "consensus"
        else None,
        due_at=p["due_at"],
        priority=p["priority"],
        recipe_id=p["recipe"].pk if p.get("recipe") else None,
        owner_id=p["owner"].pk if p.get("owner") else None,
        qa_intake=bool(t.get("qa_intake")) if kind == "qa" else True,
        lock_after_due=bool(p.get("lock_after_due")),
        idempotency_key=wid,
    )


def summary(*, wid: str, dataset, built, by) -> dict:
    """What the review step shows: the spec's plan (exactly what creation makes), and an estimate.

    Raises ValidationError when the spec breaks a rule the steps could not see (a name taken since)."""
    items, type_, people = built["items"], built["type"], built["people"]
    kind = type_.cleaned_data["kind"]
    checked = spec_from(wid=wid, dataset=dataset, built=built).check(by=by)
    plan = checked.plan()
    pace = annotation_queries.seconds_per_item([share.user for share in plan.shares])
    estimate = None
    if plan.shares and all(share.user.pk in pace for share in plan.shares):
        # Everyone works in parallel: the task ends when the slowest share is done. Pulling people
        # share the whole queue.
        if kind == "pulling":
            per_person = [pace[s.user.pk] * plan.total / len(plan.shares) for s in plan.shares]
        else:
            per_person = [pace[s.user.pk] * s.items for s in plan.shares]
        seconds = max(per_person)
        estimate = {"hours": seconds / 3600, "at": timezone.now() + datetime.timedelta(seconds=seconds)}
    matched = checked.items
    return {
        "kind": kind,
        "kind_label": dict(forms.TASK_KINDS)[kind],
        "type": type_.cleaned_data,
        "items": items.cleaned_data,
        "mode_label": dict(forms.ITEM_MODES)[items.cleaned_data["mode"]],
        "selection": items.selection,
        "count": plan.total,
        "split": [(share.user, share.share, share.items) for share in plan.shares],
        "queued": plan.queued,
        "consensus_copies": plan.copies,
        "consensus_items": plan.originals,
        # A consensus task's work is its copies: each consensus item is labelled per_item times.
        "labelled_once": plan.total - plan.originals,
        "to_label": plan.total - plan.originals + plan.copies,
        # A QA task's items are in its parent by definition; only other tasks are worth a warning.
        "in_other_tasks": annotation_queries.items_in_other_open_tasks(
            matched, exclude_task=type_.cleaned_data.get("parent") if kind == "qa" else None
        )
        if plan.total and matched is not None
        else 0,
        "pace": pace,
        "estimate": estimate,
        "people": people.cleaned_data,
        "priority_label": Priority(people.cleaned_data["priority"]).label,
        "custom_split": bool(people.workload),
        "due_overrun": estimate is not None and estimate["at"] > people.cleaned_data["due_at"],
    }


def touched_fields(data: Mapping[str, Any]) -> set[str] | None:
    """The fields the person has been in (wizard.js sends them as `_touched`): only those show their
    errors as the person types; "Next" shows them all. None (every field's errors) for a request that
    does not say, as a client without wizard.js."""
    if "_touched" not in data:
        return None
    raw = data.get("_touched", "")
    return set(raw.split(",")) - {""} if isinstance(raw, str) else set()
