"""Reactions to status changes, run inside the core service's transaction so they commit with it."""

from django.dispatch import receiver

from taskboard.annotation.models import AssignmentKind, TaskStatus, TaskType
from taskboard.annotation.signals import task_item_status_changed
from taskboard.work import services


@receiver(task_item_status_changed, dispatch_uid="work.on_status_changed")
def on_status_changed(sender, *, task_item, old_status, new_status, by=None, **kwargs):
    task = task_item.task
    if task.type == TaskType.ANNOTATION:
        if task.is_consensus and task_item.copy > 0:
            services.consensus_update(task=task, item_id=task_item.item_id)
        if new_status is not None and old_status is None:
            is_done = TaskStatus.objects.filter(task=task, key=new_status, is_done=True).exists()
            if task_item.rework and is_done:
                services.qa_rework_done(parent_item=task_item, by=by)
            services.qa_intake(parent_item=task_item, by=by)
    if (
        new_status is not None
        and task.is_pulling
        and task_item.assignment.kind == AssignmentKind.WORK
        and task_item.assignment.assignee_id is not None
    ):
        services.pulling_refill(assignment=task_item.assignment)
