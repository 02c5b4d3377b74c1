import datetime

import pytest
from django.core.exceptions import ValidationError

from taskboard.annotation import services as core
from taskboard.annotation.models import TaskItem
from taskboard.annotation.selection import Selection
from taskboard.annotation.workload import WorkloadUnit
from taskboard.pipelines import editing, routing, running, tasks
from taskboard.pipelines.models import Move, NodeKind, PipelineState
from taskboard.work import flow
from tests.factories import DatasetFactory, RecipeFactory, UserFactory, in_days

ALL = Selection(mode="all")


def held_by(task, user):
    return list(TaskItem.objects.filter(task=task, assignment__assignee=user).select_related("item").order_by("rank"))


def install_and_run(pipeline, manager, capture):
    with capture(execute=True):
        running.pipeline_install(pipeline=pipeline, by=manager)
    return running.pipeline_run(pipeline=pipeline, selection=ALL, by=manager)


def test_run_puts_items_into_the_first_task_by_its_workload(
    three_nodes, manager, annotator, annotator2, django_capture_on_commit_callbacks
):
    pipeline, source, annotate, review = three_nodes
    result = install_and_run(pipeline, manager, django_capture_on_commit_callbacks)
    annotate.refresh_from_db()
    assert result.added == 6
    assert annotate.task.name == "Annotate (Label and review)"
    assert len(held_by(annotate.task, annotator)) == 3
    assert len(held_by(annotate.task, annotator2)) == 3
    assert Move.objects.filter(from_node=source, to_node=annotate, status="").count() == 6
    # Running again adds nothing: the items are already in.
    again = running.pipeline_run(pipeline=pipeline, selection=ALL, by=manager)
    assert (again.added, again.skipped) == (0, 6)


def test_completed_items_move_into_qa_and_discarded_ones_go_nowhere(
    three_nodes, manager, annotator, annotator2, reviewer, django_capture_on_commit_callbacks
):
    pipeline, source, annotate, review = three_nodes
    install_and_run(pipeline, manager, django_capture_on_commit_callbacks)
    annotate.refresh_from_db()
    bobs, carols = held_by(annotate.task, annotator), held_by(annotate.task, annotator2)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        flow.item_status_set(task=annotate.task, item=bobs[0].item, status="completed", by=annotator)
    # The routing job is enqueued only after the commit (beside it: the reviewer's email about the batch).
    assert len([c for c in callbacks if "route_on_commit" in getattr(c, "__qualname__", "")]) == 1
    review.refresh_from_db()
    assert review.task.type == "qa" and review.task.parent_id == annotate.task_id
    assert [r.item_id for r in held_by(review.task, reviewer)] == [bobs[0].item_id]
    move = Move.objects.get(from_node=annotate, to_node=review)
    assert (move.item_id, move.status) == (bobs[0].item_id, "completed")
    assert move.job_id

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        flow.item_status_set(task=annotate.task, item=carols[0].item, status="discard", by=annotator2)
    assert callbacks == []
    assert TaskItem.objects.filter(task=review.task).count() == 1
    assert Move.objects.filter(from_node=annotate).count() == 1

    # Later completions join the QA task, which already exists.
    with django_capture_on_commit_callbacks(execute=True):
        flow.item_status_set(task=annotate.task, item=carols[1].item, status="completed", by=annotator2)
    assert TaskItem.objects.filter(task=review.task).count() == 2


