"""Eight copies of one routing job at once move the item once (PostgreSQL, real threads)."""

import threading

import pytest
from django.db import connection, connections

from taskboard.annotation.models import TaskItem
from taskboard.annotation.selection import Selection
from taskboard.pipelines import routing, running
from taskboard.pipelines.models import Move, Pipeline, PipelineState
from taskboard.work import flow

COPIES = 8


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_copies_of_a_routing_job_move_the_item_once(three_nodes, manager, annotator):
    if connection.vendor != "postgresql":
        pytest.skip("concurrent writers need PostgreSQL")
    pipeline, source, annotate, review = three_nodes
    running.pipeline_install(pipeline=pipeline, by=manager)
    running.pipeline_run(pipeline=pipeline, selection=Selection(mode="all"), by=manager)
    annotate.refresh_from_db()
    row = TaskItem.objects.filter(task=annotate.task, assignment__assignee=annotator).order_by("rank").first()
    running.pipeline_pause(pipeline=pipeline, by=manager)
    row = flow.item_status_set(task=annotate.task, item=row.item, status="completed", by=annotator)
    # Installed again without the catch-up, so only the racing jobs can move the item.
    Pipeline.objects.filter(pk=pipeline.pk).update(state=PipelineState.INSTALLED)

    barrier = threading.Barrier(COPIES)
    moved, errors = [], []

    def job():
        try:
            barrier.wait()
            moved.append(routing.item_route(task_item_id=row.pk, status="completed", status_at=row.status_at))
        except Exception as e:  # collected and asserted below
            errors.append(e)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=job) for _ in range(COPIES)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(moved) == [0] * (COPIES - 1) + [1]
    review.refresh_from_db()
    assert TaskItem.objects.filter(task=review.task).count() == 1
    assert Move.objects.filter(from_node=annotate).count() == 1
