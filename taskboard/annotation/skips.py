"""Skipping an item: the holder passes on an item they have not done, under the task's skip policy
(allowed or not, a reason required or not). The item goes by the task's rule: back to the queue (a
pulled item, in a pulling task), to someone else (the task's other unpaused person with the fewest
open items, who does not already hold a copy of it), or to the task's owner. Every skip is recorded
with its reason and shows on the task page.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet, Sum
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation.leases import return_rows_to_queue
from taskboard.annotation.models import (
    AnnotationTask,
    Assignment,
    AssignmentKind,
    ChangeKind,
    HoldingChange,
    Pause,
    Skip,
    SkipTo,
    StatusCount,
    TaskItem,
)
from taskboard.annotation.statuses import ensure_status_counts, lock_task, require_not_closed
from taskboard.projects.access import role_of

REASON_MAX = 2000


@transaction.atomic
def skip_policy_set(
    *, task: AnnotationTask, by: User, allowed: bool, reason_required: bool, skip_to: str
) -> AnnotationTask:
    if skip_to not in SkipTo.values:
        raise ValidationError({"skip_to": f"Choose one of: {', '.join(SkipTo.values)}."})
    AnnotationTask.objects.filter(pk=task.pk).update(
        skip_allowed=bool(allowed),
        skip_reason_required=bool(reason_required),
        skip_to=skip_to,
        updated_at=timezone.now(),
    )
    task.skip_allowed, task.skip_reason_required, task.skip_to = bool(allowed), bool(reason_required), skip_to
    return task


def someone_else(task: AnnotationTask, row: TaskItem, skipper_id: int) -> Assignment | None:
    """The task's other unpaused worker with the fewest open items who holds no copy of the item."""
    paused = Pause.objects.filter(user_id=OuterRef("assignee_id")).filter(
        Q(task=task) | Q(task__isnull=True, project_id=task.project_id)
    )
    holds_copy = TaskItem.objects.filter(task=task, item_id=row.item_id, assignment_id=OuterRef("pk"))
    done = StatusCount.objects.filter(assignment_id=OuterRef("pk")).values("assignment_id").annotate(n=Sum("count"))
    candidates = (
        Assignment.objects.filter(task=task, kind=AssignmentKind.WORK, removed=False)
        .exclude(assignee_id=skipper_id)
        .exclude(Exists(paused))
        .exclude(Exists(holds_copy))
        .annotate(done=done.values("n")[:1])
    )
    ranked = sorted(candidates, key=lambda a: (a.item_count - (a.done or 0), a.pk))
    return ranked[0] if ranked else None


def owner_assignment(task: AnnotationTask) -> Assignment:
    owner = task.owner
    if role_of(owner, task.project_id) is None:
        raise ValidationError({"skip_to": "The task's owner is no longer a member: nobody to hand skips to."})
    assignment, made = Assignment.objects.get_or_create(task=task, assignee=owner, kind=AssignmentKind.WORK)
    if made:
        ensure_status_counts(assignment_ids=[assignment.pk], keys=list(task.statuses.values_list("key", flat=True)))
    elif assignment.removed:
        Assignment.objects.filter(pk=assignment.pk).update(removed=False)
    return assignment


def hand_over(row: TaskItem, target: Assignment, by: User | None, kind: str) -> None:
    """Move one held row to `target`, with the counters and a change record of `kind`."""
    TaskItem.objects.filter(pk=row.pk).update(assignment=target, lease=None)
    Assignment.objects.filter(pk=row.assignment_id).update(
        item_count=F("item_count") - 1, rework_count=F("rework_count") - int(row.rework)
    )
    Assignment.objects.filter(pk=target.pk).update(
        item_count=F("item_count") + 1, rework_count=F("rework_count") + int(row.rework)
    )
    HoldingChange.objects.create(
        task_id=row.task_id,
        item_id=row.item_id,
        kind=kind,
        from_assignment_id=row.assignment_id,
        to_assignment=target,
        by=by,
    )


@transaction.atomic
def item_skip(*, task_item: TaskItem, by: User, reason: str = "") -> Skip:
    """`by` skips the item they hold: it goes where the task's skip rule says."""
    task = lock_task(task_item.task)
    require_not_closed(task, "skip")
    row = TaskItem.objects.select_for_update().select_related("assignment").get(pk=task_item.pk)
    if row.assignment.kind != AssignmentKind.WORK or row.assignment.assignee_id != by.pk:
        raise ValidationError({"skip": "Only the person holding this item can skip it."})
    if not task.skip_allowed:
        raise ValidationError({"skip": "Skipping is not allowed in this task."})
    if row.status is not None:
        raise ValidationError({"skip": "The item has a status: clear it first, or leave it done."})
    reason = (reason or "").strip()
    if task.skip_reason_required and not reason:
        raise ValidationError({"reason": "Say why you skip this item."})
    if len(reason) > REASON_MAX:
        raise ValidationError({"reason": f"At most {REASON_MAX} characters."})
    went_to = ""
    if task.skip_to == SkipTo.BACK and task.is_pulling and row.lease_id is not None and not row.rework:
        return_rows_to_queue(row_ids=[row.pk], kind=ChangeKind.SKIP, by=by)
        went_to = "the queue"
    else:
        target = owner_assignment(task) if task.skip_to == SkipTo.MANAGER else someone_else(task, row, by.pk)
        if target is None:
            raise ValidationError({"skip": "Nobody else in this task can take the item: it stays with you."})
        if target.pk == row.assignment_id:
            raise ValidationError({"skip": "You own this task: a skipped item would come back to you."})
        hand_over(row, target, by, kind=ChangeKind.SKIP)
        assert target.assignee is not None
        went_to = target.assignee.email
    return Skip.objects.create(task=task, item_id=row.item_id, by=by, reason=reason, went_to=went_to)


def skips_of(task: AnnotationTask) -> QuerySet[Skip]:
    return Skip.objects.filter(task=task).select_related("by", "item")
