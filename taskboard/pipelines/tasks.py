"""Celery tasks and job runners: thin, take ids, safe to run twice (moves are unique per routing step)."""

import datetime

from celery import shared_task
from django.contrib.auth import get_user_model
from django.urls import reverse

from taskboard.datasets.selection import Selection
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
def pipeline_intake(self, *, pipeline_id: int) -> int:
    pipeline = Pipeline.objects.filter(pk=pipeline_id).first()
    if pipeline is None:
        return 0
    return services.pipeline_intake(pipeline=pipeline, job_id=self.request.id or "")


@shared_task(bind=True, acks_late=True)
def pipeline_catch_up(self, *, pipeline_id: int) -> int:
    pipeline = Pipeline.objects.filter(pk=pipeline_id).first()
    if pipeline is None:
        return 0
    return services.pipeline_catch_up(pipeline=pipeline, job_id=self.request.id or "")


def pipeline_run_job_run(*, job, progress) -> dict:
    """The "pipeline_run" job: a big run, through the same pipeline_run as a small one in the request."""
    params = job.params
    pipeline = Pipeline.objects.get(pk=params["pipeline"])
    by = get_user_model().objects.filter(pk=params.get("by")).first() if params.get("by") else None
    result = services.pipeline_run(
        pipeline=pipeline,
        selection=Selection.from_json(params["selection"]),
        by=by,
        job_id=f"job-{job.pk}",
        progress=progress,
        in_job=True,
    )
    return {
        "added": result.added,
        "skipped": result.skipped,
        "url": reverse("pipelines:detail", args=[pipeline.pk]),
        "label": f"Open pipeline {pipeline.name}",
    }


def pipeline_intake_job_run(*, job, progress) -> dict:
    """The "pipeline_intake" job: a big import entering a pipeline, with progress."""
    pipeline = Pipeline.objects.filter(pk=job.params["pipeline"]).first()
    if pipeline is None:
        return {"added": 0}
    added = services.pipeline_intake(pipeline=pipeline, job_id=f"job-{job.pk}", progress=progress)
    return {
        "added": added,
        "url": reverse("pipelines:detail", args=[pipeline.pk]),
        "label": f"Open pipeline {pipeline.name}",
    }
