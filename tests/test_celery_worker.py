"""Jobs on a real Celery worker (`.ci/run`'s PostgreSQL run sets CELERY_BROKER_URL)."""

import time

import pytest

from taskboard.annotation.models import AnnotationTask
from taskboard.annotation.selection import Selection
from taskboard.celery import app
from taskboard.jobs.models import Job, JobState
from tests.factories import in_days, make_items, start_task

pytestmark = pytest.mark.celery_worker


def test_the_worker_listens_on_its_own_queue(celery_worker):
    assert app.control.ping(destination=[celery_worker.node], timeout=2.0)
    queues = app.control.inspect([celery_worker.node], timeout=2.0).active_queues()
    assert [q["name"] for q in queues[celery_worker.node]] == [celery_worker.queue]


def test_a_large_task_is_created_by_a_job_on_the_worker(
    celery_worker, transactional_db, settings, dataset, recipe, manager, annotator, annotator2
):
    settings.TASK_JOB_THRESHOLD = 10
    make_items(dataset, {"/city/day": 25, "/highway": 5})

    creation = start_task(
        dataset=dataset,
        created_by=manager,
        name="Made on the worker",
        selection=Selection(mode="folder", folder="/city/day"),
        assignees=[annotator, annotator2],
        due_at=in_days(3),
    )
    assert creation.task is None and creation.job is not None

    job = creation.job
    deadline = time.monotonic() + 60
    while not job.is_finished and time.monotonic() < deadline:
        time.sleep(0.2)
        job = Job.objects.get(pk=job.pk)
    assert job.state == JobState.SUCCEEDED, f"{job.state}: {job.error}\n{celery_worker.log_tail()}"
    assert (job.done, job.total) == (25, 25)

    task = AnnotationTask.objects.get(project=dataset.project, name="Made on the worker")
    counts = sorted(task.assignments.values_list("assignee__email", "item_count"))
    assert counts == [("bob@example.com", 13), ("carol@example.com", 12)]
    assert task.task_items.count() == 25
    # The worker, not this process, ran it.
    assert "Task taskboard.jobs.tasks.run_job[" in celery_worker.log.read_text()
