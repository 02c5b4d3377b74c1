"""Jobs: long work as a row with state and progress that pages poll.

A job runs its work in ONE transaction, so a job killed half-way leaves nothing behind; its
progress is written out of band (PostgreSQL: a second, autocommit connection) so pages see it
move while the work is uncommitted. Running a job twice is safe: a finished job is a no-op, and
runners use the job id as an idempotency key.
"""

import logging
import threading
import time
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from kombu.exceptions import KombuError

from taskboard.accounts.models import User
from taskboard.jobs import tasks
from taskboard.jobs.models import Job, JobState
from taskboard.jobs.registry import runner_for
from taskboard.notifications.models import EventKind
from taskboard.notifications.services import notify
from taskboard.projects.models import Project

logger = logging.getLogger(__name__)


def job_create(
    *,
    kind: str,
    params: dict[str, Any],
    project: Project | None = None,
    created_by: User | None = None,
    total: int = 0,
) -> Job:
    if runner_for(kind) is None:
        raise ValidationError({"kind": f"Unknown job kind “{kind}”."})
    return Job.objects.create(kind=kind, params=params, project=project, created_by=created_by, total=total)


def job_enqueue(*, job: Job) -> None:
    """Run the job after the current transaction commits (in-process when there is no broker).

    A broker that cannot be reached does not lose the job or fail the request: the job stays
    queued with no `enqueued_at`, and `job_recover_stale` hands it over once the broker is back."""
    transaction.on_commit(partial(_send, job.pk))


# Jobs created this recently may still be on their way to the broker (their on_commit is running).
UNSENT_GRACE = timedelta(seconds=5)


def _send(job_id: int) -> None:
    Job.objects.filter(pk=job_id, state=JobState.PENDING).update(enqueued_at=timezone.now())
    try:
        tasks.run_job.delay(job_id)
    except (KombuError, OSError):
        logger.warning("job %s: the broker is unreachable; the job stays queued until it is back", job_id)
        Job.objects.filter(pk=job_id, state=JobState.PENDING).update(enqueued_at=None)


def job_start(*, job_id: int) -> Job | None:
    """Claim a pending job; None when another worker has it or it is finished."""
    now = timezone.now()
    claimed = Job.objects.filter(pk=job_id, state=JobState.PENDING).update(
        state=JobState.RUNNING, attempts=F("attempts") + 1, started_at=now, heartbeat_at=now, error=""
    )
    return Job.objects.get(pk=job_id) if claimed else None


def job_succeed(*, job: Job, result: dict[str, Any] | None = None) -> Job:
    job.state = JobState.SUCCEEDED
    job.result = result or {}
    job.done = job.total = max(job.total, job.done)
    job.finished_at = job.heartbeat_at = timezone.now()
    job.error = ""
    job.save(update_fields=["state", "result", "done", "total", "finished_at", "heartbeat_at", "error"])
    _tell_starter(job)
    return job


def job_fail(*, job: Job, error: str) -> Job:
    Job.objects.filter(pk=job.pk).update(
        state=JobState.FAILED, error=error[:2000], finished_at=timezone.now(), heartbeat_at=timezone.now()
    )
    job.refresh_from_db()
    _tell_starter(job)
    return job


def _tell_starter(job: Job) -> None:
    """The person who started a job hears how it ended, once."""
    failed = job.state == JobState.FAILED
    what = job.kind.replace("_", " ")
    notify(
        kind=EventKind.JOB_FAILED if failed else EventKind.JOB_FINISHED,
        recipients=[job.created_by_id],
        event_key=f"job:{job.pk}:{job.state}",
        title=f"Your {what} job {'failed' if failed else 'finished'}",
        body=job.error if failed else "",
        project=job.project_id,
        url=reverse("jobs:job-detail", args=[job.pk]),
        data={"job_id": job.pk, "kind": job.kind, "state": job.state},
    )


def readable_error(exc: BaseException) -> str:
    """What a person can act on: the rule that was broken, or that something went wrong."""
    if isinstance(exc, ValidationError):
        if hasattr(exc, "message_dict"):
            return " ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
        return " ".join(exc.messages)
    return f"Something went wrong while running this job ({exc.__class__.__name__}). Try again, or ask an admin."


