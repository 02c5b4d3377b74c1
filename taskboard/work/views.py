"""My work and the one-item-at-a-time work view. Plain forms that redirect; work.js adds keys."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.annotation import progress as task_progress
from taskboard.annotation import queries as annotation_queries
from taskboard.annotation import skips
from taskboard.annotation.models import Assignment, AssignmentKind, TaskType
from taskboard.annotation.people import is_paused
from taskboard.datasets.models import Label
from taskboard.quality import review_honeypots
from taskboard.quality.qualification import qualification_of
from taskboard.quality.reasons import reasons_offered
from taskboard.work import flow, queries, services
from taskboard.work.forms import CLEAR, BeatForm, LabelForm, RejectForm, StatusForm
from taskboard.work.views_discussion import item_page_url, threads_context

# Letters the work view keeps for itself: next, previous, reject, get more.
RESERVED_KEYS = {"n", "p", "r", "g"}
PREFERRED_KEYS = {"completed": "c", "complete": "c", "discard": "d", "approved": "a", "approve": "a"}


def _status_shortcuts(statuses) -> dict[str, str]:
    taken = set(RESERVED_KEYS)
    keys: dict[str, str] = {}
    for status in statuses:
        wanted = PREFERRED_KEYS.get(status.key)
        if wanted and wanted not in taken:
            keys[status.key] = wanted
            taken.add(wanted)
    for status in statuses:
        if status.key in keys:
            continue
        for char in status.key.lower() + status.label.lower():
            if char.isalpha() and char not in taken:
                keys[status.key] = char
                taken.add(char)
                break
    return keys


def _errors(request: AuthedHttpRequest, error: ValidationError) -> None:
    for message in error.messages:
        messages.error(request, message)


def _item_url(task_item) -> str:
    return reverse("work:item", args=[task_item.assignment_id, task_item.pk])


@require_GET
@login_required
def my_work(request: AuthedHttpRequest):
    rows = queries.my_work(user=request.user)
    gates = queries.my_work_gates(user=request.user, rows=rows)
    entries = [(row, gates.get(row.task.pk) if row.task is not None else None) for row in rows]
    return render(request, "work/my_work.html", {"entries": entries})


@require_GET
@login_required
def work_view(request: AuthedHttpRequest, assignment_id: int, task_item_id: int | None = None):
    """One item at a time. The page is read in a handful of queries whatever the task's size: the item
    with its neighbours, the task's progress (which holds this assignment's), labels, history."""
    task_item = None
    if task_item_id is None:
        assignment = annotation_queries.assignment_for_viewer(request.user, assignment_id)
        first = queries.first_open_item(assignment)
        if first is not None:
            return redirect(_item_url(first))
        paused = is_paused(user=request.user, task=assignment.task) if assignment.task.is_pulling else False
        stopped = False  # no item here to set a status on
    else:
        task_item, around = queries.task_item_page(
            request.user, assignment_id=assignment_id, task_item_id=task_item_id
        )
        assignment = task_item.assignment
        paused, stopped = around.holder_paused, around.holder_stopped
    task = assignment.task
    if assignment.assignee_id == request.user.pk:
        qualification = qualification_of(task=task, user=request.user)
        if qualification.blocked:
            # The qualification page says why (a flash as well said it twice).
            return redirect(reverse("quality:qualify", args=[task.pk]))

    numbers = task_progress.task_progress(task)
    progress = numbers.row_of(assignment.pk) or task_progress.assignment_progress(assignment)
    statuses = [status for status, _ in numbers.statuses]
    shortcuts = _status_shortcuts(statuses)
    for status in statuses:
        status.shortcut = shortcuts.get(status.key, "")
    is_holder = assignment.assignee_id == request.user.pk
    paused = is_holder and task.is_pulling and paused
    stopped = is_holder and stopped
    context = {
        "assignment": assignment,
        "task": task,
        "progress": progress,
        "statuses": statuses,
        "is_holder": is_holder,
        "can_work": is_holder and task.accepts_work and not stopped,
        "stopped": stopped,
        "is_qa": task.type == TaskType.QA,
        "task_progress": numbers,
        "paused": paused,
        "may_pull": is_holder
        and not paused
        and services.pulling_may_pull(assignment, progress)
        and numbers.queued > 0,
        "queue_size": numbers.queued if task.is_pulling else 0,
        "task_item": task_item,
    }
    if task_item is not None:
        item = task_item.item
        next_item = queries.task_item_with_item(around.next_id) if around.next_id else None
        context.update(
            item=item,
            item_src=item.src,
            position=around.position,
            next_item=next_item,
            next_src=next_item.item.src if next_item else "",
            previous_item_id=around.previous_id,
            labels=queries.labels_with_choice(task_item=task_item),
            parent_annotations=queries.parent_annotations(task_item=task_item),
            parent_item=queries.parent_task_item(task_item),
            shown=review_honeypots.shown_answer(task_item) if task.type == TaskType.QA else None,
            history=queries.item_history(item, task=task),
            status_label={s.key: s for s in statuses}.get(task_item.status) if task_item.status else None,
            item_page=item_page_url(task, item),
            # Each label's and each status's form posts here: reversed once, not once per button.
            label_action=reverse("work:item-label", args=[assignment.pk, task_item.pk]),
            status_action=reverse("work:item-status", args=[assignment.pk, task_item.pk]),
            **threads_context(task=task, item=item, back=_item_url(task_item)),
            reject_reasons=reasons_offered(task.project_id) if task.type == TaskType.QA else [],
        )
    return render(request, "work/work_item.html", context)


def _load(request: AuthedHttpRequest, assignment_id: int, task_item_id: int):
    task_item = queries.task_item_for_viewer(request.user, assignment_id=assignment_id, task_item_id=task_item_id)
    return task_item.assignment, task_item


@require_POST
@login_required
def item_status(request: AuthedHttpRequest, assignment_id: int, task_item_id: int):
    task_item, following = queries.task_item_for_status(
        request.user, assignment_id=assignment_id, task_item_id=task_item_id
    )
    assignment = task_item.assignment
    task = assignment.task
    form = StatusForm(request.POST)
    if not form.is_valid():
        messages.error(request, str(form.errors["status"][0]))
        return redirect(_item_url(task_item))
    if assignment.assignee_id != request.user.pk:
        # Managers may look; only the person holding the item decides its status (issue 4, access).
        messages.error(request, "Only the person this item is assigned to can set its status.")
        return redirect(_item_url(task_item))
    if task.type == TaskType.QA and task_item.rework:
        messages.error(request, "This item is with its annotator for rework; it comes back here when fixed.")
        return redirect(_item_url(task_item))
    status = form.cleaned_data["status"]
    try:
        if status == CLEAR:
            flow.item_status_clear(task=task, item=task_item.item, by=request.user, copy=task_item.copy)
            return redirect(_item_url(task_item))
        flow.item_status_set(task=task, item=task_item.item, status=status, by=request.user, copy=task_item.copy)
    except ValidationError as error:
        _errors(request, error)
        return redirect(_item_url(task_item))
    except PermissionDenied as error:
        messages.error(request, str(error))
        return redirect(_item_url(task_item))
    if following is None and task.is_pulling:
        # The change may have brought the next batch (pulling refill): the first of it, if so.
        first = queries.first_open_item(assignment)
        following = first.pk if first is not None else None
    if following is None:
        messages.success(request, "All items in this assignment have a status.")
        return redirect(_item_url(task_item))
    return redirect(reverse("work:item", args=[assignment.pk, following]))


@require_POST
@login_required
def item_label(request: AuthedHttpRequest, assignment_id: int, task_item_id: int):
    assignment, task_item = _load(request, assignment_id, task_item_id)
    form = LabelForm(request.POST)
    if form.is_valid():
        label = get_object_or_404(Label, pk=form.cleaned_data["label"], recipe_id=assignment.task.recipe_id)
        try:
            services.item_label_toggle(task_item=task_item, label=label, by=request.user)
        except ValidationError as error:
            _errors(request, error)
        except PermissionDenied as error:
            messages.error(request, str(error))
    else:
        messages.error(request, "Choose a label.")
    return redirect(_item_url(task_item))


@require_POST
@login_required
def item_reject(request: AuthedHttpRequest, assignment_id: int, task_item_id: int):
    assignment, task_item = _load(request, assignment_id, task_item_id)
    form = RejectForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, str(errors[0]))
        return redirect(_item_url(task_item))
    try:
        flow.item_reject(
            qa_task_item=task_item,
            comment=form.cleaned_data["comment"],
            reason_id=form.cleaned_data["reason"],
            by=request.user,
        )
    except ValidationError as error:
        _errors(request, error)
        return redirect(_item_url(task_item))
    # The same words and the same next page for a caught known-wrong answer: the reviewer is not told
    # which items were seeded. After the last open item that is the assignment's page, since a caught
    # one has left the queue and has no page of its own any more.
    messages.success(request, "Sent back to the annotator for rework.")
    following = queries.next_open_item(task_item)
    if following is None:
        return redirect(reverse("work:assignment", args=[assignment.pk]))
    return redirect(_item_url(following))


@require_POST
@login_required
def item_beat(request: AuthedHttpRequest, assignment_id: int, task_item_id: int):
    _, task_item = _load(request, assignment_id, task_item_id)
    form = BeatForm(request.POST)
    if not form.is_valid():
        return HttpResponse(status=400)
    services.item_time_beat(
        task_item=task_item,
        by=request.user,
        marks_ago_ms=form.cleaned_data["marks"],
        ended_ago_ms=form.cleaned_data["ended"],
    )
    return HttpResponse(status=204)


@require_POST
@login_required
def get_more(request: AuthedHttpRequest, assignment_id: int):
    assignment = annotation_queries.assignment_for_viewer(request.user, assignment_id)
    try:
        claimed = services.pulling_get_more(assignment=assignment, by=request.user)
    except ValidationError as error:
        _errors(request, error)
    else:
        if claimed:
            messages.success(request, f"{claimed} more items arrived.")
        else:
            messages.info(request, "The queue is empty: no more items to pull.")
    return redirect(reverse("work:assignment", args=[assignment.pk]))


@require_POST
@login_required
def next_work(request: AuthedHttpRequest):
    """ "Get next work": a batch from the highest-priority task the person may pull from."""
    found = services.next_work(user=request.user)
    if found.task is None:
        messages.info(request, "Nothing to pull now: every queue you may pull from is empty, or you hold enough.")
        for task, why in found.passed_over:
            # The gate that kept them out, said: else a queue with work waiting looks empty to them.
            messages.info(request, f"{task.name}: {why}")
        return redirect(reverse("work:my-work"))
    messages.success(request, f"{found.claimed} items arrived from {found.task.name}.")
    assignment = Assignment.objects.get(task=found.task, assignee=request.user, kind=AssignmentKind.WORK)
    return redirect(reverse("work:assignment", args=[assignment.pk]))


@require_POST
@login_required
def item_skip(request: AuthedHttpRequest, assignment_id: int, task_item_id: int):
    """The holder skips the item; it goes where the task's skip rule says, and the next one opens."""
    assignment, task_item = _load(request, assignment_id, task_item_id)
    try:
        skip = skips.item_skip(task_item=task_item, by=request.user, reason=request.POST.get("reason", ""))
    except ValidationError as error:
        _errors(request, error)
        return redirect(_item_url(task_item))
    messages.success(request, f"Skipped: the item went to {skip.went_to}.")
    following = queries.first_open_item(assignment)
    if following is None:
        return redirect(reverse("work:assignment", args=[assignment.pk]))
    return redirect(_item_url(following))
