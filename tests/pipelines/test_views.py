import pytest
from django.urls import reverse

from taskboard.pipelines import editing, running
from taskboard.pipelines.models import Connection, Node, Pipeline, PipelineState

HTMX = {"HX-Request": "true"}


def node_data(prefix="add", **fields):
    data = {"kind": "annotation", "name": "Annotate", "column": 1, "row": 0, "priority": 2}
    data.update(fields)
    return {f"{prefix}-{k}": v for k, v in data.items() if v is not None}


@pytest.fixture
def pipeline(project, manager):
    return Pipeline.objects.create(project=project, name="Flow", created_by=manager)


def test_pages_answer_404_to_people_who_do_not_manage_the_project(client, pipeline, project, annotator, other_manager):
    for user in (annotator, other_manager):
        client.force_login(user)
        assert client.get(reverse("pipelines:detail", args=[pipeline.pk])).status_code == 404
        assert client.get(reverse("pipelines:list"), {"project": project.pk}).status_code == 404
        assert client.post(reverse("pipelines:install", args=[pipeline.pk])).status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(client, pipeline):
    response = client.get(reverse("pipelines:detail", args=[pipeline.pk]))
    assert response.status_code == 302 and "login" in response["Location"]


def test_a_manager_creates_a_pipeline_from_the_list(client, project, manager):
    client.force_login(manager)
    url = reverse("pipelines:list") + f"?project={project.pk}"
    assert client.get(url).status_code == 200
    response = client.post(url, {"name": "Label then review"})
    pipeline = Pipeline.objects.get(name="Label then review")
    assert response.status_code == 302 and response["Location"] == reverse("pipelines:detail", args=[pipeline.pk])
    again = client.post(url, {"name": "Label then review"})
    assert again.status_code == 200 and "already has a pipeline" in again.content.decode()
    assert "Label then review" in client.get(reverse("pipelines:list")).content.decode()


def test_the_editor_builds_installs_runs_and_shows_counts(
    client, pipeline, manager, annotator, reviewer, dataset, recipe, items, django_capture_on_commit_callbacks
):
    client.force_login(manager)
    url = reverse("pipelines:node-add", args=[pipeline.pk])
    response = client.post(url, node_data(kind="dataset", name="Street", column=0, dataset=dataset.pk))
    assert response.status_code == 302
    response = client.post(
        url,
        node_data(dataset=dataset.pk, recipe=recipe.pk, assignee_1=annotator.pk, load_1=100),
        headers=HTMX,
    )
    assert response.status_code == 200 and "Added Annotate." in response.content.decode()
    client.post(
        url,
        node_data(kind="qa", name="Review", column=2, dataset=dataset.pk, assignee_1=reviewer.pk, load_1=100),
    )
    street, annotate, review = (Node.objects.get(name=n) for n in ("Street", "Annotate", "Review"))
    assert annotate.recipe == recipe  # the dataset's recipe by default
    conn_url = reverse("pipelines:connection-add", args=[pipeline.pk])
    client.post(conn_url, {"source": street.pk, "status": "", "target": annotate.pk})
    client.post(conn_url, {"source": annotate.pk, "status": "completed", "target": review.pk})
    assert Connection.objects.filter(pipeline=pipeline).count() == 2

    page = client.get(reverse("pipelines:detail", args=[pipeline.pk])).content.decode()
    assert page.count('class="edge"') == 2 and "<svg" in page and "completed" in page

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("pipelines:install", args=[pipeline.pk]))
    assert response.status_code == 302
    pipeline.refresh_from_db()
    assert pipeline.state == PipelineState.INSTALLED
    response = client.post(reverse("pipelines:run", args=[pipeline.pk]), {"folder": ""}, headers=HTMX)
    assert "6 items entered the pipeline." in response.content.decode()

    grid = client.get(reverse("pipelines:detail", args=[pipeline.pk]), {"fragment": "grid"}, headers=HTMX)
    html = grid.content.decode()
    assert html.startswith('\n  <section id="grid"') or html.lstrip().startswith('<section id="grid"')
    assert 'hx-trigger="every 2s"' in html
    assert "to do 6 · in work 0" in html

    client.post(reverse("pipelines:pause", args=[pipeline.pk]))
    pipeline.refresh_from_db()
    assert pipeline.state == PipelineState.PAUSED
    # A paused pipeline's grid stops polling.
    grid = client.get(reverse("pipelines:detail", args=[pipeline.pk]), {"fragment": "grid"}, headers=HTMX)
    assert "hx-trigger" not in grid.content.decode()


