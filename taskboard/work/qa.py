"""The QA loop: a reviewer rejects an item, it goes back to its annotator for rework, and when they
complete it again it returns to the same reviewer; QA tasks take in items as they get a status."""

from typing import Any

from django.db.models import Exists, F, OuterRef, QuerySet
from django.urls import reverse
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation.models import (
    AnnotationTask,
    Assignment,
    AssignmentKind,
    ChangeKind,
    HoldingChange,
    TaskItem,
    TaskType,
)
from taskboard.annotation.moves import task_add_items
from taskboard.annotation.progress import assignment_progress
from taskboard.annotation.selection import Selection
from taskboard.annotation.statuses import StatusChange, status_clear
from taskboard.annotation.telling import item_back_for_review
from taskboard.annotation.workload import may_work
from taskboard.notifications.models import EventKind
from taskboard.notifications.services import notify
from taskboard.quality import sampling
from taskboard.work import signals


def _move_item(*, task_item: TaskItem, to: Assignment, kind: str, by: User, note: str = "") -> None:
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


def send_back(*, qa_task_item: TaskItem, parents: list[TaskItem], comment: str, by: User) -> TaskItem:
    """The bookkeeping of a reject, once the statuses are cleared (`flow.item_reject`): each copy of the
    item goes back to the annotator who did it, marked for rework with the comment, and the QA item
    waits for it as an open issue."""
    parent_task = qa_task_item.task.parent
    assert parent_task is not None  # a QA task has its parent (task_qa_has_parent)
    sent_to: list[int | None] = []
    for parent in parents:
        annotator_id = parent.status_by_id or parent.assignment.assignee_id
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
        _tell_rework(parent=parent, home=home, comment=comment, by=by)
    TaskItem.objects.filter(pk=qa_task_item.pk).update(rework=True, comment=comment)
    Assignment.objects.filter(pk=qa_task_item.assignment_id).update(issue_count=F("issue_count") + 1)
    # The dashboards count sent-back items per annotator here, not from the change records.
    signals.items_sent_back.send(sender=TaskItem, task=parent_task, annotator_ids=sent_to, by=by)
    qa_task_item.refresh_from_db()
    return qa_task_item


def _tell_rework(*, parent: TaskItem, home: Assignment, comment: str, by: User) -> None:
    task = parent.task
    notify(
        kind=EventKind.REWORK,
        recipients=[home.assignee_id],
        event_key=f"rework:{parent.pk}:{timezone.now().timestamp()}",
        title=f"{parent.item.name} is back for rework in {task.name}",
        body=comment,
        project=task.project,
        url=reverse("work:item", args=[home.pk, parent.pk]),
        data={"task_id": task.pk, "item_id": parent.item_id, "by": by.email},
    )


def rework_close(change: StatusChange) -> list[TaskItem]:
    """A step of the status flow: an item out for rework got a done status again. It is no longer out
    for rework, and the QA items waiting for it go back to their reviewer with no status, so the same
    reviewer looks at it again."""
    row = change.row
    if change.task.type != TaskType.ANNOTATION or change.old is not None or not row.rework or not change.is_done:
        return []
    return _rework_done(parent_item=row, by=change.by)


def _rework_done(*, parent_item: TaskItem, by: User) -> list[TaskItem]:
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
    for qa_item in waiting:
        # The reviewer who rejected it still holds it: the QA item never left their assignment.
        # Clearing a QA item's status sets nothing off (no consensus, no routing, no refill), so the
        # write alone is the whole change.
        if qa_item.status is not None:
            reviewer = qa_item.assignment.assignee
            assert reviewer is not None  # only the holder of a work assignment sets a status
            status_clear(task=qa_item.task, item=qa_item.item, by=reviewer, copy=qa_item.copy)
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
        item_back_for_review(qa_item=qa_item, by=by, occasion=f"{timezone.now().timestamp()}")
    return waiting


# Read with the task's lock by the status flow: whether any QA task takes this task's items in.
TAKES_ITEMS = "qa_takes_items"


def _intake_tasks(parent_id: Any) -> QuerySet[AnnotationTask]:
    # A QA task whose items all have a status is "completed" but still takes in; a closed one does not.
    return AnnotationTask.objects.filter(parent_id=parent_id, type=TaskType.QA, qa_intake=True, closed_at__isnull=True)


def takes_items() -> Exists:
    return Exists(_intake_tasks(OuterRef("pk")))


def intake(change: StatusChange) -> int:
    """A step of the status flow: an annotation task's item got a status. The QA tasks that take items
    in as they come get it (a sampling QA task only its share of this annotator's items), each into
    the reviewer with the least undone work for their share (or their queue, when pulling)."""
    if change.task.type != TaskType.ANNOTATION or change.old is not None or change.new is None:
        return 0
    if getattr(change.task, TAKES_ITEMS, True) is False:
        return 0
    parent_item, by = change.row, change.by
    added = 0
    for qa_task in _intake_tasks(parent_item.task_id):
        if TaskItem.objects.filter(task=qa_task, item_id=parent_item.item_id).exists():
            continue
        annotator_id = parent_item.status_by_id or parent_item.assignment.assignee_id
        if not sampling.take_for_review(qa_task=qa_task, annotator_id=annotator_id, item_id=parent_item.item_id):
            continue
        selection = Selection(mode="list", item_ids=(parent_item.item_id,))
        if qa_task.is_pulling:
            result = task_add_items(task=qa_task, selection=selection, by=by, to_queue=True)
        else:
            reviewer = _least_loaded_reviewer(qa_task)
            if reviewer is None:
                continue
            result = task_add_items(task=qa_task, selection=selection, by=by, assignees=[reviewer])
        added += result.added
    return added


def _least_loaded_reviewer(qa_task: AnnotationTask) -> User | None:
    loads: dict[int | None, int] = {w.assignee_id: w.load for w in qa_task.workload.all()}
    assignments = list(
        Assignment.objects.filter(task=qa_task, kind=AssignmentKind.WORK, removed=False).select_related(
            "assignee", "task"
        )
    )
    workers = may_work(qa_task.project_id, [a.assignee_id for a in assignments])
    assignments = [a for a in assignments if a.assignee_id in workers]
    if not assignments:
        return None

    def weight(a: Assignment) -> tuple[float, int]:
        return (assignment_progress(a).remaining / loads.get(a.assignee_id, 1), a.pk)

    return min(assignments, key=weight).assignee
