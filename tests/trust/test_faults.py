"""Real faults on real Celery workers, on PostgreSQL with Redis.

A worker SIGKILLed at 10%, 50% and 90% of a 100,000-item task creation; a job whose worker dies on
every try; Redis shut down while a manager creates a task. The workers here embed Celery beat with
a fast recovery schedule, so nothing but the product's own recovery brings the jobs back.

Marked `heavy`: `.ci/run` runs them in a step of their own (`make test-heavy` does the same).
"""

import contextlib
import json
import subprocess
import time
import uuid
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.urls import reverse

from taskboard.annotation.models import AnnotationTask, Assignment, AssignmentKind, TaskItem
from taskboard.annotation.selection import Selection
from taskboard.api.auth import token_issue
from taskboard.api.ids import api_id
from taskboard.celery import app
from taskboard.dashboards import counters
from taskboard.datasets.models import Item
from taskboard.jobs.models import Job, JobState
from tests.celery_worker import start_worker
from tests.factories import DatasetFactory, RecipeFactory, in_days, start_task
from tests.needs import unavailable

pytestmark = [pytest.mark.heavy, pytest.mark.celery_worker]

ITEMS = 100_000
# Stale after 10 s (heartbeats every 2 s), recovery every 2 s: minutes in production, seconds here.
FAST_RECOVERY = {"JOB_STALE_AFTER_SECONDS": "10", "JOB_RECOVER_EVERY_SECONDS": "2", "JOB_MAX_ATTEMPTS": "3"}
RECOVERY_WAIT = 90


@pytest.fixture
def pg(transactional_db, settings):
    if connection.vendor != "postgresql":
        unavailable("The fault tests need PostgreSQL (progress and heartbeats from a running job).")
    settings.JOB_STALE_AFTER_SECONDS = int(FAST_RECOVERY["JOB_STALE_AFTER_SECONDS"])


@pytest.fixture
def workers(pg):
    """start() gives a worker with beat on this test's own queue; every one is stopped at the end."""
    queue = f"faults-{uuid.uuid4().hex[:8]}"
    previous = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    started = []

    def start():
        worker = start_worker(queue=queue, beat=True, env=FAST_RECOVERY)
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        app.conf.task_default_queue = previous
        for worker in started:
            with contextlib.suppress(Exception):  # one that will not die must not spare the others
                worker.kill()


