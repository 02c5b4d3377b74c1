import datetime
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from taskboard.annotation import creation
from taskboard.annotation.models import AnnotationTask, Assignment, TaskItem
from taskboard.annotation.selection import Selection
from taskboard.annotation.spec import TaskSpec
from taskboard.jobs import services as job_services
from taskboard.jobs.models import Job, JobState
from tests.factories import create_task, in_days, make_items, start_task


@pytest.fixture
def items(dataset, recipe):
    return make_items(dataset, {"/a": 12, "/b": 9})


@pytest.fixture
def small_threshold(settings):
    settings.TASK_JOB_THRESHOLD = 10
    return settings


def start(dataset, manager, people, name="big", **kw):
    return start_task(
        dataset=dataset,
        created_by=manager,
        name=name,
        due_at=in_days(5),
        selection=Selection(mode="all"),
        assignees=people,
        **kw,
    )


def split_of(task):
    return [
        (
            a.assignee_id,
            a.item_count,
            list(TaskItem.objects.filter(assignment=a).order_by("rank").values_list("item_id", flat=True)),
        )
        for a in Assignment.objects.filter(task=task).order_by("id")
    ]


def test_small_selections_are_created_in_the_request(dataset, items, manager, annotator):
    result = start(dataset, manager, [annotator])
    assert result.job is None and result.task is not None