def test_a_paused_pipeline_moves_nothing_and_catches_up_when_installed_again(
    three_nodes, manager, annotator, reviewer, django_capture_on_commit_callbacks
):
    pipeline, source, annotate, review = three_nodes
    install_and_run(pipeline, manager, django_capture_on_commit_callbacks)
    annotate.refresh_from_db()
    bobs = held_by(annotate.task, annotator)
    running.pipeline_pause(pipeline=pipeline, by=manager)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        for row in bobs[:2]:
            flow.item_status_set(task=annotate.task, item=row.item, status="completed", by=annotator)
        flow.item_status_set(task=annotate.task, item=bobs[2].item, status="discard", by=annotator)
    assert callbacks == []
    review.refresh_from_db()
    assert not TaskItem.objects.filter(task=review.task).exists()
    assert not Move.objects.filter(from_node=annotate).exists()

    with django_capture_on_commit_callbacks(execute=True):
        pipeline = running.pipeline_install(pipeline=pipeline, by=manager)
    assert pipeline.state == PipelineState.INSTALLED
    review.refresh_from_db()
    assert sorted(r.item_id for r in held_by(review.task, reviewer)) == sorted(r.item_id for r in bobs[:2])
    assert Move.objects.filter(from_node=annotate, to_node=review).count() == 2
    # Catching up again finds nothing left to move.
    assert running.pipeline_catch_up(pipeline=pipeline) == 0


def test_a_job_enqueued_before_a_pause_moves_nothing(
    three_nodes, manager, annotator, django_capture_on_commit_callbacks
):
    pipeline, source, annotate, review = three_nodes
    install_and_run(pipeline, manager, django_capture_on_commit_callbacks)
    annotate.refresh_from_db()
    row = held_by(annotate.task, annotator)[0]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        flow.item_status_set(task=annotate.task, item=row.item, status="completed", by=annotator)
    running.pipeline_pause(pipeline=pipeline, by=manager)
    for callback in callbacks:
        callback()
    assert not Move.objects.filter(from_node=annotate).exists()


def test_a_replayed_routing_job_moves_nothing_twice(
    three_nodes, manager, annotator, reviewer, django_capture_on_commit_callbacks
):
    pipeline, source, annotate, review = three_nodes
    install_and_run(pipeline, manager, django_capture_on_commit_callbacks)
    annotate.refresh_from_db()
    row = held_by(annotate.task, annotator)[0]
    with django_capture_on_commit_callbacks(execute=True):
        row = flow.item_status_set(task=annotate.task, item=row.item, status="completed", by=annotator)
    kwargs = {"task_item_id": row.pk, "status": "completed", "status_at": row.status_at.isoformat()}
    tasks.route_item.apply(kwargs=kwargs)
    tasks.route_item.apply(kwargs=kwargs)
    assert routing.item_route(task_item_id=row.pk, status="completed", status_at=row.status_at) == 0
    review.refresh_from_db()
    assert TaskItem.objects.filter(task=review.task).count() == 1
    assert Move.objects.filter(from_node=annotate, item=row.item).count() == 1
    # A job for a status the item no longer has moves nothing.
    assert routing.item_route(task_item_id=row.pk, status="discard", status_at=row.status_at) == 0


def test_items_routed_one_at_a_time_follow_the_workload(
    three_nodes, manager, annotator, annotator2, reviewer, django_capture_on_commit_callbacks
):
    pipeline, source, annotate, review = three_nodes
    editing.node_update(node=review, by=manager, workload=[WorkloadUnit(reviewer, 50), WorkloadUnit(manager, 50)])
    install_and_run(pipeline, manager, django_capture_on_commit_callbacks)
    annotate.refresh_from_db()
    for row in held_by(annotate.task, annotator):
        with django_capture_on_commit_callbacks(execute=True):
            flow.item_status_set(task=annotate.task, item=row.item, status="completed", by=annotator)
    for row in held_by(annotate.task, annotator2)[:1]:
        with django_capture_on_commit_callbacks(execute=True):
            flow.item_status_set(task=annotate.task, item=row.item, status="completed", by=annotator2)
    review.refresh_from_db()
    assert (len(held_by(review.task, reviewer)), len(held_by(review.task, manager))) == (2, 2)


