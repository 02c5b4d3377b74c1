"""Build tasks straight from rows, for tests that do not need the core services' split rules."""

from taskboard.annotation.models import (
    DEFAULT_ANNOTATION_STATUSES,
    DEFAULT_QA_STATUSES,
    AnnotationTask,
    Assignment,
    AssignmentKind,
    TaskItem,
    TaskStatus,
    TaskType,
)
from tests.factories import in_days


def build_task(
    *,
    dataset,
    recipe,
    by,
    people,
    items,
    name="Boxes",
    task_type=TaskType.ANNOTATION,
    parent=None,
    due_days=3,
    priority=2,
    **fields,
):
    """A task whose items are split in contiguous runs over `people` (one assignment each)."""
    task = AnnotationTask.objects.create(
        project=dataset.project,
        dataset=dataset,
        recipe=recipe,
        name=name,
        type=task_type,
        parent=parent,
        owner=by,
        created_by=by,
        due_at=in_days(due_days),
        priority=priority,
        **fields,
    )
    defaults = DEFAULT_QA_STATUSES if task_type == TaskType.QA else DEFAULT_ANNOTATION_STATUSES
    TaskStatus.objects.bulk_create(
        TaskStatus(task=task, key=k, label=label, color=c, is_done=d, position=i)
        for i, (k, label, c, d) in enumerate(defaults)
    )
    assignments = [Assignment.objects.create(task=task, assignee=p, kind=AssignmentKind.WORK) for p in people]
    per = -(-len(items) // max(len(people), 1))
    rows = []
    for rank, item in enumerate(items):
        a = assignments[rank // per]
        rows.append(TaskItem(task=task, item=item, assignment=a, rank=rank))
    TaskItem.objects.bulk_create(rows)
    for a in assignments:
        a.item_count = TaskItem.objects.filter(assignment=a).count()
        a.save(update_fields=["item_count"])
    return task, assignments
