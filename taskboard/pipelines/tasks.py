"""Celery tasks and job runners: thin, take ids, safe to run twice (moves are unique per routing step).

`routing` and `running` import this module to enqueue its tasks, and it imports them: the app's
ready() imports this module first, so both are whole before RoutingTask reads routing's errors."""

import datetime
import logging

from celery import Task, shared_task
from django.contrib.auth import get_user_model
from django.urls import reverse

from taskboard.annotation.selection import Selection
from taskboard.jobs.registry import job_runner
from taskboard.pipelines import routing, running
from taskboard.pipelines.models import Pipeline

logger = logging.getLogger(__name__)

# A busy database is retried this many times, waiting about 2, 4, 8, 16, 32 s (jittered).
ROUTING_MAX_RETRIES = 5


class RoutingTask(Task):
    """Routing work. The database being busy or away (a lock, a deadlock, a dropped connection) is
    retried with exponential backoff; what still fails is recorded as failed steps with the
    reason, listed per node in the pipeline editor with a Retry. A rule that refuses a move is
    recorded by the services at once: retrying would not help until the manager fixes it."""

    abstract = True
    acks_late = True
    autoretry_for = routing.TRANSIENT_ERRORS
    max_retries = ROUTING_MAX_RETRIES
    retry_backoff = 2
    retry_backoff_max = 300
    retry_jitter = True
    # Which steps a give-up is recorded against: "route", "intake" or "catch_up".
    routing_kind = ""

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        logger.error("routing task %s (%s) gave up: %r", self.name, task_id, exc)
        try:
            routing.routing_job_failed(
                kind=self.routing_kind, kwargs=kwargs, exc=exc, tries=self.request.retries + 1, job_id=task_id or ""
            )
        except Exception:
            logger.exception("routing task %s: its failure could not be recorded", task_id)


@shared_task(bind=True, base=RoutingTask, routing_kind="route")
def route_item(self, *, task_item_id: int, status: str, status_at: str) -> int:
    return routing.item_route(
        task_item_id=task_item_id,
        status=status,
        status_at=datetime.datetime.fromisoformat(status_at),
        job_id=self.request.id or "",
    )


@shared_task(bind=True, base=RoutingTask, routing_kind="intake")
def pipeline_intake(self, *, pipeline_id: int) -> int:
    pipeline = Pipeline.objects.filter(pk=pipeline_id).first()
    if pipeline is None:
        return 0
    return running.pipeline_intake(pipeline=pipeline, job_id=self.request.id or "")


@shared_task(bind=True, base=RoutingTask, routing_kind="catch_up")
def pipeline_catch_up(self, *, pipeline_id: int) -> int:
    pipeline = Pipeline.objects.filter(pk=pipeline_id).first()
    if pipeline is None:
        return 0
    return running.pipeline_catch_up(pipeline=pipeline, job_id=self.request.id or "")


@job_runner("pipeline_run")
def pipeline_run_job_run(*, job, progress) -> dict:
    """The "pipeline_run" job: a big run, through the same pipeline_run as a small one in the request."""
    params = job.params
    pipeline = Pipeline.objects.get(pk=params["pipeline"])
    by = get_user_model().objects.filter(pk=params.get("by")).first() if params.get("by") else None
    result = running.pipeline_run(
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


@job_runner("pipeline_intake")
def pipeline_intake_job_run(*, job, progress) -> dict:
    """The "pipeline_intake" job: a big import entering a pipeline, with progress."""
    pipeline = Pipeline.objects.filter(pk=job.params["pipeline"]).first()
    if pipeline is None:
        return {"added": 0}
    added = running.pipeline_intake(pipeline=pipeline, job_id=f"job-{job.pk}", progress=progress)
    return {
        "added": added,
        "url": reverse("pipelines:detail", args=[pipeline.pk]),
        "label": f"Open pipeline {pipeline.name}",
    }
