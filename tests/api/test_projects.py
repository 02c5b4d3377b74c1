import io

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from taskboard.api.ids import api_id
from taskboard.datasets.models import Item
from taskboard.datasets.thumbnails import thumbnail_name
from tests.factories import create_task

pytestmark = pytest.mark.django_db


def test_project_by_name_is_a_list(api, manager, project):
    response = api(manager).get("/api/v1/projects/Street/name")
    assert response.status_code == 200
    body = response.json()
    assert [p["name"] for p in body] == ["Street"]
    assert body[0]["id"] == api_id("project", project.pk)


def test_project_by_name_hides_other_projects(api, other_manager, project):
    assert api(other_manager).get("/api/v1/projects/Street/name").status_code == 404


def test_project_by_id(api, manager, other_manager, project):
    pid = api_id("project", project.pk)
    assert api(manager).get(f"/api/v1/projects/{pid}").json()["name"] == "Street"
    assert api(other_manager).get(f"/api/v1/projects/{pid}").status_code == 404
    assert api(manager).get("/api/v1/projects/zzz").status_code == 404


def test_dataset_query_by_name_in_a_project(api, manager, project, dataset, recipe, items):
    body = {
        "filter": {"$and": [{"name": "street-scenes"}]},
        "page": 0,
        "pageSize": 1000,
        "resource": "datasets",
        "context": {"projects": [api_id("project", project.pk)]},
    }
    response = api(manager).post("/api/v1/datasets/query", body)
    assert response.status_code == 200
    page = response.json()
    assert page["hasNextPage"] is False
    assert page["totalItemsCount"] == 1
    found = page["items"][0]
    assert found["id"] == api_id("dataset", dataset.pk)
    assert found["metadata"]["system"]["recipes"] == [api_id("recipe", recipe.pk)]
    assert found["itemsCount"] == 14


def test_dataset_query_hides_other_projects(api, other_manager, dataset):
    page = api(other_manager).post("/api/v1/datasets/query", {"filter": {"$and": [{"name": "street-scenes"}]}}).json()
    assert page["items"] == []


def test_dataset_query_refuses_unknown_fields(api, manager, dataset):
    assert api(manager).post("/api/v1/datasets/query", {"filter": {"$and": [{"secret": 1}]}}).status_code == 400


def test_dataset_detail(api, manager, other_manager, dataset, recipe):
    did = api_id("dataset", dataset.pk)
    body = api(manager).get(f"/api/v1/datasets/{did}").json()
    assert body["metadata"]["system"]["recipes"] == [api_id("recipe", recipe.pk)]
    assert body["projects"] == [api_id("project", dataset.project_id)]
    assert api(other_manager).get(f"/api/v1/datasets/{did}").status_code == 404


def _query(api_user, dataset, body):
    return api_user.post(f"/api/v1/datasets/{api_id('dataset', dataset.pk)}/query", body)


def test_item_query_with_defaults_and_a_folder(api, manager, dataset, items):
    body = {
        "filter": {"$and": [{"hidden": False}, {"type": "file"}, {"dir": "/city/day"}]},
        "sort": {"id": "ascending"},
        "page": 0,
        "pageSize": 1000,
        "resource": "items",
    }
    page = _query(api(manager), dataset, body).json()
    assert page["totalItemsCount"] == 6
    assert {i["dir"] for i in page["items"]} == {"/city/day"}
    assert all(i["metadata"]["system"]["refs"] == [] for i in page["items"])


def test_item_query_keyset_paging_terminates(api, manager, dataset, items):
    user = api(manager)
    seen, after = [], None
    for _ in range(20):
        clauses = [{"hidden": False}, {"type": "file"}]
        if after:
            clauses.append({"id": {"$gt": after}})
        page = _query(
            user, dataset, {"filter": {"$and": clauses}, "sort": {"id": "ascending"}, "page": 0, "pageSize": 5}
        ).json()
        seen += [i["id"] for i in page["items"]]
        if not page["hasNextPage"]:
            break
        after = page["items"][-1]["id"]
    assert len(seen) == 14 == len(set(seen))
    assert seen == sorted(seen)


def test_item_query_offset_paging(api, manager, dataset, items):
    user = api(manager)
    pages = [_query(user, dataset, {"filter": {}, "page": n, "pageSize": 5}).json() for n in range(3)]
    assert [len(p["items"]) for p in pages] == [5, 5, 4]
    assert [p["hasNextPage"] for p in pages] == [True, True, False]
    assert pages[0]["totalPagesCount"] == 3


