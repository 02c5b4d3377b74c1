"""The annotation app's Celery tasks and job runners, registered on import (by AppConfig.ready and
Celery's autodiscovery)."""

from celery import shared_task

from taskboard.annotation import telling
from taskboard.annotation.creation import task_create_job_run

__all__ = ["remind_deadlines", "task_create_job_run"]


@shared_task(ignore_result=True)
def remind_deadlines() -> None:
    telling.deadlines_remind()
