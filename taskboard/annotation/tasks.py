"""Job runners and Celery tasks for tasks; thin, they call the services."""

from django.urls import NoReverseMatch, reverse

from taskboard.annotation import services


def task_create_job_run(*, job, progress) -> dict:
    """The "task_create" job: the same task_create as the in-request path, keyed by the job id."""
    args = services.task_create_args(job.params)
    args["idempotency_key"] = args.get("idempotency_key") or f"job-{job.pk}"
    task = services.task_create(progress=progress, **args)
    try:
        url = reverse("dashboards:task-detail", args=[task.pk])
    except NoReverseMatch:
        url = ""
    return {"task_id": task.pk, "task_name": task.name, "task_url": url}
