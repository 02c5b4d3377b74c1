"""An item's timeline in a task: one list, oldest first, of everything that happened to it there:
how it came in, each status set or cleared, its reviews (the statuses of its QA tasks, rejects and
returns), its moves between people, and the comments about it. What nobody did by hand (a pipeline,
the queue) is named as the system's."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q

from taskboard.annotation.models import (
    AnnotationTask,
    ChangeKind,
    HoldingChange,
    StatusAction,
    StatusLog,
    TaskItem,
    TaskStatus,
)
from taskboard.datasets.models import Item
from taskboard.discussion.models import Comment

SYSTEM = "System"
# A reject writes its clears and its send-back in one transaction, moments apart.
REJECT_WINDOW = timedelta(seconds=2)


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str  # added, status, review, move, comment, resolved
    who: str
    text: str
    task_name: str = ""
    note: str = ""
    comment_id: int | None = None

    @property
    def is_system(self) -> bool:
        return self.who == SYSTEM


def _who(user: object) -> str:
    return getattr(user, "email", None) or SYSTEM


def item_timeline(*, task: AnnotationTask, item: Item) -> list[Entry]:
    """The item's timeline in `task` and the QA tasks that review it (or, for a QA task, in its
    annotation task and every QA task of that one)."""
    home = AnnotationTask.objects.get(pk=task.discussion_task_id)
    tasks = {t.pk: t for t in AnnotationTask.objects.filter(Q(pk=home.pk) | Q(parent_id=home.pk))}
    labels = {
        (s.task_id, s.key): s.label
        for s in TaskStatus.objects.filter(task_id__in=tasks).only("task_id", "key", "label")
    }
    entries: list[Entry] = []

    moves = list(
        HoldingChange.objects.filter(task_id__in=tasks, item=item)
        .select_related("by", "from_assignment__assignee", "to_assignment__assignee")
        .order_by("at", "id")
    )
    entries += _arrival(home=home, item=item, moves=moves)
    for change in moves:
        is_review = change.task_id != home.pk or change.kind in (ChangeKind.REWORK, ChangeKind.RETURN)
        giver = change.from_assignment.assignee if change.from_assignment else None
        taker = change.to_assignment.assignee if change.to_assignment else None
        text = change.get_kind_display()
        if giver is not None:
            text += f" from {giver.email}"
        if taker is not None:
            text += f" to {taker.email}"
        entries.append(
            Entry(
                at=change.at,
                kind="review" if is_review else "move",
                who=_who(change.by),
                text=text,
                task_name=tasks[change.task_id].name,
                note=change.note,
            )
        )

    # A reviewer's reject clears the item's status on its holder's behalf, then sends it back: the
    # send-back tells that story, so the clear it caused is not shown as the holder's own.
    rejects = [m.at for m in moves if m.kind == ChangeKind.REWORK]
    # Status changes come from the item's status log (Dataloop's taskStatusLog), the one record of them.
    for record in StatusLog.objects.filter(task_id__in=tasks, item=item).order_by("at", "id"):
        cleared = record.action == StatusAction.DELETE
        if cleared and any(timedelta(0) <= at - record.at <= REJECT_WINDOW for at in rejects):
            continue
        status = labels.get((record.task_id, record.status), record.status)
        text = f"Status cleared (was {status})" if cleared else f"Status set to {status}"
        if record.copy:
            text += f" (copy {record.copy})"
        entries.append(
            Entry(
                at=record.at,
                kind="status" if record.task_id == home.pk else "review",
                who=record.creator or SYSTEM,
                text=text,
                task_name=tasks[record.task_id].name,
            )
        )

    for comment in Comment.objects.filter(task_id=home.pk, item=item).select_related("author", "resolved_by"):
        entries.append(
            Entry(
                at=comment.created_at,
                kind="comment",
                who=_who(comment.author),
                text="Started a thread" if comment.is_thread else "Replied",
                note=comment.body,
                comment_id=comment.pk,
            )
        )
        if comment.resolved_at is not None:
            entries.append(
                Entry(at=comment.resolved_at, kind="resolved", who=_who(comment.resolved_by), text="Resolved a thread")
            )
    order = {"added": 0, "move": 1, "status": 2, "review": 3, "comment": 4, "resolved": 5}
    return sorted(entries, key=lambda e: (e.at, order.get(e.kind, 9)))


def _arrival(*, home: AnnotationTask, item: Item, moves: list[HoldingChange]) -> list[Entry]:
    """How the item came into the task. Creation and additions are recorded per assignment (a count),
    not per item: the item came with the batch that reached the first assignment that held it."""
    # A reject's record names the reviewer's assignment as the giver: only a move between the task's
    # own holders says who held the item first.
    first_move = next(
        (m for m in moves if m.from_assignment is not None and m.from_assignment.task_id == home.pk), None
    )
    if first_move is not None:
        first_holder = first_move.from_assignment_id
    else:
        first_holder = (
            TaskItem.objects.filter(task=home, item=item)
            .order_by("copy")
            .values_list("assignment_id", flat=True)
            .first()
        )
    if first_holder is None:
        return []
    arrival = (
        HoldingChange.objects.filter(
            task=home, item__isnull=True, kind__in=[ChangeKind.CREATE, ChangeKind.ADD], to_assignment_id=first_holder
        )
        .select_related("by", "to_assignment__assignee")
        .order_by("at", "id")
        .first()
    )
    if arrival is None:
        return []
    holder = arrival.to_assignment.assignee if arrival.to_assignment else None
    where = f" to {holder.email}" if holder is not None else " to the queue"
    text = ("In the task from its creation" if arrival.kind == ChangeKind.CREATE else "Added to the task") + where
    return [Entry(at=arrival.at, kind="added", who=_who(arrival.by), text=text, task_name=home.name)]
