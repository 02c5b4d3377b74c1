"""Keeps the dashboards' own rows in step with status changes, inside the service's transaction.

These are projections: counters that follow the changes. Nothing else hangs on a signal; what a
status change sets off is called by name (`taskboard.work.flow`)."""

from django.dispatch import receiver
from django.utils import timezone

from taskboard.annotation.signals import task_item_status_changed, task_items_statuses_changed
from taskboard.dashboards import services
from taskboard.work import signals as work_signals


@receiver(task_item_status_changed, dispatch_uid="dashboards.on_task_item_status_changed")
def on_task_item_status_changed(sender, *, task_item, old_status, new_status, by=None, done_keys=None, **kwargs):
    services.throughput_record(task_item=task_item, old_status=old_status, new_status=new_status, done_keys=done_keys)
    services.review_tally_record(task_item=task_item, old_status=old_status, new_status=new_status)


@receiver(task_items_statuses_changed, dispatch_uid="dashboards.on_task_items_statuses_changed")
def on_task_items_statuses_changed(sender, *, task, done_by_assignment, **kwargs):
    day = timezone.localdate()
    for assignment_id, done in sorted(done_by_assignment.items()):
        services.throughput_add(task_id=task.pk, assignment_id=assignment_id, day=day, done=done)


@receiver(work_signals.items_sent_back, dispatch_uid="dashboards.on_items_sent_back")
def on_items_sent_back(sender, *, task, annotator_ids, by=None, **kwargs):
    services.review_sent_back(task_id=task.pk, annotator_ids=annotator_ids)


@receiver(work_signals.consensus_scored, dispatch_uid="dashboards.on_consensus_scored")
def on_consensus_scored(sender, *, task, item_id, old, new, **kwargs):
    services.consensus_tally_add(task_id=task.pk, old=old, new=new)


@receiver(work_signals.active_time_recorded, dispatch_uid="dashboards.on_active_time_recorded")
def on_active_time_recorded(sender, *, task_id, assignment_id, seconds, at, **kwargs):
    services.active_time_add(task_id=task_id, assignment_id=assignment_id, day=timezone.localdate(at), seconds=seconds)