def test_a_rework_connection_sends_items_back_to_do_again(
    three_nodes, manager, annotator, reviewer, django_capture_on_commit_callbacks
):
    pipeline, source, annotate, review = three_nodes
    editing.node_update(
        node=review,
        by=manager,
        statuses=[{"key": "approved"}, {"key": "discard"}, {"key": "rework", "is_done": True}],
    )
    back = editing.connection_add(pipeline=pipeline, source=review, target=annotate, status="rework", by=manager)
    assert back.rework
    install_and_run(pipeline, manager, django_capture_on_commit_callbacks)
    annotate.refresh_from_db()
    row = held_by(annotate.task, annotator)[0]
    with django_capture_on_commit_callbacks(execute=True):
        flow.item_status_set(task=annotate.task, item=row.item, status="completed", by=annotator)
    review.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        flow.item_status_set(task=review.task, item=row.item, status="rework", by=reviewer)
    row.refresh_from_db()
    assert row.status is None
    # Completed again, it goes to review again: a new routing step.
    with django_capture_on_commit_callbacks(execute=True):
        flow.item_status_set(task=annotate.task, item=row.item, status="completed", by=annotator)
    assert Move.objects.filter(from_node=annotate, item=row.item).count() == 2


# ---------------------------------------------------------------- refusals


def node_kwargs(dataset_, recipe_, worker, /, **overrides):
    kwargs = dict(
        kind=NodeKind.ANNOTATION,
        name="Annotate",
        column=1,
        row=0,
        dataset=dataset_,
        recipe=recipe_,
        workload=[WorkloadUnit(worker, 100)],
    )
    kwargs.update(overrides)
    return kwargs


@pytest.fixture
def pipeline(project, manager):
    return editing.pipeline_create(project=project, name="P", by=manager)


def refusal(call) -> dict:
    with pytest.raises(ValidationError) as error:
        call()
    return {k: v[0] for k, v in error.value.message_dict.items()}


def test_pipeline_names_are_unique_in_a_project(pipeline, project, manager):
    assert "name" in refusal(lambda: editing.pipeline_create(project=project, name="P", by=manager))
    assert "name" in refusal(lambda: editing.pipeline_create(project=project, name=" ", by=manager))


@pytest.mark.parametrize(
    "overrides, field, words",
    [
        ({"workload": "sum90"}, "workload", "add up to exactly 100"),
        ({"workload": []}, "workload", "at least one person"),
        ({"workload": "outsider"}, "workload", "Not an active member"),
        ({"recipe": "other"}, "recipe", "not one of the node's dataset"),
        ({"column": None}, "column", "grid position"),
        ({"name": ""}, "name", "needs a name"),
        ({"priority": 5}, "priority", "Priority"),
        ({"batch_size": 3}, "batch_size", "or neither"),
        ({"batch_size": 10, "max_batch_workload": 11}, "max_batch_workload", "from 12 to 20"),
        ({"kind": "code"}, "kind", "node kind"),
    ],
)
def test_invalid_nodes_are_refused_with_their_reason(
    pipeline, manager, dataset, recipe, annotator, annotator2, overrides, field, words
):
    if overrides.get("workload") == "sum90":
        overrides["workload"] = [WorkloadUnit(annotator, 50), WorkloadUnit(annotator2, 40)]
    if overrides.get("workload") == "outsider":
        overrides["workload"] = [WorkloadUnit(UserFactory(email="zed@example.com"), 100)]
    if overrides.get("recipe") == "other":
        overrides["recipe"] = RecipeFactory(dataset=DatasetFactory(project=dataset.project))
    errors = refusal(
        lambda: editing.node_add(pipeline=pipeline, by=manager, **node_kwargs(dataset, recipe, annotator, **overrides))
    )
    assert words in errors[field]
    assert not pipeline.nodes.exists()


