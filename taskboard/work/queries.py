"""Permission-scoped reads for the work pages, and the figures dashboards take from work."""

from __future__ import annotations

import datetime

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation.models import AnnotationTask, Assignment, AssignmentKind, HoldingChange, TaskItem, TaskType
from taskboard.annotation.progress import Progress, assignments_progress
from taskboard.datasets.models import Annotation, Item


def my_work(*, user: User) -> list[Progress]:
    """The user's assignments across projects, the most urgent first:
    unfinished before finished, overdue first, then the nearest due date, then the highest priority."""
    assignments = (
        # The user's own live work: managers see others' assignments too, but "my work" is one's own.
        Assignment.objects.visible_to(user)
        .filter(assignee=user, removed=False)
        .select_related("task", "task__project", "task__parent")
    )
    rows = list(assignments_progress(assignments).values())
    now = timezone.now()

    def urgency(row: Progress) -> tuple[bool, bool, datetime.datetime, int, int]:
        task = row.task
        assert task is not None  # an assignment's progress carries the assignment
        finished = not task.is_open or row.remaining == 0
        return (finished, task.due_at >= now, task.due_at, -task.priority, task.pk)

    return sorted(rows, key=urgency)


def _ordered(assignment: Assignment) -> QuerySet[TaskItem]:
    return TaskItem.objects.filter(assignment=assignment).select_related("item")


def task_item_in_assignment(*, assignment: Assignment, task_item_id: int) -> TaskItem:
    try:
        return _ordered(assignment).get(pk=task_item_id)
    except TaskItem.DoesNotExist:
        raise Http404 from None


def _open_items(assignment: Assignment) -> QuerySet[TaskItem]:
    """Items still to do. In a QA task an item sent back for rework waits for its annotator;
    in an annotation task it is to do again."""
    items = _ordered(assignment).filter(status__isnull=True)
    if assignment.task.type == TaskType.QA:
        items = items.filter(rework=False)
    return items


# What to do next: the highest item priority first, then the task's (folder, name) order.
TO_DO_ORDER = ("-priority", "rank", "id")


def first_open_item(assignment: Assignment) -> TaskItem | None:
    """Where work resumes: items sent back for rework first, then the first item to do (TO_DO_ORDER)."""
    items = _open_items(assignment)
    return (
        items.filter(rework=True).order_by(*TO_DO_ORDER).first()
        or items.order_by(*TO_DO_ORDER).first()
        or _ordered(assignment).order_by("rank", "id").first()
    )


def next_item(task_item: TaskItem) -> TaskItem | None:
    return (
        _ordered(task_item.assignment)
        .filter(Q(rank__gt=task_item.rank) | Q(rank=task_item.rank, id__gt=task_item.pk))
        .order_by("rank", "id")
        .first()
    )


def next_open_item(task_item: TaskItem) -> TaskItem | None:
    """After a status is set: the next item still to do, wrapping round to the start."""
    items = _open_items(task_item.assignment).exclude(pk=task_item.pk)
    p, rank = task_item.priority, task_item.rank
    after = items.filter(
        Q(priority__lt=p) | Q(priority=p, rank__gt=rank) | Q(priority=p, rank=rank, id__gt=task_item.pk)
    )
    return after.order_by(*TO_DO_ORDER).first() or items.order_by(*TO_DO_ORDER).first()


def previous_item(task_item: TaskItem) -> TaskItem | None:
    return (
        _ordered(task_item.assignment)
        .filter(Q(rank__lt=task_item.rank) | Q(rank=task_item.rank, id__lt=task_item.pk))
        .order_by("-rank", "-id")
        .first()
    )


def item_position(task_item: TaskItem) -> int:
    return (
        TaskItem.objects.filter(assignment_id=task_item.assignment_id)
        .filter(Q(rank__lt=task_item.rank) | Q(rank=task_item.rank, id__lt=task_item.pk))
        .count()
        + 1
    )


def own_annotations(*, task_item: TaskItem) -> list[Annotation]:
    """Only the holder's own labels for this copy: consensus annotators never see each other's."""
    assignee_id = task_item.assignment.assignee_id
    return list(
        Annotation.objects.filter(task_id=task_item.task_id, item_id=task_item.item_id, created_by_id=assignee_id)
    )


def parent_annotations(*, task_item: TaskItem) -> list[Annotation]:
    """What a reviewer checks: the labels the parent task's annotators put on the item."""
    task = task_item.task
    if task.type != TaskType.QA or not task.parent_id:
        return []
    return list(
        Annotation.objects.filter(task_id=task.parent_id, item_id=task_item.item_id).select_related("created_by")
    )


def parent_task_item(task_item: TaskItem) -> TaskItem | None:
    task = task_item.task
    if task.type != TaskType.QA or not task.parent_id:
        return None
    return (
        TaskItem.objects.filter(
            task_id=task.parent_id, item_id=task_item.item_id, assignment__kind=AssignmentKind.WORK
        )
        .select_related("status_by", "assignment__assignee")
        .order_by("copy")
        .first()
    )


def item_history(item: Item, *, task: AnnotationTask | None = None, limit: int = 50) -> list[HoldingChange]:
    """The item's own change records (moves, claims, rework), newest first."""
    changes = HoldingChange.objects.filter(item=item).select_related(
        "by", "task", "from_assignment__assignee", "to_assignment__assignee"
    )
    if task is not None:
        changes = changes.filter(Q(task=task) | Q(task__parent=task) | Q(task_id=task.parent_id))
    return list(changes.order_by("-at", "-id")[:limit])
