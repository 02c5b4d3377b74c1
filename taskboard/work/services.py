"""Writes made while people work: labels, active time, pulling, consensus and the QA loop.

Statuses themselves are set and cleared by the core services (`taskboard.annotation.services`);
the receivers in `receivers.py` react to them inside the same transaction.
"""

from __future__ import annotations

import datetime
from collections import Counter

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q, Sum
from django.utils import timezone

from taskboard.annotation.models import (
    AnnotationTask,
    Assignment,
    AssignmentKind,
    ChangeKind,
    HoldingChange,
    TaskItem,
    TaskType,
)
from taskboard.annotation.progress import assignment_progress
from taskboard.datasets.models import Annotation, Item, Label
from taskboard.work import signals
from taskboard.work.models import AssignmentTime, ConsensusResult, ItemTime

# The browser beats every 15 s while the person is active; one beat never counts for more than this.
HEARTBEAT_MAX_SECONDS = 30.0


def _core():
    # Imported late: the core services module imports signals that our receivers listen to.
    from taskboard.annotation import services

    return services


def _require_holder(task_item: TaskItem, by, field: str = "status") -> None:
    if task_item.assignment.assignee_id != by.pk or task_item.assignment.kind != AssignmentKind.WORK:
        raise ValidationError({field: "Only the person this item is assigned to can work on it."})


def _require_open(task: AnnotationTask, field: str = "status") -> None:
    if not task.accepts_work:
        if task.is_open:
            raise ValidationError({field: "This task is locked after its due date."})
        raise ValidationError({field: "This task is closed."})


# --- Labels --------------------------------------------------------------------------------------------


@transaction.atomic
def item_label_toggle(*, task_item: TaskItem, label: Label, by) -> Annotation | None:
    """Choose a label on an item (an annotation by `by` in this task), or un-choose it.

    Returns the new annotation, or None when the label was removed.
    """
    task = task_item.task
    _require_holder(task_item, by, "label")
    _require_open(task, "label")
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
    *, task_item: TaskItem, by, active_ms: int, now: datetime.datetime | None = None
) -> ItemTime | None:
    """Add a heartbeat's active time to the person's time on this item.

    The browser reports how long the person was active since its last beat; the server believes
    at most the wall time since this person's previous beat (on any item) and at most
    HEARTBEAT_MAX_SECONDS, so idle tabs, parallel tabs and forged beats add nothing extra.
    Managers looking at someone's assignment record nothing.
    """
    if task_item.assignment.assignee_id != by.pk:
        return None
    now = now or timezone.now()
    seconds = max(0.0, min(active_ms / 1000.0, HEARTBEAT_MAX_SECONDS))
    last = ItemTime.objects.filter(user=by).order_by("-ended_at").values_list("ended_at", flat=True).first()
    if last is not None:
        seconds = min(seconds, max(0.0, (now - last).total_seconds()))
    row, created = ItemTime.objects.select_for_update().get_or_create(
        assignment_id=task_item.assignment_id,
        item_id=task_item.item_id,
        user=by,
        defaults={"task_id": task_item.task_id, "active_seconds": seconds, "started_at": now, "ended_at": now},
    )
    if not created:
        ItemTime.objects.filter(pk=row.pk).update(active_seconds=F("active_seconds") + seconds, ended_at=now)
        row.refresh_from_db()
    total, _ = AssignmentTime.objects.select_for_update().get_or_create(
        assignment_id=task_item.assignment_id, defaults={"task_id": task_item.task_id, "user": by}
    )
    AssignmentTime.objects.filter(pk=total.pk).update(
        active_seconds=F("active_seconds") + seconds, items=F("items") + int(created), updated_at=now
    )
    if seconds > 0:
        # Per day too, for the forecast's active hours (the dashboards keep that row).
        signals.active_time_recorded.send(
            sender=ItemTime, task_id=task_item.task_id, assignment_id=task_item.assignment_id, seconds=seconds, at=now
        )
    return row