def test_the_job_path_gives_the_same_task_as_the_request_path(
    dataset, items, manager, annotator, annotator2, small_threshold, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        result = start(dataset, manager, [annotator, annotator2])
    # One hand-over of the job after the commit; the task it makes then emails its assignees.
    handed_over = [c for c in callbacks if getattr(getattr(c, "func", None), "__name__", "") == "_send"]
    assert result.task is None and len(handed_over) == 1
    job = Job.objects.get(pk=result.job.pk)
    assert job.state == JobState.SUCCEEDED, job.error
    assert (job.done, job.total, job.attempts) == (21, 21, 1)
    by_job = AnnotationTask.objects.get(pk=job.result["task_id"])
    assert job.result["task_url"].endswith(f"/{by_job.pk}/")
    assert by_job.idempotency_key == f"job-{job.pk}"
    small_threshold.TASK_JOB_THRESHOLD = 1000
    in_request = start(dataset, manager, [annotator, annotator2], name="small").task
    assert [s[1:] for s in split_of(by_job)] == [s[1:] for s in split_of(in_request)]


def test_the_job_is_enqueued_only_after_the_commit(
    dataset, items, manager, annotator, small_threshold, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = start(dataset, manager, [annotator])
    assert len(callbacks) == 1
    assert Job.objects.get(pk=result.job.pk).state == JobState.PENDING
    assert not AnnotationTask.objects.exists()


def test_a_job_killed_half_way_leaves_no_task(
    dataset, items, manager, annotator, small_threshold, django_capture_on_commit_callbacks
):
    def killer(**kwargs):
        assert TaskItem.objects.exists()  # the rows were written…
        raise RuntimeError("worker lost")

    with (
        mock.patch.object(creation, "ensure_status_counts", side_effect=killer),
        django_capture_on_commit_callbacks(execute=True),
    ):
        result = start(dataset, manager, [annotator])
    job = Job.objects.get(pk=result.job.pk)
    assert job.state == JobState.FAILED
    assert "went wrong" in job.error
    # …and rolled back with the task.
    assert not AnnotationTask.objects.exists()
    assert not TaskItem.objects.exists()
    assert not Assignment.objects.exists()


def test_running_a_job_twice_is_safe(
    dataset, items, manager, annotator, small_threshold, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        result = start(dataset, manager, [annotator])
    job_services.job_run(job_id=result.job.pk)
    assert AnnotationTask.objects.count() == 1
    assert Job.objects.get(pk=result.job.pk).attempts == 1


def test_a_rerun_after_a_crash_past_the_commit_finds_the_task(
    dataset, items, manager, annotator, small_threshold, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        result = start(dataset, manager, [annotator])
    job = result.job
    # The worker committed the task and died before marking the job.
    creation.task_create(
        spec=TaskSpec.from_json({**job.params["spec"], "idempotency_key": f"job-{job.pk}"}), by=manager
    )
    Job.objects.filter(pk=job.pk).update(
        state=JobState.RUNNING, attempts=1, heartbeat_at=timezone.now() - datetime.timedelta(hours=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        retried, failed = job_services.job_recover_stale()
    assert (retried, failed) == (1, 0)
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED and job.attempts == 2
    assert AnnotationTask.objects.count() == 1


def test_stale_jobs_are_failed_after_the_last_attempt(db, settings):
    settings.JOB_MAX_ATTEMPTS = 2
    old = timezone.now() - datetime.timedelta(seconds=settings.JOB_STALE_AFTER_SECONDS + 5)
    fresh = Job.objects.create(kind="task_create", state=JobState.RUNNING, attempts=2, heartbeat_at=timezone.now())
    dead = Job.objects.create(kind="task_create", state=JobState.RUNNING, attempts=2, heartbeat_at=old)
    call_command("jobs_recover")
    dead.refresh_from_db()
    fresh.refresh_from_db()
    assert dead.state == JobState.FAILED and "attempts" in dead.error
    assert fresh.state == JobState.RUNNING


def test_a_job_whose_input_went_bad_fails_with_a_readable_error(
    dataset, items, manager, annotator, small_threshold, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        result = start(dataset, manager, [annotator])
    # Someone took the name meanwhile.
    create_task(dataset=dataset, created_by=manager, name="big", due_at=in_days(1), assignees=[annotator])
    job = job_services.job_run(job_id=result.job.pk)
    assert job.state == JobState.FAILED
    assert job.error.startswith("name:")


def test_validation_happens_before_the_job_is_made(dataset, items, manager, annotator, small_threshold):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        start_task(dataset=dataset, created_by=manager, name="x", due_at=in_days(-1), assignees=[annotator])
    assert not Job.objects.exists()


# ---------------------------------------------------------------- progress page


def test_progress_fragment_polls_until_finished(client, project, manager, other_manager):
    job = Job.objects.create(
        kind="task_create", project=project, created_by=manager, total=10, done=3, state=JobState.RUNNING
    )
    client.force_login(manager)
    response = client.get(f"/jobs/{job.pk}/progress/", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert b'hx-trigger="every 2s"' in response.content and b"3 / 10" in response.content
    Job.objects.filter(pk=job.pk).update(
        state=JobState.SUCCEEDED, done=10, result={"task_url": "/tasks/1/", "task_name": "t"}
    )
    response = client.get(f"/jobs/{job.pk}/progress/", headers={"HX-Request": "true"})
    assert b"hx-trigger" not in response.content and b'href="/tasks/1/"' in response.content
    assert client.get(f"/jobs/{job.pk}/").status_code == 200
    client.force_login(other_manager)
    assert client.get(f"/jobs/{job.pk}/progress/").status_code == 404


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_progress_is_visible_while_the_work_is_uncommitted(project, manager):
    if connection.vendor != "postgresql":
        pytest.skip("out-of-band progress is PostgreSQL's")
    import psycopg

    job = Job.objects.create(
        kind="task_create", project=project, created_by=manager, total=100, state=JobState.RUNNING
    )
    s = connection.settings_dict
    with transaction.atomic():
        writer = job_services.ProgressWriter(job, min_interval=0)
        writer(40, 100)
        writer.close()
        with psycopg.connect(
            dbname=s["NAME"], user=s["USER"], host=s["HOST"], port=s["PORT"], autocommit=True
        ) as other:
            seen = other.execute("SELECT done FROM jobs_job WHERE id = %s", (job.pk,)).fetchone()[0]
        assert seen == 40


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_progress_held_back_by_the_throttle_is_carried_by_the_heartbeat(project, manager, settings):
    if connection.vendor != "postgresql":
        pytest.skip("out-of-band progress is PostgreSQL's")
    import time

    import psycopg

    settings.JOB_HEARTBEAT_SECONDS = 0.1
    job = Job.objects.create(
        kind="task_create", project=project, created_by=manager, total=100, state=JobState.RUNNING
    )
    s = connection.settings_dict
    writer = job_services.ProgressWriter(job, min_interval=0)
    try:
        writer(10, 100)
        writer.min_interval = 3600
        writer(40, 100)  # throttled: too soon after the last write
        with psycopg.connect(
            dbname=s["NAME"], user=s["USER"], host=s["HOST"], port=s["PORT"], autocommit=True
        ) as other:
            deadline, seen = time.monotonic() + 5, None
            while time.monotonic() < deadline and seen != 40:
                time.sleep(0.05)
                seen = other.execute("SELECT done FROM jobs_job WHERE id = %s", (job.pk,)).fetchone()[0]
        assert seen == 40
    finally:
        writer.close()


def test_a_broker_that_is_down_leaves_the_job_queued_and_recovery_sends_it_later(
    dataset, items, manager, annotator, small_threshold, monkeypatch, django_capture_on_commit_callbacks
):
    from kombu.exceptions import OperationalError

    from taskboard.jobs import tasks

    real_delay = tasks.run_job.delay

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.run_job, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        result = start(dataset, manager, [annotator])
    job = Job.objects.get(pk=result.job.pk)
    assert job.state == JobState.PENDING and job.enqueued_at is None and job.get_state_display() == "Queued"
    # Too fresh to resend (its on_commit may still be on its way); and still down a minute later.
    assert job_services.job_recover_stale() == (0, 0)
    later = timezone.now() + datetime.timedelta(minutes=1)
    with django_capture_on_commit_callbacks(execute=True):
        assert job_services.job_recover_stale(now=later) == (1, 0)
    job.refresh_from_db()
    assert job.state == JobState.PENDING and job.enqueued_at is None

    monkeypatch.setattr(tasks.run_job, "delay", real_delay)
    with django_capture_on_commit_callbacks(execute=True):
        assert job_services.job_recover_stale(now=later) == (1, 0)
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED and job.attempts == 1 and job.enqueued_at is not None
    assert AnnotationTask.objects.filter(name="big").count() == 1


def test_a_sent_job_is_resent_only_once_its_message_may_be_lost(db, settings, django_capture_on_commit_callbacks):
    from unittest import mock

    stale = timezone.now() - datetime.timedelta(seconds=settings.JOB_STALE_AFTER_SECONDS + 5)
    waiting = Job.objects.create(kind="task_create", enqueued_at=timezone.now(), created_at=stale)
    lost = Job.objects.create(kind="task_create", enqueued_at=stale, created_at=stale)
    with mock.patch("taskboard.jobs.services._send") as send, django_capture_on_commit_callbacks(execute=True):
        assert job_services.job_recover_stale() == (1, 0)
    send.assert_called_once_with(lost.pk)
    assert Job.objects.get(pk=waiting.pk).state == JobState.PENDING


def test_celery_is_configured_not_to_lose_jobs():
    from taskboard.celery import app
    from taskboard.jobs import tasks

    conf = app.conf
    assert conf.task_acks_late is True and conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_serializer == "json" and list(conf.accept_content) == ["json"]
    assert tasks.run_job.acks_late is True and tasks.run_job.reject_on_worker_lost is True
    assert conf.beat_schedule["recover-jobs"]["task"] == tasks.recover_jobs.name
    assert conf.task_publish_retry_policy["max_retries"] <= 3


def test_without_a_broker_the_page_watching_a_dead_job_recovers_it(
    client, dataset, items, manager, annotator, small_threshold, settings, django_capture_on_commit_callbacks
):
    # The web process that ran it in-process died: the job is "running" and nobody beats for it.
    with django_capture_on_commit_callbacks(execute=False):
        result = start(dataset, manager, [annotator])
    old = timezone.now() - datetime.timedelta(seconds=settings.JOB_STALE_AFTER_SECONDS + 5)
    Job.objects.filter(pk=result.job.pk).update(state=JobState.RUNNING, attempts=1, started_at=old, heartbeat_at=old)
    client.force_login(manager)
    from django.urls import reverse

    url = reverse("jobs:job-progress", args=[result.job.pk])
    with django_capture_on_commit_callbacks(execute=True):  # in a test, the resend runs after the response
        client.get(url, headers={"HX-Request": "true"})
    job = Job.objects.get(pk=result.job.pk)
    assert job.state == JobState.SUCCEEDED and job.attempts == 2
    assert AnnotationTask.objects.filter(name="big").count() == 1
    assert "Succeeded" in client.get(url, headers={"HX-Request": "true"}).content.decode()
