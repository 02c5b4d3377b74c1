"""Jobs on a real Celery worker (`.ci/run`'s PostgreSQL run sets CELERY_BROKER_URL)."""

import pytest

from taskboard.celery import app


@pytest.mark.celery_worker
def test_the_worker_listens_on_its_own_queue(celery_worker):
    assert app.control.ping(destination=[celery_worker.node], timeout=2.0)
    queues = app.control.inspect([celery_worker.node], timeout=2.0).active_queues()
    assert [q["name"] for q in queues[celery_worker.node]] == [celery_worker.queue]