@pytest.fixture
def big(pg, dataset, recipe):
    """`ITEMS` items in ten folders, written by one INSERT … SELECT."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Item._meta.db_table} (dataset_id, dir, name, filename, mimetype, metadata, file, url, "
            "annotated, created_at) "
            "SELECT %s, '/f' || (g %% 10), 'img' || lpad(g::text, 6, '0') || '.jpg', "
            "'/f' || (g %% 10) || '/img' || lpad(g::text, 6, '0') || '.jpg', 'image/jpeg', '{}', '', '', false, now() "
            "FROM generate_series(1, %s) g",
            [dataset.pk, ITEMS],
        )
    return dataset


def start_creation(dataset, manager, people, name):
    creation = start_task(
        dataset=dataset,
        created_by=manager,
        name=name,
        selection=Selection(mode="all"),
        assignees=people,
        due_at=in_days(3),
    )
    assert creation.task is None and creation.job is not None
    return creation.job


def wait_for(job, states, timeout, *, attempts=None, step=0.005):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job.refresh_from_db()
        if job.state in states and (attempts is None or job.attempts >= attempts):
            return job
        time.sleep(step)
    raise AssertionError(f"job {job.pk} still {job.state} (attempt {job.attempts}) after {timeout} s: {job.error}")


def whole_or_none(name, project):
    """'none' when no trace of the task exists, 'whole' when it is complete and its counters agree."""
    task = AnnotationTask.objects.filter(project=project, name=name).first()
    if task is None:
        assert not TaskItem.objects.filter(task__name=name).exists()
        return "none", None
    assert task.task_items.count() == ITEMS
    work = Assignment.objects.filter(task=task, kind=AssignmentKind.WORK)
    assert sorted(work.values_list("item_count", flat=True)) == [ITEMS // 2, ITEMS // 2]
    assert counters.find_drift([task.pk]) == []
    return "whole", task


def test_a_worker_killed_during_a_large_creation_leaves_the_whole_task_or_none(
    workers, big, manager, annotator, annotator2
):
    project = big.project
    worker = workers()
    # Baseline: how long the creation runs on a worker when nothing goes wrong.
    job = wait_for(start_creation(big, manager, [annotator, annotator2], "baseline"), {JobState.SUCCEEDED}, 120)
    run_seconds = (job.finished_at - job.started_at).total_seconds()
    assert whole_or_none("baseline", project)[0] == "whole"

    for percent in (10, 50, 90):
        name = f"killed at {percent}%"
        job = start_creation(big, manager, [annotator, annotator2], name)
        wait_for(job, {JobState.RUNNING}, 60)
        time.sleep(run_seconds * percent / 100)
        worker.kill()
        killed_at = time.monotonic()
        job.refresh_from_db()
        progress = f"{job.done}/{job.total}"
        # The dead worker's transaction is rolled back (once PostgreSQL notices), never half-kept.
        at_kill, _ = whole_or_none(name, project)
        worker = workers()
        job = wait_for(job, {JobState.SUCCEEDED, JobState.FAILED}, RECOVERY_WAIT, step=0.2)
        recovered_s = time.monotonic() - killed_at
        outcome, task = whole_or_none(name, project)
        assert job.state == JobState.SUCCEEDED, job.error
        assert outcome == "whole" and job.result["task_id"] == task.pk
        print(
            f"FIGURE worker_kill items={ITEMS} at={percent}% baseline_run_s={run_seconds:.2f} "
            f"progress_at_kill={progress} task_at_kill={at_kill} job={job.state} attempts={job.attempts} "
            f"task_after={outcome} recovered_s={recovered_s:.1f}"
        )


def test_a_job_whose_worker_always_dies_is_failed_after_its_attempts(workers, big, manager, annotator, annotator2):
    worker = workers()
    job = start_creation(big, manager, [annotator, annotator2], "never finishes")
    for attempt in (1, 2, 3):
        wait_for(job, {JobState.RUNNING}, RECOVERY_WAIT, attempts=attempt)
        worker.kill()
        worker = workers()
    job = wait_for(job, {JobState.FAILED}, RECOVERY_WAIT, step=0.2)
    assert job.attempts == 3
    assert "stopped after 3 attempts" in job.error
    assert whole_or_none("never finishes", big.project)[0] == "none"
    time.sleep(5)  # and nothing brings it back
    job.refresh_from_db()
    assert job.state == JobState.FAILED
    print(f'FIGURE job_always_dies kills=3 attempts={job.attempts} state={job.state} error="{job.error}"')


def redis_start(port: int) -> list[str]:
    """The command that starts the broker's Redis again (as .ci/run starts it), on the broker's port."""
    return [
        "redis-server",
        "--daemonize",
        "yes",
        "--bind",
        "127.0.0.1",
        "-::1",
        "--port",
        str(port),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        "/tmp",
        "--logfile",
        f"/tmp/taskboard-test-redis-{port}.log",
    ]


def redis_up(port: int) -> bool:
    ping = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "ping"], capture_output=True)
    return ping.returncode == 0


def test_redis_down_at_creation_queues_the_job_and_loses_nothing(
    workers, client, settings, project, manager, annotator, annotator2
):
    broker = urlsplit(settings.CELERY_BROKER_URL)
    if broker.scheme != "redis" or broker.hostname != "127.0.0.1":
        unavailable("This test stops and restarts the broker's Redis: it needs one on redis://127.0.0.1.")
    # The broker's own port: a private redis-server (e.g. on 6391) spares the other users of 6379.
    port = broker.port or 6379
    dataset = DatasetFactory(project=project, name="while-redis-is-down")
    RecipeFactory(dataset=dataset)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Item._meta.db_table} (dataset_id, dir, name, filename, mimetype, metadata, file, url, "
            "annotated, created_at) SELECT %s, '/', 'x' || g || '.jpg', '/x' || g || '.jpg', 'image/jpeg', '{}', "
            "'', '', false, now() FROM generate_series(1, 2000) g",
            [dataset.pk],
        )
    settings.TASK_JOB_THRESHOLD = 1000
    worker = workers()
    token = {"authorization": f"Bearer {token_issue(user=manager)}"}
    body = {
        "name": "made while Redis was down",
        "datasetId": api_id("dataset", dataset.pk),
        "projectId": api_id("project", project.pk),
        "dueDate": int(in_days(3).timestamp() * 1000),
        "workload": [{"assigneeId": annotator.email, "load": 50}, {"assigneeId": annotator2.email, "load": 50}],
        "query": json.dumps({"filter": {"$and": [{"hidden": False}, {"type": "file"}]}}),
        "spec": {"type": "annotation"},
        "asynced": True,
    }
    subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "shutdown", "nosave"], capture_output=True)
    try:
        assert not redis_up(port)
        started = time.monotonic()
        response = client.post("/api/v1/annotationtasks", body, content_type="application/json", headers=token)
        answer_ms = (time.monotonic() - started) * 1000
        assert response.status_code == 200, response.content
        command = response.json()
        assert command["status"] == "created", command
        job = Job.objects.get()
        assert job.state == JobState.PENDING and job.enqueued_at is None
        client.force_login(manager)
        page = client.get(reverse("jobs:job-detail", args=[job.pk]))
        assert "Queued" in page.content.decode()
        time.sleep(3)
        assert Job.objects.get(pk=job.pk).state == JobState.PENDING
    finally:
        subprocess.run(redis_start(port), check=True)
        for _ in range(50):
            if redis_up(port):
                break
            time.sleep(0.1)
    back = time.monotonic()
    job = wait_for(job, {JobState.SUCCEEDED, JobState.FAILED}, RECOVERY_WAIT, step=0.2)
    recovered_s = time.monotonic() - back
    assert job.state == JobState.SUCCEEDED, f"{job.error}\n{worker.log_tail()}"
    task = AnnotationTask.objects.get(project=project, name="made while Redis was down")
    assert task.task_items.count() == 2000
    polled = client.get(f"/api/v1/commands/{command['id']}", headers=token).json()
    assert polled["status"] == "success"
    print(
        f"FIGURE redis_down answer_ms={answer_ms:.0f} status=200 command={command['status']} "
        f"job_while_down=pending recovered_after_s={recovered_s:.1f} job={job.state} items={task.task_items.count()}"
    )
