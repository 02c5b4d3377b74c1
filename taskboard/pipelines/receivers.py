"""Status changes in a task start routing when an installed pipeline has a connection for them;
new items of a dataset enter the installed pipelines whose dataset node watches it."""

from django.db import transaction
from django.dispatch import receiver

from taskboard.annotation.signals import task_item_status_changed
from taskboard.datasets.signals import items_arrived
from taskboard.pipelines.models import Connection, PipelineState


@receiver(task_item_status_changed, dispatch_uid="pipelines.route_on_status")
def route_on_status(sender, task_item, old_status=None, new_status=None, by=None, **kwargs):
    if not new_status or task_item.status_at is None:
        return
    routed = Connection.objects.filter(
        source__task_id=task_item.task_id, status=new_status, pipeline__state=PipelineState.INSTALLED
    ).exists()
    if not routed:
        return
    from taskboard.pipelines import services, tasks

    args = {"task_item_id": task_item.pk, "status": new_status, "status_at": task_item.status_at.isoformat()}
    # After commit: the job must see the status, and a rolled-back change must move nothing.
    transaction.on_commit(lambda: services.send_routing(tasks.route_item, kind="route", **args))


@receiver(items_arrived, dispatch_uid="pipelines.intake_on_arrival")
def intake_on_arrival(sender, dataset, count=0, by=None, **kwargs):
    from taskboard.pipelines import services

    for pipeline in services.pipelines_watching(dataset).select_related("project"):
        services.intake_enqueue(pipeline=pipeline, count=count, by=by)