def test_a_node_cannot_sit_on_another(pipeline, manager, dataset, recipe, annotator):
    editing.node_add(pipeline=pipeline, by=manager, **node_kwargs(dataset, recipe, annotator))
    errors = refusal(
        lambda: editing.node_add(pipeline=pipeline, by=manager, **node_kwargs(dataset, recipe, annotator, name="B"))
    )
    assert "column 1, row 0" in errors["column"]


def test_invalid_connections_are_refused_with_their_reason(three_nodes, manager, dataset, recipe, annotator):
    pipeline, source, annotate, review = three_nodes
    annotate2 = editing.node_add(
        pipeline=pipeline, by=manager, **node_kwargs(dataset, recipe, annotator, name="Annotate 2", row=1)
    )
    other = DatasetFactory(project=dataset.project)
    elsewhere = editing.node_add(
        pipeline=pipeline,
        by=manager,
        **node_kwargs(other, RecipeFactory(dataset=other), annotator, name="Elsewhere", row=2),
    )
    cases = [
        ((annotate, review, "approved"), "status", "offers the statuses completed, discard"),
        ((source, annotate, "completed"), "status", "no statuses"),
        ((review, source, "approved"), "target", "into a dataset node"),
        ((source, review, ""), "source", "QA node reviews an annotation node"),
        ((review, annotate, "approved"), "target", "loop"),
        ((annotate, annotate, "completed"), "target", "rework"),
        ((annotate, review, "completed"), "target", "already connected"),
        ((annotate2, review, "completed"), "source", "already reviews Annotate"),
        ((annotate, elsewhere, "completed"), "target", "same dataset"),
    ]
    for (a, b, status), field, words in cases:
        errors = refusal(
            lambda a=a, b=b, status=status: editing.connection_add(
                pipeline=pipeline, source=a, target=b, status=status, by=manager
            )
        )
        assert words in errors[field], (a, b, status, errors)
    assert pipeline.connections.count() == 2


def test_an_installed_pipeline_must_be_paused_before_editing(three_nodes, manager, django_capture_on_commit_callbacks):
    pipeline, source, annotate, review = three_nodes
    with django_capture_on_commit_callbacks(execute=True):
        running.pipeline_install(pipeline=pipeline, by=manager)
    errors = refusal(lambda: editing.node_move(node=review, column=3, row=1, by=manager))
    assert "Pause" in errors["state"]
    running.pipeline_pause(pipeline=pipeline, by=manager)
    assert "Only an installed" in refusal(lambda: running.pipeline_pause(pipeline=pipeline, by=manager))["state"]
    editing.node_move(node=review, column=3, row=1, by=manager)


def test_install_refuses_a_qa_node_without_an_annotation_node_before_it(pipeline, manager, dataset, recipe, reviewer):
    editing.node_add(
        pipeline=pipeline, by=manager, **node_kwargs(dataset, recipe, reviewer, kind=NodeKind.QA, name="QA")
    )
    errors = refusal(lambda: running.pipeline_install(pipeline=pipeline, by=manager))
    assert "QA: A QA node needs an annotation node" in errors["source"]


def test_install_refuses_a_past_due_date(pipeline, manager, dataset, recipe, annotator):
    editing.node_add(pipeline=pipeline, by=manager, **node_kwargs(dataset, recipe, annotator, due_at=in_days(1)))
    pipeline.nodes.update(due_at=in_days(-1))
    errors = refusal(lambda: running.pipeline_install(pipeline=pipeline, by=manager))
    assert "due date has passed" in errors["due_at"]


def test_run_needs_an_installed_pipeline(three_nodes, manager):
    pipeline = three_nodes[0]
    assert "state" in refusal(lambda: running.pipeline_run(pipeline=pipeline, selection=ALL, by=manager))


def test_positions_convert_to_dataloop_coordinates_and_back():
    assert editing.position_to_xy(2, 1) == {"x": 780.0, "y": 217.5, "z": 0}
    assert editing.xy_to_position(780.0, 217.5) == (2, 1)
    assert editing.xy_to_position(100, 87) == (0, 0)


