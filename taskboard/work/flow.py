"""A status change and what it sets off, step by step.

Setting or clearing an item's status is one transaction: the write (`annotation.statuses`), then
each step below in this order. Each step decides from the change whether it applies:

0. lease: the holder is working, so their pulled batches' leases run on (first: it never waits);
1. consensus: a consensus copy's agreement is scored, rescored or forgotten;
   ground truth: a status on a ground-truth item is an answer, checked, and the task's pause rule runs;
   sampling: a done QA status is a passed review for the annotator, and their review share follows;
   review honeypots: a done QA status on a seeded known-wrong answer is the reviewer's miss;
2. rework: an item out for rework that is done again goes back to its reviewer;
3. QA intake: QA tasks take in an annotation task's item once it has a status;
4. pulling refill: a pulling task's holder gets their next batch when their undone items are low;
5. pipelines: an installed pipeline moves the item along the connection for its status (after commit).

The dashboards' counters follow every write through a signal: a projection, not a consequence.
docs/architecture.md draws the same flow.
"""

from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet

from taskboard.accounts.models import User
from taskboard.annotation.leases import EXPIRED, expired_exists, lease_renew
from taskboard.annotation.models import AnnotationTask, AssignmentKind, TaskItem, TaskType
from taskboard.annotation.people import STOPS, stops_exist
from taskboard.annotation.statuses import STATUSES, StatusChange, lock_query, status_write, statuses_read, task_totals
from taskboard.datasets.models import Item
from taskboard.pipelines.routing import ROUTED, has_routes, route_on_commit
from taskboard.quality import honeypots, reasons, review_honeypots, sampling
from taskboard.quality import reads as quality_reads
from taskboard.sql import Compiled
from taskboard.work import consensus, qa
from taskboard.work.services import pulling_refill, require_holder, require_open, require_work_allowed


def _lock_query(task_id: int, item_id: int) -> QuerySet[AnnotationTask]:
    return lock_query(
        task_id,
        **task_totals(),
        **{
            STATUSES: statuses_read(),
            EXPIRED: expired_exists(),
            qa.TAKES_ITEMS: qa.takes_items(),
            ROUTED: has_routes(),
            STOPS: stops_exist(),
        },
        **quality_reads.with_task_lock(item_id),
    )


# Every status change runs it: compiled once per process.
_LOCK = Compiled(_lock_query)


def _lock(task: AnnotationTask, item: Item) -> AnnotationTask:
    """The task's row lock (`statuses.lock_task`), read with its totals (its state follows the change
    without a second read) and with whether the QA and pipeline steps have anything to do, so a change
    that sets off neither costs no query for them."""
    locked: AnnotationTask | None = _LOCK.first(task.pk, item.pk)
    if locked is None:
        raise AnnotationTask.DoesNotExist(f"No task {task.pk}.")
    return locked


def _after(change: StatusChange) -> None:
    if not change.changed:
        return
    lease_renew(assignment_id=change.row.assignment_id, task=change.task)
    consensus.score(change)
    honeypots.answer_check(change)
    sampling.review_from_change(change)
    review_honeypots.verdict_from_change(change)
    qa.rework_close(change)
    qa.intake(change)
    pulling_refill(change)
    route_on_commit(change)


Gate = Callable[[AnnotationTask, User], None]


@transaction.atomic
def item_status_set(*, task: AnnotationTask, item: Item, status: str, by: User, copy: int | None = None) -> TaskItem:
    """The person holding the item sets its status, and what that sets off follows."""
    if not isinstance(status, str) or not status:
        raise ValidationError({"status": "Choose a status."})
    locked = _lock(task, item)
    change = status_write(task=locked, item=item, new_status=status, by=by, copy=copy, gate=require_work_allowed)
    _after(change)
    return change.row


@transaction.atomic
def item_status_clear(*, task: AnnotationTask, item: Item, by: User, copy: int | None = None) -> TaskItem:
    """The person holding the item clears its status: it is to do again."""
    return _clear(_lock(task, item), item=item, by=by, copy=copy, gate=require_work_allowed)


def _clear(locked: AnnotationTask, *, item: Item, by: User, copy: int | None, gate: Gate | None = None) -> TaskItem:
    change = status_write(task=locked, item=item, new_status=None, by=by, copy=copy, gate=gate)
    _after(change)
    return change.row


@transaction.atomic
def item_reject(*, qa_task_item: TaskItem, comment: str, by: User, reason_id: int | None = None) -> TaskItem | None:
    """A reviewer sends an item back for a reason of the project's list (`quality/reasons.py`): its
    QA status and its status in the parent task are cleared, and it returns, marked for rework with
    the reason and comment, to the annotator who did it. The QA item waits for the rework (returned);
    the reject is recorded for the errors-by-reason charts. A seeded known-wrong answer is caught
    instead and leaves the queue: None, there is no QA item left to wait."""
    qa_task = qa_task_item.task
    comment = (comment or "").strip()
    if qa_task.type != TaskType.QA or not qa_task.parent_id:
        raise ValidationError({"status": "Only items of a QA task can be rejected."})
    require_holder(qa_task_item, by)
    require_open(qa_task)
    reason = reasons.reject_reason(project_id=qa_task.project_id, reason_id=reason_id, comment=comment)
    # Parent first, then the QA task: the order every status change takes (the parent's change
    # runs QA intake and rework), so a reject racing a completion cannot deadlock.
    AnnotationTask.objects.select_for_update(no_key=True).get(pk=qa_task.parent_id)
    AnnotationTask.objects.select_for_update(no_key=True).get(pk=qa_task.pk)
    qa_task_item = TaskItem.objects.select_for_update().select_related("assignment", "task").get(pk=qa_task_item.pk)
    if qa_task_item.rework:
        raise ValidationError({"status": "This item is already back with its annotator."})
    if review_honeypots.decoy_of(qa_task_item) is not None:
        # A seeded known-wrong answer: rejecting it is the reviewer's catch, and it leaves the queue.
        if qa_task_item.status is not None:
            item_status_clear(task=qa_task, item=qa_task_item.item, by=by, copy=qa_task_item.copy)
        review_honeypots.caught(qa_task_item=qa_task_item, by=by)
        return None
    parents = list(
        TaskItem.objects.select_for_update()
        .filter(task_id=qa_task.parent_id, item_id=qa_task_item.item_id, assignment__kind=AssignmentKind.WORK)
        .select_related("assignment", "task")
        .order_by("copy")
    )
    if not parents:
        raise ValidationError({"status": "The item is no longer in the annotation task."})
    # Recorded before the verdicts are cleared: a reviewer's earlier acceptance is an overturn.
    reasons.rejection_record(qa_task_item=qa_task_item, parents=parents, reason=reason, comment=comment, by=by)
    for parent in parents:
        annotator_id = parent.status_by_id or parent.assignment.assignee_id
        sampling.review_recorded(qa_task=qa_task, annotator_id=annotator_id, passed=False)
    if qa_task_item.status is not None:
        item_status_clear(task=qa_task, item=qa_task_item.item, by=by, copy=qa_task_item.copy)
    for parent in parents:
        if parent.status is not None:
            # The item comes back to its annotator: the clear is theirs (only the holder clears).
            holder = parent.assignment.assignee
            assert holder is not None  # a work assignment has its person (assignment_work_has_assignee)
            # A reviewer's reject is not the holder's work: no qualification asked of them.
            _clear(_lock(parent.task, parent.item), item=parent.item, by=holder, copy=parent.copy)
    return qa.send_back(
        qa_task_item=qa_task_item, parents=parents, comment=reasons.rework_note(reason, comment), by=by
    )
