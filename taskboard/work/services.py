"""Writes made while people work: labels, active time, and pulling the next batch.

A status change and what it sets off (QA, rework, consensus, refills, pipelines) is `flow`;
the QA loop is `qa`; consensus agreement is `consensus`.
"""

from __future__ import annotations

import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Sum
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation import priority
from taskboard.annotation.leases import lease_renew
from taskboard.annotation.models import (
    AnnotationTask,
    Assignment,
    AssignmentKind,
    TaskItem,
)
from taskboard.annotation.people import is_paused, require_not_stopped
from taskboard.annotation.priority import NextWork
from taskboard.annotation.progress import Progress, assignment_progress
from taskboard.annotation.pulling import pulling_claim
from taskboard.annotation.statuses import StatusChange
from taskboard.datasets.models import Annotation, Item, Label
from taskboard.projects.models import Project
from taskboard.quality.activity import activity_record, marks_from_ages, to_ms
from taskboard.quality.qualification import NotQualified, qualification_of, require_qualified
from taskboard.sql import upsert_add
from taskboard.work import signals
from taskboard.work.models import AssignmentTime, ItemTime


def require_holder(task_item: TaskItem, by: User, field: str = "status") -> None:
    if task_item.assignment.assignee_id != by.pk or task_item.assignment.kind != AssignmentKind.WORK:
        raise ValidationError({field: "Only the person this item is assigned to can work on it."})


def require_work_allowed(task: AnnotationTask, by: User) -> None:
    """The one gate on working in a task (a status, a label), for the work page and the API alike:
    WorkRefused, a 403 for the whole task, while a pause that stops work holds `by` there or a
    qualification is not passed. Asked once `by` is known to hold the item: someone else is told
    only the holder decides, not to take a qualification for an item that is not theirs."""
    require_not_stopped(task=task, user=by)
    require_qualified(task=task, user=by)


def require_open(task: AnnotationTask, field: str = "status") -> None:
    if not task.accepts_work:
        if task.is_open:
            raise ValidationError({field: "This task is locked after its due date."})
        raise ValidationError({field: "This task is closed."})


# --- Labels --------------------------------------------------------------------------------------------


@transaction.atomic
def item_label_toggle(*, task_item: TaskItem, label: Label, by: User) -> Annotation | None:
    """Choose a label on an item (an annotation by `by` in this task), or un-choose it.

    Returns the new annotation, or None when the label was removed.
    """
    task = task_item.task
    require_holder(task_item, by, "label")
    require_open(task, "label")
    require_work_allowed(task, by)
    if label.recipe_id != task.recipe_id:
        raise ValidationError({"label": "This label is not in the task's recipe."})
    existing = Annotation.objects.filter(task=task, item_id=task_item.item_id, created_by=by, label=label)
    if existing.exists():
        existing.delete()
        annotation = None
    else:
        annotation = Annotation.objects.create(
            item_id=task_item.item_id, task=task, label=label, label_name=label.name, created_by=by
        )
    Item.objects.filter(pk=task_item.item_id).update(
        annotated=Exists(Annotation.objects.filter(item_id=OuterRef("pk")))
    )
    return annotation


# --- Active time ---------------------------------------------------------------------------------------


@transaction.atomic
def item_time_beat(
    *,
    task_item: TaskItem,
    by: User,
    marks_ago_ms: list[int],
    ended_ago_ms: int | None = None,
    now: datetime.datetime | None = None,
) -> ItemTime | None:
    """Record a heartbeat: the signs of activity the work view saw on this item, each given as how
    long before `now` it happened, and, when the page was hidden or lost the focus, how long ago
    its last input was. The time they add follows the idle cut-off rule (`quality/activity.py`):
    gaps up to the cut-off count, longer ones and the one after a span's end do not, and a moment
    reported by two tabs counts once. Managers looking at someone's assignment record nothing.
    """
    if task_item.assignment.assignee_id != by.pk:
        return None
    now = now or timezone.now()
    # Working on a pulled item keeps the holder's batches theirs.
    lease_renew(assignment_id=task_item.assignment_id, task=task_item.task, now=now)
    seconds = activity_record(
        user_id=by.pk,
        task_id=task_item.task_id,
        assignment_id=task_item.assignment_id,
        item_id=task_item.item_id,
        project_id=task_item.task.project_id,
        marks_ms=marks_from_ages(now=now, ages_ms=marks_ago_ms),
        ended_ms=None if ended_ago_ms is None else to_ms(now) - ended_ago_ms,
    )
    row, created = ItemTime.objects.select_for_update().get_or_create(
        assignment_id=task_item.assignment_id,
        item_id=task_item.item_id,
        user=by,
        defaults={"task_id": task_item.task_id, "active_seconds": seconds, "started_at": now, "ended_at": now},
    )
    if not created:
        ItemTime.objects.filter(pk=row.pk).update(active_seconds=F("active_seconds") + seconds, ended_at=now)
        row.refresh_from_db()
    # One statement: two beats of one assignment (the page left and the next item's) may arrive
    # together, and a read-then-create would let the second fail on the first's new row.
    upsert_add(
        AssignmentTime._meta.db_table,
        {"assignment_id": task_item.assignment_id},
        {"active_seconds": seconds, "items": int(created)},
        {"task_id": task_item.task_id, "user_id": by.pk, "updated_at": now},
    )
    if seconds > 0:
        # Per day too, for the forecast's active hours (the dashboards keep that row).
        signals.active_time_recorded.send(
            sender=ItemTime, task_id=task_item.task_id, assignment_id=task_item.assignment_id, seconds=seconds, at=now
        )
    return row