def test_due_dates_round_trip_through_milliseconds():
    at = editing.ms_to_datetime(1796344441851.75)
    assert at == datetime.datetime(2026, 12, 4, 0, 34, 1, 851750, tzinfo=datetime.UTC)


def png_upload(name):
    import io

    from django.core.files.uploadedfile import SimpleUploadedFile
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (10, 200, 30)).save(buf, "PNG")
    return SimpleUploadedFile(name, buf.getvalue(), content_type="image/png")


def test_new_uploads_enter_installed_pipelines_at_their_dataset_node(
    client, three_nodes, manager, annotator, annotator2, dataset, django_capture_on_commit_callbacks
):
    """Through the real upload and manifest import pages, after their commit."""
    from django.urls import reverse

    pipeline, source, annotate, review = three_nodes
    editing.node_update(node=source, by=manager, folder="/new")
    with django_capture_on_commit_callbacks(execute=True):
        running.pipeline_install(pipeline=pipeline, by=manager)
    annotate.refresh_from_db()
    client.force_login(manager)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            reverse("annotation:dataset-upload", args=[dataset.pk]),
            {"folder": "/new/day", "files": [png_upload("a.png"), png_upload("b.png")]},
        )
    assert response.status_code == 302
    assert not TaskItem.objects.filter(task=annotate.task).exists()  # not before the commit
    for callback in callbacks:
        callback()
    entered = TaskItem.objects.filter(task=annotate.task).select_related("item", "assignment__assignee")
    assert sorted(r.item.filename for r in entered) == ["/new/day/a.png", "/new/day/b.png"]
    assert sorted(r.assignment.assignee_id for r in entered) == sorted([annotator.pk, annotator2.pk])
    assert Move.objects.filter(from_node=source, to_node=annotate, status="").count() == 2

    manifest = "filename,url,metadata\n/new/c.jpg,https://example.com/c.jpg,\n/elsewhere/d.jpg,,\n"
    from django.core.files.uploadedfile import SimpleUploadedFile

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("annotation:dataset-import", args=[dataset.pk]),
            {"file": SimpleUploadedFile("m.csv", manifest.encode())},
        )
    assert response.status_code == 302
    # Only the dataset node's folder enters; uploads before the install (the fixture's) do not.
    assert TaskItem.objects.filter(task=annotate.task).count() == 3
    assert TaskItem.objects.filter(task=annotate.task, item__filename="/new/c.jpg").exists()

    # Replaying the intake moves nothing twice.
    assert running.pipeline_intake(pipeline=pipeline) == 0
    assert Move.objects.filter(from_node=source, to_node=annotate).count() == 3


def test_a_big_import_enters_through_a_job_with_progress(
    three_nodes, manager, dataset, settings, django_capture_on_commit_callbacks
):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from taskboard.datasets import services as dataset_services
    from taskboard.jobs.models import Job, JobState

    settings.TASK_JOB_THRESHOLD = 5
    pipeline, source, annotate, review = three_nodes
    with django_capture_on_commit_callbacks(execute=True):
        running.pipeline_install(pipeline=pipeline, by=manager)
    rows = "".join(f"/import/{i}.jpg,,\n" for i in range(8))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        dataset_services.items_import_manifest(
            dataset=dataset, file=SimpleUploadedFile("m.csv", ("filename,url,metadata\n" + rows).encode()), by=manager
        )
    job = Job.objects.get(kind="pipeline_intake")
    assert (job.state, job.total, job.params) == (JobState.PENDING, 8, {"pipeline": pipeline.pk})
    for callback in callbacks:
        callback()
    job.refresh_from_db()
    assert (job.state, job.done, job.result["added"]) == (JobState.SUCCEEDED, 8, 8)
    annotate.refresh_from_db()
    assert TaskItem.objects.filter(task=annotate.task, item__dir="/import").count() == 8