# --- Pulling -------------------------------------------------------------------------------------------


def pulling_may_pull(assignment: Assignment) -> bool:
    """DESIGN: the next batch comes when undone items fall to max_batch_workload - batch_size or fewer.

    Mirrors the claim primitive's own test (items with no status count as undone), which is the
    one that decides; this only decides whether to offer the button.
    """
    task = assignment.task
    if not task.is_pulling or not task.accepts_work or assignment.kind != AssignmentKind.WORK or assignment.removed:
        return False
    return assignment_progress(assignment).todo <= task.max_batch_workload - task.batch_size


def pulling_queue_size(task: AnnotationTask) -> int:
    """Items still queued: the queue's intake less what its claimers took (claims never write the
    queue's row)."""
    counts = Assignment.objects.filter(task=task, kind__in=[AssignmentKind.QUEUE, AssignmentKind.WORK]).aggregate(
        intake=Sum("item_count", filter=Q(kind=AssignmentKind.QUEUE)), claimed=Sum("claimed_count")
    )
    return max(0, (counts["intake"] or 0) - (counts["claimed"] or 0))


@transaction.atomic
def pulling_get_more(*, assignment: Assignment, by) -> int:
    """'Get more items': claim the next batch if the rule allows it. Returns how many arrived."""
    task = assignment.task
    if assignment.assignee_id != by.pk:
        raise ValidationError({"assignment": "Only the assignee can pull items into their assignment."})
    if not task.is_pulling:
        raise ValidationError({"assignment": "This task does not hand out items by pulling."})
    _require_open(task, "assignment")
    if not pulling_may_pull(assignment):
        raise ValidationError(
            {"assignment": f"Finish more of your items first: at most {task.max_batch_workload} may be undone."}
        )
    return _core().pulling_claim(task=task, user=by)


def pulling_refill(*, assignment: Assignment) -> int:
    """Called after a status change: bring the next batch without anyone asking.
    The claim primitive applies the rule under a row lock, so two refills never overshoot."""
    if assignment.removed or assignment.assignee_id is None:
        return 0
    return _core().pulling_claim(task=assignment.task, user=assignment.assignee)


# --- Consensus -----------------------------------------------------------------------------------------


def consensus_score(label_sets: list[frozenset[str]]) -> tuple[float, list[str]]:
    """Share of annotators who chose the most common label set, and that set."""
    if not label_sets:
        return 0.0, []
    majority, votes = Counter(label_sets).most_common(1)[0]
    return votes / len(label_sets), sorted(majority)


def consensus_update(*, task: AnnotationTask, item_id: int) -> ConsensusResult | None:
    """Store the item's agreement once every copy has a status; forget it when one is cleared."""
    copies = list(
        TaskItem.objects.filter(task=task, item_id=item_id, copy__gt=0).values_list(
            "status", "assignment__assignee_id"
        )
    )
    scored = ConsensusResult.objects.filter(task=task, item_id=item_id)
    old = scored.values_list("agreement", flat=True).first()
    if len(copies) < 2 or any(status is None for status, _ in copies):
        if old is not None:
            scored.delete()
            signals.consensus_scored.send(sender=ConsensusResult, task=task, item_id=item_id, old=old, new=None)
        return None
    people = [assignee for _, assignee in copies]
    labels: dict[int, set[str]] = {person: set() for person in people}
    for person, name in Annotation.objects.filter(task=task, item_id=item_id, created_by_id__in=people).values_list(
        "created_by_id", "label_name"
    ):
        labels[person].add(name)
    agreement, majority = consensus_score([frozenset(labels[p]) for p in people])
    result, _ = ConsensusResult.objects.update_or_create(
        task=task,
        item_id=item_id,
        defaults={
            "agreement": agreement,
            "copies": len(copies),
            "majority": majority,
            "computed_at": timezone.now(),
        },
    )
    # The dashboards keep the task's sum and count of agreements from this, not by aggregating results.
    signals.consensus_scored.send(sender=ConsensusResult, task=task, item_id=item_id, old=old, new=agreement)
    return result


