"""Routing that fails is recorded where the manager sees it, retried when the database was busy,
and re-run by a Retry once the cause is fixed, moving nothing twice."""

from unittest import mock

import pytest
from django.db import OperationalError
from django.urls import reverse
from kombu.exceptions import OperationalError as BrokerDown

from taskboard.annotation import services as core
from taskboard.annotation.models import TaskItem
from taskboard.annotation.workload import WorkloadUnit
from taskboard.pipelines import editing, routing, tasks
from taskboard.pipelines import running as pipeline_running
from taskboard.pipelines.models import FailedStep, Move, NodeKind
from taskboard.projects.models import Membership, Role
from taskboard.work import flow
from tests.pipelines.test_services import ALL, held_by, refusal

HTMX = {"HX-Request": "true"}


@pytest.fixture
def running(three_nodes, manager, django_capture_on_commit_callbacks):
    pipeline, source, annotate, review = three_nodes
    with django_capture_on_commit_callbacks(execute=True):
        pipeline_running.pipeline_install(pipeline=pipeline, by=manager)
    pipeline_running.pipeline_run(pipeline=pipeline, selection=ALL, by=manager)
    annotate.refresh_from_db()
    review.refresh_from_db()
    return pipeline, source, annotate, review


def complete(task, row, by, capture):
    with capture(execute=True):
        return flow.item_status_set(task=task, item=row.item, status="completed", by=by)


def test_a_move_refused_by_a_rule_is_recorded_and_a_retry_after_the_fix_moves_it_once(
    running, project, manager, annotator, reviewer, django_capture_on_commit_callbacks
):
    pipeline, source, annotate, review = running
    membership = Membership.objects.get(project=project, user=reviewer)
    role = membership.role
    membership.delete()  # the QA reviewer leaves the project
    row = held_by(annotate.task, annotator)[0]
    row = complete(annotate.task, row, annotator, django_capture_on_commit_callbacks)

    assert TaskItem.objects.get(pk=row.pk).status == "completed"  # the status itself commits
    assert not TaskItem.objects.filter(task=review.task).exists()
    assert not Move.objects.filter(from_node=annotate).exists()
    step = FailedStep.objects.get(pipeline=pipeline)
    assert (step.from_node, step.to_node, step.status, step.item_id) == (annotate, review, "completed", row.item_id)
    assert "Could not move into Review" in step.error and reviewer.email in step.error
    assert not step.transient and routing.step_waiting(step) == 1

    # Retrying before the fix records the failure again; nothing moves.
    with django_capture_on_commit_callbacks(execute=True):
        pipeline_running.pipeline_retry(pipeline=pipeline, by=manager)
    step.refresh_from_db()
    assert step.attempts == 2 and not TaskItem.objects.filter(task=review.task).exists()

    Membership.objects.create(project=project, user=reviewer, role=role)
    with django_capture_on_commit_callbacks(execute=True):
        assert pipeline_running.pipeline_retry(pipeline=pipeline, by=manager) == 1
    assert [r.item_id for r in held_by(review.task, reviewer)] == [row.item_id]
    assert Move.objects.filter(from_node=annotate, to_node=review, item_id=row.item_id).count() == 1
    assert not FailedStep.objects.filter(pipeline=pipeline).exists()
    # Retrying (or replaying the routing job) again moves nothing twice.
    with django_capture_on_commit_callbacks(execute=True):
        pipeline_running.pipeline_retry(pipeline=pipeline, by=manager)
    tasks.route_item.apply(
        kwargs={"task_item_id": row.pk, "status": "completed", "status_at": row.status_at.isoformat()}
    )
    assert TaskItem.objects.filter(task=review.task).count() == 1
    assert Move.objects.filter(from_node=annotate, to_node=review).count() == 1


def test_one_failing_connection_does_not_stop_the_others(
    running, project, manager, annotator, annotator2, reviewer, dataset, recipe, django_capture_on_commit_callbacks
):
    pipeline, source, annotate, review = running
    pipeline_running.pipeline_pause(pipeline=pipeline, by=manager)
    archive = editing.node_add(
        pipeline=pipeline,
        by=manager,
        kind=NodeKind.ANNOTATION,
        name="Archive",
        column=2,
        row=1,
        dataset=dataset,
        recipe=recipe,
        workload=[WorkloadUnit(annotator2, 100)],
    )
    editing.connection_add(pipeline=pipeline, source=annotate, target=archive, status="completed", by=manager)
    with django_capture_on_commit_callbacks(execute=True):
        pipeline_running.pipeline_install(pipeline=pipeline, by=manager)
    Membership.objects.filter(project=project, user=reviewer).delete()
    row = complete(annotate.task, held_by(annotate.task, annotator)[0], annotator, django_capture_on_commit_callbacks)
    archive.refresh_from_db()
    assert TaskItem.objects.filter(task=archive.task, item_id=row.item_id).exists()
    assert list(FailedStep.objects.values_list("to_node__name", flat=True)) == ["Review"]


