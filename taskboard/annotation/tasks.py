"""The annotation app's Celery jobs: job runners registered on import (by AppConfig.ready and Celery's
autodiscovery), and the periodic sweeps (Celery beat): deadline reminders and expired leases."""

from celery import shared_task

from taskboard.annotation import telling
from taskboard.annotation.bulk_jobs import (
    bulk_priority_job_run,
    bulk_reassign_job_run,
    bulk_redistribute_job_run,
    bulk_status_job_run,
)
from taskboard.annotation.creation import task_create_job_run
from taskboard.annotation.leases import leases_expire

__all__ = [
    "bulk_priority_job_run",
    "bulk_reassign_job_run",
    "bulk_redistribute_job_run",
    "bulk_status_job_run",
    "expire_leases",
    "remind_deadlines",
    "task_create_job_run",
]


@shared_task(ignore_result=True)
def remind_deadlines() -> None:
    telling.deadlines_remind()


@shared_task(ignore_result=True)
def expire_leases() -> int:
    """Expired pulled batches go back to their queues even in tasks nobody is pulling from now."""
    return leases_expire()