# --- The QA loop ---------------------------------------------------------------------------------------


def _move_item(*, task_item: TaskItem, to: Assignment, kind: str, by, note: str = "") -> None:
    """Move one task item with no status to another assignment of its task, counters and record included."""
    source_id = task_item.assignment_id
    if source_id == to.pk:
        return
    TaskItem.objects.filter(pk=task_item.pk).update(assignment=to)
    Assignment.objects.filter(pk=source_id).update(item_count=F("item_count") - 1)
    Assignment.objects.filter(pk=to.pk).update(item_count=F("item_count") + 1)
    HoldingChange.objects.create(
        task_id=task_item.task_id,
        item_id=task_item.item_id,
        kind=kind,
        from_assignment_id=source_id,
        to_assignment=to,
        by=by,
        note=note,
    )
    task_item.assignment = to


@transaction.atomic
def qa_reject(*, qa_task_item: TaskItem, comment: str, by) -> TaskItem:
    """A reviewer sends an item back: its status in the parent task is cleared and it returns,
    marked for rework with the comment, to the annotator who did it. The QA item waits."""
    qa_task = qa_task_item.task
    comment = (comment or "").strip()
    if qa_task.type != TaskType.QA or not qa_task.parent_id:
        raise ValidationError({"status": "Only items of a QA task can be rejected."})
    _require_holder(qa_task_item, by)
    _require_open(qa_task)
    if not comment:
        raise ValidationError({"comment": "Say what needs fixing."})
    # Parent first, then the QA task: the order every status change takes (the parent's change
    # runs the QA receivers), so a reject racing a completion cannot deadlock.
    AnnotationTask.objects.select_for_update(no_key=True).get(pk=qa_task.parent_id)
    AnnotationTask.objects.select_for_update(no_key=True).get(pk=qa_task.pk)
    qa_task_item = TaskItem.objects.select_for_update().select_related("assignment", "task").get(pk=qa_task_item.pk)
    if qa_task_item.rework:
        raise ValidationError({"status": "This item is already back with its annotator."})

    parent_task = qa_task.parent
    parents = list(
        TaskItem.objects.select_for_update()
        .filter(task=parent_task, item_id=qa_task_item.item_id, assignment__kind=AssignmentKind.WORK)
        .select_related("assignment", "task")
        .order_by("copy")
    )
    if not parents:
        raise ValidationError({"status": "The item is no longer in the annotation task."})
    core = _core()
    if qa_task_item.status is not None:
        core.item_status_clear(task=qa_task, item=qa_task_item.item, by=by, copy=qa_task_item.copy)
    sent_to = []
    for parent in parents:
        annotator_id = parent.status_by_id or parent.assignment.assignee_id
        if parent.status is not None:
            # The clear is the annotator's item coming back to them; core checks the holder.
            core.item_status_clear(task=parent_task, item=parent.item, by=parent.assignment.assignee, copy=parent.copy)
        home = (
            Assignment.objects.filter(
                task=parent_task, assignee_id=annotator_id, kind=AssignmentKind.WORK, removed=False
            ).first()
            or parent.assignment
        )
        if parent.assignment_id != home.pk:
            _move_item(task_item=parent, to=home, kind=ChangeKind.REWORK, by=by, note=comment)
        else:
            HoldingChange.objects.create(
                task=parent_task,
                item_id=parent.item_id,
                kind=ChangeKind.REWORK,
                from_assignment=qa_task_item.assignment,
                to_assignment=home,
                by=by,
                note=comment,
            )
        if parent.rework:
            # Already back for another QA task's reject: one fix answers both, so the annotator
            # reads both comments and the rework counter counts the item once.
            TaskItem.objects.filter(pk=parent.pk).update(comment=f"{parent.comment}\n\n{comment}")
        else:
            TaskItem.objects.filter(pk=parent.pk).update(rework=True, comment=comment)
            Assignment.objects.filter(pk=home.pk).update(rework_count=F("rework_count") + 1)
        sent_to.append(home.assignee_id)
    TaskItem.objects.filter(pk=qa_task_item.pk).update(rework=True, comment=comment)
    Assignment.objects.filter(pk=qa_task_item.assignment_id).update(issue_count=F("issue_count") + 1)
    # The dashboards count sent-back items per annotator here, not from the change records.
    signals.items_sent_back.send(sender=TaskItem, task=parent_task, annotator_ids=sent_to, by=by)
    qa_task_item.refresh_from_db()
    return qa_task_item