def test_uploads_enter_nothing_while_paused_or_before_the_first_install(
    three_nodes, manager, dataset, django_capture_on_commit_callbacks
):
    from taskboard.datasets import services as dataset_services

    pipeline, source, annotate, review = three_nodes
    with django_capture_on_commit_callbacks(execute=True):
        dataset_services.items_upload(dataset=dataset, files=[png_upload("early.png")], folder="/up", by=manager)
        running.pipeline_install(pipeline=pipeline, by=manager)
    running.pipeline_pause(pipeline=pipeline, by=manager)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        dataset_services.items_upload(dataset=dataset, files=[png_upload("late.png")], folder="/up", by=manager)
    assert callbacks == []  # a paused pipeline is not sent anything
    annotate.refresh_from_db()
    assert not TaskItem.objects.filter(task=annotate.task).exists()


def test_editing_a_node_that_made_its_task_updates_the_task(
    three_nodes, manager, owner, annotator, django_capture_on_commit_callbacks
):
    pipeline, source, annotate, review = three_nodes
    install_and_run(pipeline, manager, django_capture_on_commit_callbacks)
    running.pipeline_pause(pipeline=pipeline, by=manager)
    annotate.refresh_from_db()
    due = in_days(3)
    editing.node_update(node=annotate, by=manager, priority=3, owner=owner, due_at=due)
    annotate.task.refresh_from_db()
    assert (annotate.task.priority, annotate.task.owner, annotate.task.due_at) == (3, owner, due)


def test_a_pulling_node_queues_its_items(three_nodes, manager, annotator, django_capture_on_commit_callbacks):
    pipeline, source, annotate, review = three_nodes
    editing.node_update(node=annotate, by=manager, batch_size=3, max_batch_workload=5)
    install_and_run(pipeline, manager, django_capture_on_commit_callbacks)
    annotate.refresh_from_db()
    assert annotate.task.is_pulling
    assert TaskItem.objects.filter(task=annotate.task).count() == 6
    assert len(held_by(annotate.task, annotator)) == 3  # the first batch; the rest wait in the queue


def test_a_dataset_node_folder_takes_its_subfolders_and_not_lookalike_folders(
    three_nodes, manager, dataset, django_capture_on_commit_callbacks
):
    from tests.factories import make_items

    pipeline, source, annotate, review = three_nodes
    editing.node_update(node=source, by=manager, folder="/city/")
    assert source.folder == "/city"
    assert "absolute path" in refusal(lambda: editing.node_update(node=source, by=manager, folder="/a/../b"))["folder"]
    make_items(dataset, {"/city/day": 2, "/cityscape": 3, "/city_old": 1})
    result = install_and_run(pipeline, manager, django_capture_on_commit_callbacks)
    annotate.refresh_from_db()
    dirs = sorted(set(TaskItem.objects.filter(task=annotate.task).values_list("item__dir", flat=True)))
    assert dirs == ["/city", "/city/day"]
    assert result.added == 8


def test_install_makes_every_task_node_s_task_before_any_item_arrives(
    three_nodes, manager, annotator, annotator2, reviewer, django_capture_on_commit_callbacks
):
    pipeline, source, annotate, review = three_nodes
    with django_capture_on_commit_callbacks(execute=True):
        running.pipeline_install(pipeline=pipeline, by=manager)
    annotate.refresh_from_db()
    review.refresh_from_db()
    assert annotate.task.name == "Annotate (Label and review)" and annotate.task.type == "annotation"
    assert review.task.type == "qa" and review.task.parent_id == annotate.task_id and not review.task.qa_intake
    assert not TaskItem.objects.filter(task__in=[annotate.task, review.task]).exists()
    assert sorted(annotate.task.workload.values_list("assignee__email", "load")) == [
        (annotator.email, 50),
        (annotator2.email, 50),
    ]
    # Installing again after a pause reuses them.
    running.pipeline_pause(pipeline=pipeline, by=manager)
    with django_capture_on_commit_callbacks(execute=True):
        running.pipeline_install(pipeline=pipeline, by=manager)
    annotate.refresh_from_db()
    assert annotate.task.name == "Annotate (Label and review)"
    from taskboard.annotation.models import AnnotationTask

    assert AnnotationTask.objects.filter(project=pipeline.project).count() == 2


