import json
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse

from taskboard.annotation.selection import Selection, select_items
from taskboard.datasets.ids import parse_api_id
from taskboard.datasets.models import Item
from tests.datasets.helpers import make_task
from tests.factories import DatasetFactory, make_items


@pytest.fixture
def items(dataset):
    return make_items(dataset, {"/city/day": 30, "/city/night": 25, "/highway": 10}, annotated_every=3)


def url(dataset, **params):
    base = reverse("annotation:dataset-browse", args=[dataset.pk])
    if params:
        from urllib.parse import urlencode

        base += "?" + urlencode(params, doseq=True)
    return base


def test_manager_sees_the_browser(client, manager, dataset, items):
    client.force_login(manager)
    r = client.get(url(dataset))
    assert r.status_code == 200
    body = r.content.decode()
    assert "65</strong> matching items" in body
    assert body.count('class="item-card"') == 50
    assert 'id="item-list"' in body and "Folders" in body
    # The tree counts subfolders: /city holds 55.
    tree = r.context["tree"]
    assert [(f.path, f.own, f.total) for f in tree] == [
        ("/", 0, 65),
        ("/city", 0, 55),
        ("/city/day", 30, 30),
        ("/city/night", 25, 25),
        ("/highway", 10, 10),
    ]


def test_owner_sees_the_browser(client, owner, dataset, items):
    client.force_login(owner)
    assert client.get(url(dataset)).status_code == 200


@pytest.mark.parametrize("persona", ["annotator", "reviewer", "other_manager"])
def test_others_get_404(client, request, persona, dataset, items):
    client.force_login(request.getfixturevalue(persona))
    assert client.get(url(dataset)).status_code == 404
    assert client.get(reverse("annotation:dataset-to-wizard", args=[dataset.pk]) + "?pick=all").status_code == 404
    assert client.post(reverse("annotation:dataset-import", args=[dataset.pk])).status_code == 404


def test_anonymous_is_sent_to_sign_in(client, dataset):
    r = client.get(url(dataset))
    assert r.status_code == 302 and "login" in r["Location"]


def test_htmx_gets_only_the_list(client, manager, dataset, items):
    client.force_login(manager)
    r = client.get(url(dataset, folder="/highway", submitted=1), headers={"HX-Request": "true"})
    body = r.content.decode()
    assert r.status_code == 200
    assert body.lstrip().startswith('<div id="item-list"')
    assert "<html" not in body and "Folders" not in body
    assert body.count('class="item-card"') == 10
    assert "HX-Request" in r["Vary"]


def test_htmx_history_restore_gets_the_whole_page(client, manager, dataset, items):
    client.force_login(manager)
    r = client.get(url(dataset), headers={"HX-Request": "true", "HX-History-Restore-Request": "true"})
    assert "<html" in r.content.decode()


def test_filters_narrow_the_list(client, manager, dataset, items):
    client.force_login(manager)
    r = client.get(url(dataset, folder="/city", subfolders="on", annotated="yes", submitted=1))
    expected = Item.objects.filter(dataset=dataset, dir__startswith="/city", annotated=True).count()
    assert r.context["page"].total == expected
    r = client.get(url(dataset, folder="/city", submitted=1))  # subfolders unticked
    assert r.context["page"].total == 0
    r = client.get(url(dataset, name="img0000*.jpg", submitted=1))
    assert r.context["page"].total == 30


def test_bad_filters_show_messages_and_no_list(client, manager, dataset, items):
    client.force_login(manager)
    r = client.get(url(dataset, meta_key="a__b", meta_value="1", submitted=1))
    assert r.status_code == 200
    assert r.context["page"] is None
    assert "Metadata field" in r.content.decode()


def test_keyset_pages_cover_everything_once(client, manager, dataset, items):
    client.force_login(manager)
    seen = []
    r = client.get(url(dataset))
    while True:
        page = r.context["page"]
        seen.extend(i.pk for i in page.items)
        if not page.next_after:
            break
        r = client.get(url(dataset, after=page.next_after))
    assert len(seen) == 65 == len(set(seen))
    expected = list(Item.objects.filter(dataset=dataset).order_by("dir", "name", "id").values_list("pk", flat=True))
    assert seen == expected
    back = client.get(url(dataset, before=page.items[0].pk)).context["page"]
    assert [i.pk for i in back.items] == expected[:50] and back.start == 1