def test_a_busy_database_is_retried_with_backoff_and_then_moves(
    running, annotator, reviewer, django_capture_on_commit_callbacks
):
    pipeline, source, annotate, review = running
    with django_capture_on_commit_callbacks(execute=False):
        row = flow.item_status_set(
            task=annotate.task, item=held_by(annotate.task, annotator)[0].item, status="completed", by=annotator
        )
    real, calls = routing._route, []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) < 3:
            raise OperationalError("database is locked")
        return real(*args, **kwargs)

    kwargs = {"task_item_id": row.pk, "status": "completed", "status_at": row.status_at.isoformat()}
    with mock.patch.object(routing, "_route", flaky):
        tasks.route_item.apply(kwargs=kwargs)
    assert len(calls) == 3
    assert [r.item_id for r in held_by(review.task, reviewer)] == [row.item_id]
    assert not FailedStep.objects.exists()
    assert tasks.route_item.retry_backoff and tasks.route_item.max_retries == tasks.ROUTING_MAX_RETRIES


def test_a_database_that_stays_busy_is_recorded_after_the_retries(
    running, annotator, django_capture_on_commit_callbacks
):
    pipeline, source, annotate, review = running
    with django_capture_on_commit_callbacks(execute=False):
        row = flow.item_status_set(
            task=annotate.task, item=held_by(annotate.task, annotator)[0].item, status="completed", by=annotator
        )
    kwargs = {"task_item_id": row.pk, "status": "completed", "status_at": row.status_at.isoformat()}
    with mock.patch.object(routing, "_route", side_effect=OperationalError("database is locked")) as route:
        tasks.route_item.apply(kwargs=kwargs)
    assert route.call_count == tasks.ROUTING_MAX_RETRIES + 1
    step = FailedStep.objects.get()
    assert step.transient and (step.from_node, step.to_node) == (annotate, review)
    assert "database was busy" in step.error and f"after {tasks.ROUTING_MAX_RETRIES + 1} tries" in step.error
    assert not Move.objects.filter(from_node=annotate).exists()


def test_a_broker_that_cannot_take_the_job_is_recorded_not_a_failed_request(
    running, manager, annotator, reviewer, django_capture_on_commit_callbacks
):
    pipeline, source, annotate, review = running
    first = held_by(annotate.task, annotator)[0]
    with mock.patch.object(tasks.route_item, "delay", side_effect=BrokerDown("connection refused")):
        row = complete(annotate.task, first, annotator, django_capture_on_commit_callbacks)
    step = FailedStep.objects.get()
    assert step.transient and "job queue could not be reached" in step.error
    with django_capture_on_commit_callbacks(execute=True):
        pipeline_running.pipeline_retry(pipeline=pipeline, by=manager)
    assert [r.item_id for r in held_by(review.task, reviewer)] == [row.item_id]
    assert not FailedStep.objects.exists()


def test_uploads_that_cannot_enter_are_recorded_on_the_entry(
    running, manager, dataset, django_capture_on_commit_callbacks
):
    from taskboard.datasets import services as dataset_services
    from tests.pipelines.test_services import png_upload

    pipeline, source, annotate, review = running
    core.task_close(task=annotate.task, by=manager)
    with django_capture_on_commit_callbacks(execute=True):
        dataset_services.items_upload(dataset=dataset, files=[png_upload("x.png")], folder="/up", by=manager)
    step = FailedStep.objects.get()
    assert (step.from_node, step.to_node, step.status) == (source, annotate, "")
    assert "New items could not enter Annotate" in step.error and "closed" in step.error
    assert routing.step_waiting(step) == 1


def test_retry_needs_an_installed_pipeline(running, manager):
    pipeline = running[0]
    pipeline_running.pipeline_pause(pipeline=pipeline, by=manager)
    assert (
        "Install the pipeline"
        in refusal(lambda: pipeline_running.pipeline_retry(pipeline=pipeline, by=manager))["state"]
    )


def test_the_editor_lists_failed_moves_per_node_and_retries_them(
    client, running, project, manager, annotator, reviewer, django_capture_on_commit_callbacks
):
    pipeline, source, annotate, review = running
    Membership.objects.filter(project=project, user=reviewer).delete()
    row = complete(annotate.task, held_by(annotate.task, annotator)[0], annotator, django_capture_on_commit_callbacks)
    client.force_login(manager)
    grid = client.get(reverse("pipelines:detail", args=[pipeline.pk]), {"fragment": "grid"}, headers=HTMX)
    html = grid.content.decode()
    assert "Failed moves (1)" in html and "⚠ 1 failed" in html
    assert "Could not move into Review" in html and reviewer.email in html
    assert row.item.filename in html and reverse("pipelines:retry", args=[pipeline.pk]) in html

    Membership.objects.create(project=project, user=reviewer, role=Role.REVIEWER)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("pipelines:retry", args=[pipeline.pk]), headers=HTMX)
    assert "Retrying 1 failed step" in response.content.decode()
    grid = client.get(reverse("pipelines:detail", args=[pipeline.pk]), {"fragment": "grid"}, headers=HTMX)
    assert "Failed moves (" not in grid.content.decode() and "failed</text>" not in grid.content.decode()
    assert TaskItem.objects.filter(task=review.task, item_id=row.item_id).exists()