def test_install_refuses_a_workload_person_who_left_the_project_and_makes_no_task(
    three_nodes, manager, reviewer, django_capture_on_commit_callbacks
):
    from taskboard.annotation.models import AnnotationTask
    from taskboard.projects.models import Membership

    pipeline, source, annotate, review = three_nodes
    Membership.objects.filter(project=pipeline.project, user=reviewer).delete()
    with django_capture_on_commit_callbacks(execute=True):
        errors = refusal(lambda: running.pipeline_install(pipeline=pipeline, by=manager))
    assert "Review" in errors["workload"] and reviewer.email in errors["workload"]
    pipeline.refresh_from_db()
    assert pipeline.state == PipelineState.CREATED
    assert not AnnotationTask.objects.filter(project=pipeline.project).exists()


def test_install_refuses_what_task_creation_refuses_naming_the_node(
    three_nodes, manager, django_capture_on_commit_callbacks
):
    from unittest import mock

    from taskboard.annotation.models import AnnotationTask

    pipeline, source, annotate, review = three_nodes
    real = running.task_create

    def refuse_qa(*, spec, by):
        if spec.type == "qa":
            raise ValidationError({"due_at": "The due date must be in the future."})
        return real(spec=spec, by=by)

    with mock.patch.object(running, "task_create", refuse_qa):
        errors = refusal(lambda: running.pipeline_install(pipeline=pipeline, by=manager))
    assert errors == {"due_at": "Review: The due date must be in the future."}
    assert not AnnotationTask.objects.filter(project=pipeline.project).exists()


def test_install_refuses_a_node_whose_task_was_closed(three_nodes, manager, django_capture_on_commit_callbacks):
    pipeline, source, annotate, review = three_nodes
    with django_capture_on_commit_callbacks(execute=True):
        running.pipeline_install(pipeline=pipeline, by=manager)
    running.pipeline_pause(pipeline=pipeline, by=manager)
    review.refresh_from_db()
    core.task_close(task=review.task, by=manager)
    errors = refusal(lambda: running.pipeline_install(pipeline=pipeline, by=manager))
    assert "Review: its task" in errors["task"] and "closed" in errors["task"]


