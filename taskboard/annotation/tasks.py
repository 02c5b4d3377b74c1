"""The annotation app's Celery jobs: job runners registered on import (by AppConfig.ready and Celery's
autodiscovery), and the periodic lease sweep (Celery beat)."""

from celery import shared_task

from taskboard.annotation.creation import task_create_job_run
from taskboard.annotation.leases import leases_expire

__all__ = ["expire_leases", "task_create_job_run"]


@shared_task(ignore_result=True)
def expire_leases() -> int:
    """Expired pulled batches go back to their queues even in tasks nobody is pulling from now."""
    return leases_expire()
