"""A real Celery worker for tests marked `celery_worker`, when a broker is configured.

`.ci/run` sets CELERY_BROKER_URL (Redis) for its PostgreSQL run; the worker is then a
`celery -A taskboard worker` subprocess pointed at this run's test database, listening on a
queue of its own so parallel runs never take each other's jobs. Tests using it need
`transactional_db`: the worker only sees committed rows.

Every other test keeps running jobs in-process, broker or not, so the suite means the same
on SQLite and on PostgreSQL. Without a broker, `celery_worker` tests skip, except in CI
where they fail.

Exposed to the suite by one line in tests/conftest.py: `from tests.celery_worker import *`.
"""

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings

from tests.needs import unavailable

__all__ = ["celery_worker", "jobs_in_process_unless_real_worker"]  # and start_worker, for tests that kill workers

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 60


def _database_url(db: dict) -> str:
    """The URL of the database this test process uses (the test database, once set up)."""
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "localhost"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgres://{auth}{'@' if auth else ''}{host}{port}/{db['NAME']}"


class Worker:
    """A `celery -A taskboard worker` subprocess on a queue of its own (see `start_worker`).

    It leads a process group of its own: with -B, beat runs in a child process, which a signal to the
    worker alone would orphan (it did: killed workers left their beat running for good). kill() and
    stop() end the whole group."""

    def __init__(self, *, queue: str, node: str, process: subprocess.Popen, log: Path):
        self.queue, self.node, self.process, self.log = queue, node, process, log

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is gone already
            os.killpg(self.process.pid, sig)

    def kill(self) -> None:
        """SIGKILL to the worker and its beat: what an OOM killer or a pulled plug does; nothing is
        acknowledged or cleaned up."""
        self._signal_group(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        # Warm shutdown lets a job in hand finish; it must be gone before the test database is dropped.
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=30)
        self.kill()  # whatever is left of the group


def _test_database_url() -> str:
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3" and (
        db["NAME"] == ":memory:" or str(db["NAME"]).startswith("file:memorydb")
    ):
        unavailable("The test database is in memory; a worker process needs PostgreSQL or SQLITE_TEST_NAME.")
    return _database_url(db)


def start_worker(*, queue: str | None = None, beat: bool = False, env: dict | None = None) -> Worker:
    """Start a worker against this run's test database and wait until it answers a ping.

    `queue` defaults to a fresh one; `beat` embeds Celery beat (the job recovery schedule);
    `env` adds settings for the worker process (e.g. JOB_STALE_AFTER_SECONDS)."""
    if not settings.CELERY_BROKER_URL:
        unavailable("No CELERY_BROKER_URL: a real worker needs a broker (e.g. redis://127.0.0.1:6379/15).")
    from taskboard.celery import app

    tag = uuid.uuid4().hex[:10]
    queue = queue or f"taskboard-test-{tag}"
    node = f"taskboard-test-{tag}@localhost"
    log = Path(tempfile.gettempdir()) / f"{node.split('@')[0]}.log"
    worker_env = {
        **os.environ,
        "DATABASE_URL": _test_database_url(),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "CELERY_QUEUE": queue,
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    command = [sys.executable, "-m", "celery", "-A", "taskboard", "worker", "--pool=solo", "-c", "1"]
    command += ["-Q", queue, "-n", node, "--without-gossip", "--without-mingle", "-l", "info"]
    if beat:
        command += ["-B", "-s", str(Path(tempfile.gettempdir()) / f"{node.split('@')[0]}-beat")]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=worker_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    worker = Worker(queue=queue, node=node, process=process, log=log)
    deadline = time.monotonic() + START_TIMEOUT
    try:
        while True:
            if process.poll() is not None:
                pytest.fail(f"The Celery worker exited with {process.returncode}:\n{worker.log_tail()}")
            if app.control.ping(destination=[node], timeout=1.0):
                return worker
            if time.monotonic() > deadline:
                pytest.fail(f"The Celery worker did not answer within {START_TIMEOUT} s:\n{worker.log_tail()}")
    except BaseException:  # a failed start, or an interrupted run: nothing of it may outlive the test
        worker.kill()
        raise


@pytest.fixture(scope="session")
def celery_worker(request, django_db_setup, django_db_blocker):
    """Start one worker for the session (lazily, on the first test that asks) and stop it at the end.

    A queue and node name of its own: parallel test processes (xdist, other sessions) share the broker."""
    from taskboard.celery import app

    worker = start_worker()
    previous_queue = app.conf.task_default_queue
    app.conf.task_default_queue = worker.queue
    try:
        yield worker
    finally:
        app.conf.task_default_queue = previous_queue
        worker.stop()


@pytest.fixture(autouse=True)
def jobs_in_process_unless_real_worker(request):
    """With a broker configured, only `celery_worker` tests send jobs to it; the rest run them in-process."""
    if not settings.CELERY_BROKER_URL:
        yield
        return
    from taskboard.celery import app

    # Read before any setting changes: the app loads its configuration from Django's settings lazily.
    previous = app.conf.task_always_eager
    eager = request.node.get_closest_marker("celery_worker") is None
    request.getfixturevalue("settings").CELERY_TASK_ALWAYS_EAGER = eager
    app.conf.task_always_eager = eager
    try:
        yield
    finally:
        app.conf.task_always_eager = previous
