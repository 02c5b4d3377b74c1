"""POST /datasets/{id}/items/import: many items in one request through the manifest import."""

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from taskboard.api.ids import api_id
from taskboard.datasets.models import Item
from taskboard.jobs.models import Job, JobState

pytestmark = pytest.mark.django_db


def route(dataset) -> str:
    return f"/api/v1/datasets/{api_id('dataset', dataset.pk)}/items/import"


def test_a_list_of_items_goes_in_as_one_import_and_answers_a_finished_command(api, manager, dataset):
    items = [
        {"filename": "/links/a.jpg", "url": "https://cdn.example.com/a.jpg", "metadata": {"camera": 3}},
        {"filename": "/links/b.png"},
    ]
    response = api(manager).post(route(dataset), {"items": items})
    assert response.status_code == 200, response.content
    command = response.json()
    assert (command["type"], command["status"], command["progress"]) == ("ImportItems", "success", 100)
    assert (command["spec"]["createdItemsCount"], command["spec"]["skippedItemsCount"]) == (2, 0)
    a = Item.objects.get(dataset=dataset, filename="/links/a.jpg")
    assert (a.dir, a.name, a.url, a.metadata, a.mimetype) == (
        "/links",
        "a.jpg",
        "https://cdn.example.com/a.jpg",
        {"camera": 3},
        "image/jpeg",
    )
    assert Item.objects.get(dataset=dataset, filename="/links/b.png").mimetype == "image/png"
    # The same list again: both are there already, skipped; the command says so.
    again = api(manager).post(route(dataset), {"items": items}).json()
    assert (again["spec"]["createdItemsCount"], again["spec"]["skippedItemsCount"]) == (0, 2)
    assert api(manager).get(f"/api/v1/commands/{command['id']}").json()["status"] == "success"


def test_one_bad_item_imports_nothing_and_the_message_names_it(api, manager, dataset):
    items = [
        {"filename": "/ok/1.jpg"},
        {"filename": "relative.jpg"},
        {"filename": "/ok/2.jpg", "url": "ftp://example.com/2.jpg"},
        "not an object",
        {"filename": "/ok/1.jpg"},
    ]
    response = api(manager).post(route(dataset), {"items": items})
    assert response.status_code == 400
    message = response.json()["message"]
    assert "Row 2: filename must start with /." in message
    assert "Row 3: url must be an http or https address." in message
    assert "Row 4: each line must be a JSON object." in message
    assert "Row 5: /ok/1.jpg is listed twice (first on row 1)." in message
    assert "Nothing was imported." in message
    assert not Item.objects.filter(dataset=dataset).exists()


@pytest.mark.parametrize("body", [{}, {"items": []}, {"items": {"filename": "/a.jpg"}}])
def test_a_body_without_a_list_of_items_is_refused(api, manager, dataset, body):
    response = api(manager).post(route(dataset), body)
    assert response.status_code == 400 and "items" in response.json()["message"]


def test_a_manifest_file_goes_in_through_the_same_import(client, bearer, manager, dataset):
    manifest = b'filename,url,metadata\n/m/1.jpg,https://cdn.example.com/1.jpg,"{""n"": 1}"\n/m/2.jpg,,\n'
    body = {"file": SimpleUploadedFile("items.csv", manifest)}
    response = client.post(route(dataset), body, headers=bearer(manager))
    assert response.status_code == 200, response.content
    assert response.json()["spec"]["createdItemsCount"] == 2
    assert Item.objects.get(dataset=dataset, filename="/m/1.jpg").metadata == {"n": 1}
    missing = client.post(route(dataset), {"other": "x"}, headers=bearer(manager))
    assert missing.status_code == 400 and "file" in missing.json()["message"]


def test_a_large_manifest_is_a_job_the_command_follows(
    client, bearer, manager, dataset, settings, django_capture_on_commit_callbacks
):
    settings.MANIFEST_JOB_THRESHOLD = 100
    rows = "".join(f"/big/{i:04d}.jpg,https://cdn.example.com/{i}.jpg\n" for i in range(250))
    body = {"file": SimpleUploadedFile("big.csv", ("filename,url\n" + rows).encode())}
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(route(dataset), body, headers=bearer(manager))
    assert response.status_code == 200, response.content
    command = response.json()
    assert command["spec"]["createdItemsCount"] is None  # not known when it was answered
    job = Job.objects.get(kind="items_import")
    # No broker in tests: the job ran in-process once the request committed.
    assert job.state == JobState.SUCCEEDED, job.error
    polled = client.get(f"/api/v1/commands/{command['id']}", headers=bearer(manager)).json()
    assert (polled["status"], polled["progress"]) == ("success", 100)
    assert (polled["spec"]["createdItemsCount"], polled["spec"]["skippedItemsCount"]) == (250, 0)
    assert Item.objects.filter(dataset=dataset).count() == 250
    assert not default_storage.exists(job.params["path"])


def test_a_refused_job_import_fails_its_command_naming_the_row(
    client, bearer, manager, dataset, settings, django_capture_on_commit_callbacks
):
    settings.MANIFEST_JOB_THRESHOLD = 100
    rows = [f"/big/{i:04d}.jpg" for i in range(250)]
    rows[200] = "/big/../x.jpg"
    body = {"file": SimpleUploadedFile("big.csv", ("filename\n" + "\n".join(rows) + "\n").encode())}
    with django_capture_on_commit_callbacks(execute=True):
        command = client.post(route(dataset), body, headers=bearer(manager)).json()
    polled = client.get(f"/api/v1/commands/{command['id']}", headers=bearer(manager)).json()
    assert polled["status"] == "failed"
    assert "Row 202: filename has an empty, '.' or '..' part." in polled["error"]
    assert not Item.objects.filter(dataset=dataset).exists()


def test_only_the_project_managers_import(api, annotator, other_manager, dataset):
    body = {"items": [{"filename": "/a.jpg"}]}
    assert api(annotator).post(route(dataset), body).status_code == 403
    assert api(other_manager).post(route(dataset), body).status_code == 404
    assert not Item.objects.filter(dataset=dataset).exists()