def test_item_query_bad_dql_is_400(api, manager, dataset, items):
    user = api(manager)
    assert _query(user, dataset, {"filter": {"$and": [{"password": "x"}]}}).status_code == 400
    assert _query(user, dataset, {"filter": {"$and": [{"dir": {"$regex": "x"}}]}}).status_code == 400
    assert _query(user, dataset, {"filter": {}, "pageSize": 0}).status_code == 400
    assert _query(user, dataset, {"filter": {}, "sort": {"secret": "ascending"}}).status_code == 400


def test_item_query_of_a_foreign_dataset_is_404(api, other_manager, dataset, items):
    assert _query(api(other_manager), dataset, {"filter": {}}).status_code == 404


def test_item_detail(api, manager, other_manager, items):
    iid = api_id("item", items[0].pk)
    body = api(manager).get(f"/api/v1/items/{iid}").json()
    assert body["id"] == iid
    assert body["filename"] == items[0].filename
    assert body["metadata"]["system"]["refs"] == []
    assert api(other_manager).get(f"/api/v1/items/{iid}").status_code == 404
    assert api(manager).get("/api/v1/items/nonsense").status_code == 404


def test_annotators_see_only_items_they_hold(api, annotator, dataset, items):
    page = _query(api(annotator), dataset, {"filter": {}}).json()
    assert page["items"] == []
    assert api(annotator).get(f"/api/v1/items/{api_id('item', items[0].pk)}").status_code == 404


def test_an_item_page_costs_the_same_queries_at_any_size(api, manager, dataset, recipe):
    from tests.factories import in_days, make_items

    make_items(dataset, {"/big": 120})
    create_task(dataset=dataset, created_by=manager, name="t", due_at=in_days(5), assignees=[manager])
    user = api(manager)
    path = f"/api/v1/datasets/{api_id('dataset', dataset.pk)}/query"
    user.get("/api/v1/users/me")  # the token's first use writes last_used once
    counts = []
    for size in (5, 100):
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            page = user.post(path, {"filter": {}, "page": 0, "pageSize": size}).json()
        assert len(page["items"]) == size
        assert all(i["metadata"]["system"]["refs"] for i in page["items"])
        counts.append(len(ctx))
    assert counts[0] == counts[1]


def _png(color=(200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(buffer, format="PNG")
    return buffer.getvalue()


def test_upload_stores_the_file_through_storage_and_skips_a_second_time(client, bearer, manager, dataset):
    route = f"/api/v1/datasets/{api_id('dataset', dataset.pk)}/items?mode=skip"
    data = _png()
    body = {"type": "file", "path": "/uploads/red.png", "file": SimpleUploadedFile("red.png", data)}
    response = client.post(route, body, headers=bearer(manager))
    assert response.status_code == 200, response.content
    answered = response.json()
    assert (answered["filename"], answered["metadata"]["system"]["size"]) == ("/uploads/red.png", len(data))
    item = Item.objects.get(filename="/uploads/red.png")
    assert item.mimetype == "image/png" and item.file.read() == data
    body["file"] = SimpleUploadedFile("red.png", data)
    again = client.post(route, body, headers=bearer(manager)).json()
    assert again["id"] == answered["id"] and again["metadata"]["system"]["size"] == len(data)
    assert Item.objects.filter(filename="/uploads/red.png").count() == 1


def test_upload_is_for_managers_and_refuses_bad_input(client, bearer, manager, annotator, dataset):
    route = f"/api/v1/datasets/{api_id('dataset', dataset.pk)}/items"
    body = {"path": "/a.png", "file": SimpleUploadedFile("a.png", _png())}
    assert client.post(route, body, headers=bearer(annotator)).status_code in (403, 404)
    body = {"path": "relative.png", "file": SimpleUploadedFile("a.png", _png())}
    response = client.post(route, body, headers=bearer(manager))
    assert response.status_code == 400 and "path" in response.json()["message"]
    assert client.post(route, {"path": "/x.png"}, headers=bearer(manager)).status_code == 400


def test_an_uploaded_image_gets_a_thumbnail_the_pages_show(client, bearer, manager, dataset):
    buffer = io.BytesIO()
    Image.new("RGB", (800, 600), (10, 120, 200)).save(buffer, format="PNG")
    route = f"/api/v1/datasets/{api_id('dataset', dataset.pk)}/items"
    body = {"path": "/big/blue.png", "file": SimpleUploadedFile("blue.png", buffer.getvalue())}
    assert client.post(route, body, headers=bearer(manager)).status_code == 200
    item = Item.objects.get(filename="/big/blue.png")
    assert default_storage.exists(thumbnail_name(item))
    client.force_login(manager)
    response = client.get(item.thumb_src)
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(b"".join(response.streaming_content))) as thumb:
        assert thumb.size == (320, 240)
    browse = client.get(f"/datasets/{dataset.pk}/?dir=/big")
    assert item.thumb_src in browse.content.decode()
