"""Celery tasks: thin, take ids, safe to run twice (moves are unique per routing step)."""

import datetime

from celery import shared_task

from taskboard.pipelines import services
from taskboard.pipelines.models import Pipeline


@shared_task(bind=True, acks_late=True)
def route_item(self, *, task_item_id: int, status: str, status_at: str) -> int:
    return services.item_route(
        task_item_id=task_item_id,
        status=status,
        status_at=datetime.datetime.fromisoformat(status_at),
        job_id=self.request.id or "",
    )


@shared_task(bind=True, acks_late=True)
def pipeline_catch_up(self, *, pipeline_id: int) -> int:
    pipeline = Pipeline.objects.filter(pk=pipeline_id).first()
    if pipeline is None:
        return 0
    return services.pipeline_catch_up(pipeline=pipeline, job_id=self.request.id or "")