# --- Pulling -------------------------------------------------------------------------------------------


def pulling_may_pull(assignment: Assignment, progress: Progress | None = None) -> bool:
    """The next batch comes when undone items fall to max_batch_workload - batch_size or fewer.

    Mirrors the claim primitive's own test (items with no status count as undone), which is the
    one that decides; this only decides whether to offer the button.
    """
    task = assignment.task
    if not task.is_pulling or not task.accepts_work or assignment.kind != AssignmentKind.WORK or assignment.removed:
        return False
    batch, most = task.batch_size, task.max_batch_workload
    assert batch is not None and most is not None  # a pulling task has both (task_pulling_limits)
    todo = (progress or assignment_progress(assignment)).todo
    return todo <= most - batch


def pulling_queue_size(task: AnnotationTask) -> int:
    """Items still queued: the queue's intake less what its claimers took (claims never write the
    queue's row)."""
    counts = Assignment.objects.filter(task=task, kind__in=[AssignmentKind.QUEUE, AssignmentKind.WORK]).aggregate(
        intake=Sum("item_count", filter=Q(kind=AssignmentKind.QUEUE)), claimed=Sum("claimed_count")
    )
    return max(0, (counts["intake"] or 0) - (counts["claimed"] or 0))


@transaction.atomic
def pulling_get_more(*, assignment: Assignment, by: User) -> int:
    """'Get more items': claim the next batch if the rule allows it. Returns how many arrived."""
    task = assignment.task
    if assignment.assignee_id != by.pk:
        raise ValidationError({"assignment": "Only the assignee can pull items into their assignment."})
    if not task.is_pulling:
        raise ValidationError({"assignment": "This task does not hand out items by pulling."})
    require_open(task, "assignment")
    if is_paused(user=by, task=task):
        raise ValidationError(
            {"assignment": "You are paused in this task: no new items come until a manager resumes you."}
        )
    try:
        require_qualified(task=task, user=by)
    except NotQualified as error:
        raise ValidationError({"assignment": str(error)}) from error
    if not pulling_may_pull(assignment):
        raise ValidationError(
            {"assignment": f"Finish more of your items first: at most {task.max_batch_workload} may be undone."}
        )
    return pulling_claim(task=task, user=by, requested=True)


def next_work(*, user: User, project: Project | None = None) -> NextWork:
    """ "Get next work" (the page and the API): a batch from the first task in priority order that
    gives one, passing over tasks whose qualification the person has not passed."""

    def refusal(task: AnnotationTask) -> str | None:
        qualification = qualification_of(task=task, user=user)
        return qualification.why if qualification.blocked else None

    return priority.pull_next(user=user, project=project, refusal=refusal)


def pulling_refill(change: StatusChange) -> int:
    """A step of the status flow: a pulling task's holder set a status, so their next batch comes
    without anyone asking if their undone items are low. The claim applies the rule under a row
    lock, so two refills never overshoot."""
    assignment = change.row.assignment
    if (
        change.new is None
        or not change.task.is_pulling
        or assignment.kind != AssignmentKind.WORK
        or assignment.removed
        or assignment.assignee_id != change.by.pk
    ):
        return 0
    # Only the holder sets a status (or a flow acting for them), so `by` is the holder: no read of them;
    # and a holder who has not passed the task's qualification set none (the flow's gate).
    return pulling_claim(task=change.task, user=change.by)
