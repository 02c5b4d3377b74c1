"""Reading comments: an item's threads in a task, and where threads are still open."""

from collections.abc import Iterable

from django.db.models import Count, Prefetch, QuerySet, prefetch_related_objects

from taskboard.discussion.models import Comment
from taskboard.sql import Compiled

# Every work page reads an item's threads, mostly none: compiled once per process, replies only when
# there are threads.
_THREADS = Compiled(
    lambda task_id, item_id: Comment.objects.filter(
        task_id=task_id, item_id=item_id, thread__isnull=True
    ).select_related("author", "resolved_by")
)


def threads(*, task_id: int, item_id: int) -> list[Comment]:
    """The item's threads in the task, oldest first, each with its replies (`thread.replies.all()`)."""
    found: list[Comment] = _THREADS.rows(task_id, item_id)
    if found:
        replies = Comment.objects.select_related("author").order_by("created_at", "id")
        prefetch_related_objects(found, Prefetch("replies", queryset=replies))
    return found


def open_threads(*, task_ids: Iterable[int] | None = None, dataset_id: int | None = None) -> QuerySet[Comment]:
    rows = Comment.objects.filter(thread__isnull=True, resolved_at__isnull=True)
    if task_ids is not None:
        rows = rows.filter(task_id__in=list(task_ids))
    if dataset_id is not None:
        rows = rows.filter(item__dataset_id=dataset_id)
    return rows


def open_thread_counts(*, task_ids: Iterable[int]) -> dict[int, int]:
    """Open (unresolved) threads per task."""
    counts = open_threads(task_ids=task_ids).values("task_id").annotate(n=Count("id")).values_list("task_id", "n")
    return dict(counts)


def items_with_open_threads(*, dataset_id: int, task_id: int | None = None) -> list[int]:
    """The items of a dataset with an unresolved thread (in one task, or in any)."""
    rows = open_threads(task_ids=[task_id] if task_id is not None else None, dataset_id=dataset_id)
    return sorted(set(rows.values_list("item_id", flat=True)))