def test_ticked_items_go_to_the_wizard_as_a_list(client, manager, dataset, items):
    client.force_login(manager)
    picked = [items[0].pk, items[5].pk]
    r = client.post(reverse("annotation:dataset-to-wizard", args=[dataset.pk]), {"pick": "checked", "item": picked})
    assert r.status_code == 302
    target = urlparse(r["Location"])
    assert target.path == "/tasks/new/"
    params = parse_qs(target.query)
    assert params["dataset"] == [str(dataset.pk)] and params["mode"] == ["list"]
    assert params["item_ids"] == [",".join(str(p) for p in sorted(picked))]


def test_ticked_items_of_another_dataset_are_refused(client, manager, dataset, items):
    other = make_items(DatasetFactory(project=dataset.project, name="b"), {"/x": 1})
    client.force_login(manager)
    r = client.post(
        reverse("annotation:dataset-to-wizard", args=[dataset.pk]), {"pick": "checked", "item": [other[0].pk]}
    )
    assert r.status_code == 302 and "/datasets/" in r["Location"]


def test_too_many_ticks_are_sent_back_with_a_message(client, manager, dataset):
    many = make_items(dataset, {"/many": 301})
    client.force_login(manager)
    r = client.post(
        reverse("annotation:dataset-to-wizard", args=[dataset.pk]),
        {"pick": "checked", "item": [i.pk for i in many], "folder": "/many", "submitted": "1"},
        follow=True,
    )
    assert r.redirect_chain[-1][0].startswith(reverse("annotation:dataset-browse", args=[dataset.pk]) + "?")
    assert "folder=%2Fmany" in r.redirect_chain[-1][0]
    assert "301 items are ticked" in r.content.decode()


def test_all_matching_goes_to_the_wizard_as_the_same_query(client, manager, dataset, recipe, items):
    make_task(dataset, recipe, manager, items=items[:5])
    client.force_login(manager)
    params = {"folder": "/city", "subfolders": "on", "unassigned": "on", "submitted": "1"}
    browsed = client.get(url(dataset, **params)).context["page"].total
    r = client.get(reverse("annotation:dataset-to-wizard", args=[dataset.pk]), {**params, "pick": "all"})
    query = parse_qs(urlparse(r["Location"]).query)
    assert query["mode"] == ["filter"]
    dql = json.loads(query["dql"][0])
    assert select_items(dataset=dataset, selection=Selection(mode="filter", dql=dql)).count() == browsed == 50


def test_a_single_folder_goes_as_folder_mode(client, manager, dataset, items):
    client.force_login(manager)
    r = client.get(
        reverse("annotation:dataset-to-wizard", args=[dataset.pk]),
        {"folder": "/city", "subfolders": "on", "submitted": "1", "pick": "all"},
    )
    query = parse_qs(urlparse(r["Location"]).query)
    assert query["mode"] == ["folder"] and query["folder"] == ["/city"] and query["subfolders"] == ["1"]


def test_status_in_a_task_goes_as_refs_match(client, manager, dataset, recipe, items):
    task, _ = make_task(dataset, recipe, manager, items=items[:4], statuses={items[0].pk: "completed"})
    client.force_login(manager)
    params = {"task": task.pk, "status": "any", "annotated": "no", "submitted": "1"}
    browsed = client.get(url(dataset, **params)).context["page"].total
    r = client.get(reverse("annotation:dataset-to-wizard", args=[dataset.pk]), {**params, "pick": "all"})
    dql = json.loads(parse_qs(urlparse(r["Location"]).query)["dql"][0])
    match = dql["$and"][1]["metadata.system.refs"]["$match"]
    assert parse_api_id(match["id"], "task") == task.pk
    assert select_items(dataset=dataset, selection=Selection(mode="filter", dql=dql)).count() == browsed == 1