def test_invalid_nodes_and_connections_show_their_reasons(
    client, pipeline, manager, annotator, annotator2, dataset, recipe
):
    client.force_login(manager)
    url = reverse("pipelines:node-add", args=[pipeline.pk])
    response = client.post(
        url,
        node_data(
            dataset=dataset.pk,
            recipe=recipe.pk,
            assignee_1=annotator.pk,
            load_1=50,
            assignee_2=annotator2.pk,
            load_2=40,
        ),
        headers=HTMX,
    )
    assert response.status_code == 200
    assert "Loads must add up to exactly 100 (they add up to 90)." in response.content.decode()
    assert not Node.objects.exists()

    client.post(url, node_data(dataset=dataset.pk, recipe=recipe.pk, assignee_1=annotator.pk, load_1=100))
    client.post(url, node_data(name="Second", column=2, dataset=dataset.pk, assignee_1=annotator.pk, load_1=100))
    first, second = Node.objects.order_by("id")
    response = client.post(
        reverse("pipelines:connection-add", args=[pipeline.pk]),
        {"source": first.pk, "status": "", "target": second.pk},
    )
    assert "offers the statuses completed, discard" in response.content.decode()

    response = client.post(reverse("pipelines:install", args=[pipeline.pk]), headers=HTMX)
    assert response.status_code == 200
    assert not Connection.objects.exists()


def test_the_edit_form_moves_a_node(client, pipeline, manager, annotator, dataset, recipe):
    client.force_login(manager)
    client.post(
        reverse("pipelines:node-add", args=[pipeline.pk]),
        node_data(dataset=dataset.pk, recipe=recipe.pk, assignee_1=annotator.pk, load_1=100),
    )
    node = Node.objects.get()
    page = client.get(reverse("pipelines:detail", args=[pipeline.pk]), {"node": node.pk}).content.decode()
    assert "Edit Annotate" in page
    response = client.post(
        reverse("pipelines:node-edit", args=[pipeline.pk, node.pk]),
        node_data("edit", column=4, row=2, dataset=dataset.pk, recipe=recipe.pk, assignee_1=annotator.pk, load_1=100),
    )
    assert response.status_code == 302
    node.refresh_from_db()
    assert (node.column, node.row) == (4, 2)
    assert node.raw["metadata"]["position"] == {"x": 1460.0, "y": 348.0, "z": 0}
    client.post(reverse("pipelines:node-delete", args=[pipeline.pk, node.pk]))
    assert not Node.objects.exists()


def test_a_pipeline_is_deleted_only_when_not_installed(client, pipeline, project, manager):
    client.force_login(manager)
    Pipeline.objects.filter(pk=pipeline.pk).update(state=PipelineState.INSTALLED)
    response = client.post(reverse("pipelines:delete", args=[pipeline.pk]))
    assert response.status_code == 200 and "Pause the pipeline" in response.content.decode()
    Pipeline.objects.filter(pk=pipeline.pk).update(state=PipelineState.PAUSED)
    response = client.post(reverse("pipelines:delete", args=[pipeline.pk]), headers=HTMX)
    assert response.status_code == 204 and response["HX-Redirect"].endswith(f"?project={project.pk}")
    assert not Pipeline.objects.exists()


def test_a_big_run_from_the_editor_shows_its_job_progress(
    client, manager, annotator, dataset, recipe, items, settings, django_capture_on_commit_callbacks
):
    from taskboard.annotation.workload import WorkloadUnit
    from taskboard.jobs.models import Job, JobState

    settings.TASK_JOB_THRESHOLD = 3
    pipeline = editing.pipeline_create(project=dataset.project, name="Big", by=manager)
    street = editing.node_add(
        pipeline=pipeline, by=manager, kind="dataset", name="Street", column=0, row=0, dataset=dataset
    )
    annotate = editing.node_add(
        pipeline=pipeline,
        by=manager,
        kind="annotation",
        name="Annotate",
        column=1,
        row=0,
        dataset=dataset,
        recipe=recipe,
        workload=[WorkloadUnit(annotator, 100)],
    )
    editing.connection_add(pipeline=pipeline, source=street, target=annotate, status="", by=manager)
    with django_capture_on_commit_callbacks(execute=True):
        running.pipeline_install(pipeline=pipeline, by=manager)
    client.force_login(manager)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("pipelines:run", args=[pipeline.pk]), {"folder": ""}, headers=HTMX)
    html = response.content.decode()
    job = Job.objects.get(kind="pipeline_run")
    assert "6 items are entering the pipeline" in html
    assert f'id="job-{job.pk}"' in html and reverse("jobs:job-progress", args=[job.pk]) in html
    for callback in callbacks:
        callback()
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED
    progress = client.get(reverse("jobs:job-progress", args=[job.pk])).content.decode()
    assert "6 / 6" in progress and "Open pipeline Big" in progress
