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

__all__ = ["celery_worker", "jobs_in_process_unless_real_worker"]

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


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} CI runs the celery_worker tests on a real worker.")
    pytest.skip(reason)


class Worker:
    def __init__(self, *, queue: str, node: str, process: subprocess.Popen, log: Path):
        self.queue, self.node, self.process, self.log = queue, node, process, log

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@pytest.fixture(scope="session")
def celery_worker(request, django_db_setup, django_db_blocker):
    """Start one worker for the session (lazily, on the first test that asks) and stop it at the end."""
    if not settings.CELERY_BROKER_URL:
        _unavailable("No CELERY_BROKER_URL: a real worker needs a broker (e.g. redis://127.0.0.1:6379/15).")
    from django.db import connection

    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.sqlite3" and (
        db["NAME"] == ":memory:" or str(db["NAME"]).startswith("file:memorydb")
    ):
        _unavailable("The test database is in memory; a worker process needs PostgreSQL or SQLITE_TEST_NAME.")

    from taskboard.celery import app

    # A queue and node name of our own: parallel test processes (xdist, other sessions) share the broker.
    tag = uuid.uuid4().hex[:10]
    queue, node = f"taskboard-test-{tag}", f"taskboard-test-{tag}@localhost"
    log = Path(tempfile.gettempdir()) / f"{node.split('@')[0]}.log"
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(db),
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "taskboard",
        "worker",
        "--pool=solo",
        "-c",
        "1",
        "-Q",
        queue,
        "-n",
        node,
        "--without-gossip",
        "--without-mingle",
        "-l",
        "info",
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    worker = Worker(queue=queue, node=node, process=process, log=log)
    previous_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"The Celery worker exited with {process.returncode}:\n{worker.log_tail()}")
            if app.control.ping(destination=[node], timeout=1.0):
                break
            if time.monotonic() > deadline:
                pytest.fail(f"The Celery worker did not answer within {START_TIMEOUT} s:\n{worker.log_tail()}")
        yield worker
    finally:
        app.conf.task_default_queue = previous_queue
        # Warm shutdown lets a job in hand finish; it must be gone before the test database is dropped.
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


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