def test_a_run_is_set_based_its_queries_do_not_grow_with_the_items(
    three_nodes, manager, dataset, django_capture_on_commit_callbacks
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from tests.factories import make_items

    pipeline, source, annotate, review = three_nodes
    make_items(dataset, {"/small": 10, "/big": 1500})
    with django_capture_on_commit_callbacks(execute=True):
        running.pipeline_install(pipeline=pipeline, by=manager)

    def run(folder):
        with CaptureQueriesContext(connection) as queries:
            result = running.pipeline_run(
                pipeline=pipeline, selection=Selection(mode="folder", folder=folder), by=manager
            )
        return result, queries

    small, small_queries = run("/small")
    big, big_queries = run("/big")
    assert (small.added, big.added) == (10, 1500)
    assert len(big_queries) == len(small_queries)
    # No statement carries the items as a list of ids.
    assert max(sql["sql"].count("%s") + sql["sql"].count("?") for sql in big_queries.captured_queries) < 50
    annotate.refresh_from_db()
    assert TaskItem.objects.filter(task=annotate.task).count() == 1510
    assert Move.objects.filter(from_node=source, to_node=annotate, status="").count() == 1510
    # Balanced by the workload across both runs.
    assert (
        TaskItem.objects.filter(task=annotate.task, assignment__assignee=annotate.workload.first().assignee).count()
        == 755
    )


def test_a_big_run_goes_through_a_job_with_progress(
    three_nodes, manager, annotator, settings, django_capture_on_commit_callbacks
):
    from taskboard.jobs.models import Job, JobState

    settings.TASK_JOB_THRESHOLD = 5
    pipeline, source, annotate, review = three_nodes
    with django_capture_on_commit_callbacks(execute=True):
        running.pipeline_install(pipeline=pipeline, by=manager)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = running.pipeline_run(pipeline=pipeline, selection=ALL, by=manager)
    assert (result.added, result.entering) == (0, 6) and result.job is not None
    annotate.refresh_from_db()
    assert not TaskItem.objects.filter(task=annotate.task).exists()  # nothing in the request
    job = Job.objects.get(pk=result.job.pk)
    assert (job.kind, job.state, job.total) == ("pipeline_run", JobState.PENDING, 6)
    for callback in callbacks:
        callback()
    job.refresh_from_db()
    assert (job.state, job.done, job.total, job.result["added"]) == (JobState.SUCCEEDED, 6, 6, 6)
    assert TaskItem.objects.filter(task=annotate.task).count() == 6
    assert set(Move.objects.filter(to_node=annotate).values_list("job_id", flat=True)) == {f"job-{job.pk}"}
    # Run twice (a retried job): nothing enters twice.
    from taskboard.jobs import services as job_services

    Job.objects.filter(pk=job.pk).update(state=JobState.PENDING)
    job_services.job_run(job_id=job.pk)
    assert TaskItem.objects.filter(task=annotate.task).count() == 6
    assert Move.objects.filter(to_node=annotate).count() == 6


def test_a_big_run_on_a_pipeline_paused_before_its_job_ran_fails_with_the_reason(
    three_nodes, manager, settings, django_capture_on_commit_callbacks
):
    from taskboard.jobs.models import Job, JobState

    settings.TASK_JOB_THRESHOLD = 5
    pipeline, source, annotate, review = three_nodes
    with django_capture_on_commit_callbacks(execute=True):
        running.pipeline_install(pipeline=pipeline, by=manager)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = running.pipeline_run(pipeline=pipeline, selection=ALL, by=manager)
    running.pipeline_pause(pipeline=pipeline, by=manager)
    for callback in callbacks:
        callback()
    job = Job.objects.get(pk=result.job.pk)
    assert job.state == JobState.FAILED and "Install the pipeline" in job.error


def test_uploads_made_while_paused_enter_when_installed_again(
    three_nodes, manager, annotator, annotator2, reviewer, dataset, django_capture_on_commit_callbacks
):
    from taskboard.datasets import services as dataset_services

    pipeline, source, annotate, review = three_nodes
    with django_capture_on_commit_callbacks(execute=True):
        running.pipeline_install(pipeline=pipeline, by=manager)
        dataset_services.items_upload(dataset=dataset, files=[png_upload("one.png")], folder="/up", by=manager)
    running.pipeline_pause(pipeline=pipeline, by=manager)
    with django_capture_on_commit_callbacks(execute=True):
        dataset_services.items_upload(
            dataset=dataset, files=[png_upload("two.png"), png_upload("three.png")], folder="/up", by=manager
        )
    annotate.refresh_from_db()
    assert list(TaskItem.objects.filter(task=annotate.task).values_list("item__name", flat=True)) == ["one.png"]

    with django_capture_on_commit_callbacks(execute=True):
        running.pipeline_install(pipeline=pipeline, by=manager)
    names = sorted(TaskItem.objects.filter(task=annotate.task).values_list("item__name", flat=True))
    assert names == ["one.png", "three.png", "two.png"]
    assert Move.objects.filter(from_node=source, to_node=annotate).count() == 3
    # Catching up again takes nothing in twice.
    assert running.pipeline_catch_up(pipeline=pipeline) == 0