class ProgressWriter:
    """Writes a job's progress and heartbeat where other sessions can see them.

    On PostgreSQL through its own autocommit connection, throttled, with a thread that beats
    every JOB_HEARTBEAT_SECONDS while one long statement runs, so recovery can tell a slow job
    from a dead worker; elsewhere the figures are kept and written with the job's result
    (SQLite has one writer at a time).
    """

    def __init__(self, job: Job, *, min_interval: float = 0.2):
        self.job_id = job.pk
        self.done, self.total = job.done, job.total
        self.min_interval = min_interval
        self._last = 0.0
        self._conn = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._beater = None
        if connection.vendor == "postgresql":
            try:
                import psycopg

                s = connection.settings_dict
                self._conn = psycopg.connect(
                    dbname=s["NAME"],
                    user=s.get("USER") or None,
                    password=s.get("PASSWORD") or None,
                    host=s.get("HOST") or None,
                    port=s.get("PORT") or None,
                    autocommit=True,
                    connect_timeout=5,
                )
            except Exception:  # progress is a courtesy; the job itself must not fail for it
                logger.warning("job %s: no side connection for progress", self.job_id, exc_info=True)
                self._conn = None
        if self._conn is not None:
            self._beater = threading.Thread(target=self._beat, name=f"job-{self.job_id}-heartbeat", daemon=True)
            self._beater.start()

    def _beat(self) -> None:
        # The beat also carries the latest figure, so one the throttle held back is seen soon.
        while not self._stop.wait(settings.JOB_HEARTBEAT_SECONDS):
            self._execute(
                "UPDATE jobs_job SET heartbeat_at = now(), done = GREATEST(done, %s) "
                "WHERE id = %s AND state = 'running'",
                (self._shown_done(), self.job_id),
            )

    def _shown_done(self) -> int:
        return min(self.done, self.total) if self.total else 0

    def _execute(self, sql: str, params: tuple[object, ...]) -> None:
        with self._lock:
            if self._conn is None:
                return
            try:
                self._conn.execute(sql, params)
            except Exception:
                logger.warning("job %s: progress not written", self.job_id, exc_info=True)

    def __call__(self, done: int, total: int | None = None) -> None:
        self.done = done
        if total is not None:
            self.total = total
        now = time.monotonic()
        if self._conn is None or (now - self._last < self.min_interval and done < self.total):
            return
        self._last = now
        self._execute(
            "UPDATE jobs_job SET done = %s, total = %s, heartbeat_at = now() WHERE id = %s AND state = 'running'",
            (self._shown_done(), self.total, self.job_id),
        )

    def close(self) -> None:
        self._stop.set()
        if self._beater is not None:
            self._beater.join()
            self._beater = None
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def job_run(*, job_id: int) -> Job | None:
    """Run a job once; a finished or already-running job is left alone."""
    job = Job.objects.filter(pk=job_id).first()
    if job is None or job.is_finished:
        return job
    job = job_start(job_id=job_id)
    if job is None:
        return Job.objects.filter(pk=job_id).first()
    runner = runner_for(job.kind)
    if runner is None:
        return job_fail(job=job, error=f"This server cannot run jobs of the kind “{job.kind}”.")
    writer = ProgressWriter(job)
    try:
        with transaction.atomic():
            result = runner(job=job, progress=writer)
            # The side connection must be done before this transaction touches the job row.
            writer.close()
            job.done, job.total = writer.done, writer.total
            job_succeed(job=job, result=result)
    except Exception as exc:
        writer.close()
        if not isinstance(exc, ValidationError):
            logger.exception("job %s (%s) failed", job.pk, job.kind)
        return job_fail(job=job, error=readable_error(exc))
    return job


def job_watched(*, job: Job) -> Job:
    """A page is watching `job`. With no broker there are no workers and no beat: a job whose web
    process died (a restart, a deploy) is recovered here, by the page waiting for it."""
    if settings.CELERY_TASK_ALWAYS_EAGER and not job.is_finished:
        job_recover_stale()
        job.refresh_from_db()
    return job


def job_recover_stale(*, now: datetime | None = None) -> tuple[int, int]:
    """Retry jobs whose worker stopped reporting, whose message was lost (Redis keeps nothing
    across a restart) or that the broker never took; fail them after JOB_MAX_ATTEMPTS runs.
    Runs every JOB_RECOVER_EVERY_SECONDS on Celery beat. Returns (retried, failed)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.JOB_STALE_AFTER_SECONDS)
    stale_running = Q(state=JobState.RUNNING) & (
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )
    lost_pending = Q(state=JobState.PENDING) & (
        Q(enqueued_at__lt=cutoff) | Q(enqueued_at__isnull=True, created_at__lt=now - UNSENT_GRACE)
    )
    retried = failed = 0
    for job in Job.objects.filter(stale_running | lost_pending).order_by("pk"):
        if job.attempts >= settings.JOB_MAX_ATTEMPTS:
            changed = Job.objects.filter(pk=job.pk, state=job.state).update(
                state=JobState.FAILED,
                error=f"The worker stopped after {job.attempts} attempts; the job was given up. Start it again.",
                finished_at=now,
            )
            if changed:
                job.refresh_from_db()
                _tell_starter(job)
            failed += changed
            continue
        changed = Job.objects.filter(pk=job.pk, state=job.state).update(state=JobState.PENDING, heartbeat_at=None)
        if changed:
            retried += 1
            job_enqueue(job=job)
    return retried, failed
