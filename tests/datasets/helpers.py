"""Tasks built directly from rows, so these tests do not depend on the task services."""

from taskboard.annotation.models import AnnotationTask, Assignment, TaskItem
from tests.factories import in_days


def make_task(dataset, recipe, by, *, name="t", items=(), assignee=None, statuses=None):
    task = AnnotationTask.objects.create(
        project=dataset.project,
        dataset=dataset,
        recipe=recipe,
        name=name,
        owner=by,
        created_by=by,
        due_at=in_days(7),
    )
    assignment = Assignment.objects.create(task=task, assignee=assignee or by)
    statuses = statuses or {}
    TaskItem.objects.bulk_create(
        TaskItem(task=task, item=item, assignment=assignment, rank=i, status=statuses.get(item.pk))
        for i, item in enumerate(items)
    )
    return task, assignment
