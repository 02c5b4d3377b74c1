"""Who is told what about tasks: work handed to someone, a batch ready for review, a due date coming
or gone. The services where these happen call these functions by name; each one names its event so
that the same event told twice (a replayed job, a retried request) reaches nobody twice."""

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation.models import (
    AnnotationTask,
    Assignment,
    AssignmentKind,
    TaskItem,
    TaskState,
    TaskType,
)
from taskboard.annotation.progress import assignments_progress
from taskboard.notifications.models import EventKind
from taskboard.notifications.services import notify

DUE_SOON = timedelta(hours=24)


def _work_url(assignment_id: int) -> str:
    return reverse("work:assignment", args=[assignment_id])


def work_handed_out(
    *, task: AnnotationTask, counts: Mapping[int, int], by: User | None, occasion: str, coalesce: bool = False
) -> int:
    """Tell each person whose assignment just got items (`counts`: assignment id → items). In a QA task
    that is a batch ready for review. `occasion` tells this handing-out from the task's others; with
    `coalesce`, a stream of single items (QA intake) makes one notice per reviewer and hour."""
    handed = {a: n for a, n in counts.items() if n > 0}
    if not handed:
        return 0
    is_review = task.type == TaskType.QA
    # QA intake hands reviewers one item at a time: they hear of a batch, once an hour at most.
    coalesce = coalesce or is_review
    kind = EventKind.REVIEW_READY if is_review else EventKind.WORK_ASSIGNED
    if coalesce:
        occasion = f"hour:{timezone.now():%Y%m%d%H}"
    told = 0
    rows = Assignment.objects.filter(pk__in=handed, kind=AssignmentKind.WORK, assignee__isnull=False)
    for assignment_id, assignee_id in rows.values_list("pk", "assignee_id"):
        if by is not None and assignee_id == by.pk:
            continue  # nobody is told about what they just did themselves
        n = handed[assignment_id]
        if coalesce:
            title = f"Items are waiting for your review in {task.name}"
        elif is_review:
            title = f"{n} item{'s' if n != 1 else ''} ready for your review in {task.name}"
        else:
            title = f"{n} item{'s' if n != 1 else ''} assigned to you in {task.name}"
        told += notify(
            kind=kind,
            recipients=[assignee_id],
            event_key=f"{kind}:{task.pk}:{assignment_id}:{occasion}",
            title=title,
            project=task.project,
            url=_work_url(assignment_id),
            data={"task_id": task.pk, "assignment_id": assignment_id, "items": n},
        )
    return told


def item_back_for_review(*, qa_item: TaskItem, by: User | None, occasion: str) -> int:
    """A reworked item is back with the reviewer who sent it back."""
    assignment = qa_item.assignment
    return notify(
        kind=EventKind.REVIEW_READY,
        recipients=[assignment.assignee_id] if assignment.assignee_id != getattr(by, "pk", None) else [],
        event_key=f"review_ready:item:{qa_item.pk}:{occasion}",
        title=f"{qa_item.item.name} is reworked and back for your review in {qa_item.task.name}",
        project=qa_item.task.project,
        url=reverse("work:item", args=[assignment.pk, qa_item.pk]),
        data={"task_id": qa_item.task_id, "item_id": qa_item.item_id},
    )


def _open_tasks() -> Q:
    return Q(closed_at__isnull=True, state=TaskState.OPEN)


def _people_with_undone_work(task: AnnotationTask) -> list[int]:
    """The holders of the task's live work assignments that still have items without a final status."""
    rows = list(Assignment.objects.filter(task=task, kind=AssignmentKind.WORK, removed=False, assignee__isnull=False))
    progress = assignments_progress(rows)
    return [a.assignee_id for a in rows if a.assignee_id is not None and progress[a.pk].remaining > 0]


def _deadline_told(task: AnnotationTask, *, kind: EventKind, title: str) -> int:
    recipients: Iterable[int] = {task.owner_id, *_people_with_undone_work(task)}
    return notify(
        kind=kind,
        recipients=recipients,
        # The due date is in the key: a task moved to a new date is reminded of again.
        event_key=f"{kind}:{task.pk}:{task.due_at:%Y%m%d%H%M}",
        title=title,
        project=task.project,
        url=reverse("dashboards:task-detail", args=[task.pk]),
        data={"task_id": task.pk, "due_at": task.due_at.isoformat()},
    )


def deadlines_remind(*, now: datetime | None = None) -> tuple[int, int]:
    """Run by Celery beat: tell the owner and the people with undone work of each open task due within
    24 hours, and of each open task past its due date, once per task and due date. Returns (due soon,
    overdue) notices written."""
    now = now or timezone.now()
    soon = overdue = 0
    tasks = AnnotationTask.objects.filter(_open_tasks()).select_related("project")
    for task in tasks.filter(due_at__gt=now, due_at__lte=now + DUE_SOON):
        soon += _deadline_told(task, kind=EventKind.DUE_SOON, title=f"{task.name} is due {task.due_at:%d %b %H:%M}")
    for task in tasks.filter(due_at__lte=now, due_at__gt=now - timedelta(days=30)):
        overdue += _deadline_told(task, kind=EventKind.OVERDUE, title=f"{task.name} is overdue")
    return soon, overdue