def qa_rework_done(*, parent_item: TaskItem, by) -> list[TaskItem]:
    """The annotator finished a rework: the QA items waiting for it go back to their reviewer,
    with no status, so the same reviewer sees the item again. Runs inside the status change."""
    TaskItem.objects.filter(pk=parent_item.pk).update(rework=False)
    Assignment.objects.filter(pk=parent_item.assignment_id, rework_count__gt=0).update(
        rework_count=F("rework_count") - 1
    )
    waiting = list(
        TaskItem.objects.select_for_update()
        .filter(
            task__parent_id=parent_item.task_id,
            task__type=TaskType.QA,
            item_id=parent_item.item_id,
            rework=True,
        )
        .select_related("assignment", "task", "item")
    )
    core = _core()
    for qa_item in waiting:
        # The reviewer who rejected it still holds it: the QA item never left their assignment.
        if qa_item.status is not None:
            reviewer = qa_item.assignment.assignee
            core.item_status_clear(task=qa_item.task, item=qa_item.item, by=reviewer, copy=qa_item.copy)
        TaskItem.objects.filter(pk=qa_item.pk).update(rework=False)
        Assignment.objects.filter(pk=qa_item.assignment_id, issue_count__gt=0).update(issue_count=F("issue_count") - 1)
        HoldingChange.objects.create(
            task=qa_item.task,
            item_id=qa_item.item_id,
            kind=ChangeKind.RETURN,
            from_assignment_id=parent_item.assignment_id,
            to_assignment=qa_item.assignment,
            by=by,
            note="Rework done",
        )
    return waiting


def qa_intake(*, parent_item: TaskItem, by) -> int:
    """A parent item got a status: QA tasks that take items in as they come get it, each into the
    reviewer with the least undone work for their share (or their queue, when pulling)."""
    from taskboard.annotation.selection import Selection

    added = 0
    qa_tasks = AnnotationTask.objects.filter(
        # A QA task whose items all have a status is "completed" but still takes in; a closed one does not.
        parent_id=parent_item.task_id,
        type=TaskType.QA,
        qa_intake=True,
        closed_at__isnull=True,
    )
    for qa_task in qa_tasks:
        if TaskItem.objects.filter(task=qa_task, item_id=parent_item.item_id).exists():
            continue
        selection = Selection(mode="list", item_ids=(parent_item.item_id,))
        core = _core()
        if qa_task.is_pulling:
            result = core.task_add_items(task=qa_task, selection=selection, by=by, to_queue=True)
        else:
            reviewer = _least_loaded_reviewer(qa_task)
            if reviewer is None:
                continue
            result = core.task_add_items(task=qa_task, selection=selection, by=by, assignees=[reviewer])
        added += result.added
    return added


def _least_loaded_reviewer(qa_task: AnnotationTask):
    loads = {w.assignee_id: w.load for w in qa_task.workload.all()}
    assignments = list(
        Assignment.objects.filter(task=qa_task, kind=AssignmentKind.WORK, removed=False).select_related(
            "assignee", "task"
        )
    )
    if not assignments:
        return None

    def weight(a: Assignment):
        return (assignment_progress(a).remaining / loads.get(a.assignee_id, 1), a.pk)

    return min(assignments, key=weight).assignee
