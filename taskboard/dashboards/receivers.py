"""Keeps the dashboards' own rows in step with status changes, inside the service's transaction."""

from django.utils import timezone

from taskboard.dashboards import services


def on_task_item_status_changed(sender, *, task_item, old_status, new_status, by=None, **kwargs):
    services.throughput_record(task_item=task_item, old_status=old_status, new_status=new_status)
    services.review_tally_record(task_item=task_item, old_status=old_status, new_status=new_status)


def on_items_sent_back(sender, *, task, annotator_ids, by=None, **kwargs):
    services.review_sent_back(task_id=task.pk, annotator_ids=annotator_ids)


def on_consensus_scored(sender, *, task, item_id, old, new, **kwargs):
    services.consensus_tally_add(task_id=task.pk, old=old, new=new)


def on_active_time_recorded(sender, *, task_id, assignment_id, seconds, at, **kwargs):
    services.active_time_add(task_id=task_id, assignment_id=assignment_id, day=timezone.localdate(at), seconds=seconds)
