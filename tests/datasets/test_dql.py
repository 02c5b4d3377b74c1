import datetime
import json

import pytest
from django.utils import timezone

from taskboard.annotation.dql import DQLError, dql_items, dql_sort_and_page
from taskboard.annotation.dql_values import glob_to_regex
from taskboard.datasets.ids import assignment_api_id, item_api_id, parse_api_id, parse_item_id, task_api_id
from taskboard.datasets.models import Annotation, Item
from tests.datasets.helpers import make_task
from tests.factories import DatasetFactory, make_items

DEFAULTS = [{"hidden": False}, {"type": "file"}]


@pytest.fixture
def items(dataset):
    made = make_items(dataset, {"/city/day": 4, "/city/night": 3, "/highway": 2, "/": 1}, annotated_every=2)
    return {i.filename: i for i in made}


def names(query, dataset):
    return sorted(dql_items(query, dataset=dataset).values_list("filename", flat=True))


def count(query, dataset):
    return dql_items(query, dataset=dataset).count()


# ---------------------------------------------------------------- ids


def test_item_ids_are_24_hex_and_round_trip():
    assert item_api_id(5) == "000000000000000000000005"
    assert parse_api_id(item_api_id(123456)) == 123456
    assert parse_item_id(7) == 7 and parse_item_id("7") == 7 and parse_item_id(item_api_id(7)) == 7


def test_task_and_assignment_ids_do_not_collide_and_sort():
    assert task_api_id(5) != assignment_api_id(5)
    assert task_api_id(9) < task_api_id(10) < task_api_id(300)
    assert parse_api_id(task_api_id(5), "task") == 5
    with pytest.raises(ValueError):
        parse_api_id(task_api_id(5))  # not an item id
    for bad in ["xyz", "", "0" * 23, "g" * 24, None, 1.5, True, 0, "-1", "١٢"]:
        with pytest.raises(ValueError):
            parse_item_id(bad)


# ---------------------------------------------------------------- the seed's filters


def test_seed_folder_filter(dataset, items):
    q = {"filter": {"$and": [*DEFAULTS, {"dir": "/city/day"}]}, "page": 0, "pageSize": 1000, "resource": "items"}
    assert names(q, dataset) == [f"/city/day/img0000{i}.jpg" for i in range(4)]


def test_folder_filter_is_an_exact_parent_match(dataset, items):
    assert count({"$and": [*DEFAULTS, {"dir": "/city"}]}, dataset) == 0


def test_seed_not_annotated_filter(dataset, items):
    q = {"$and": [*DEFAULTS, {"annotated": False}]}
    expected = sorted(f for f, i in items.items() if not i.annotated)
    assert names(q, dataset) == expected and len(expected) == 5


def test_seed_unassigned_filter(dataset, recipe, manager, items):
    in_task = [items["/city/day/img00000.jpg"], items["/highway/img00001.jpg"]]
    make_task(dataset, recipe, manager, items=in_task)
    q = {"$and": [*DEFAULTS, {"metadata.system.refs": []}]}
    assert names(q, dataset) == sorted(set(items) - {i.filename for i in in_task})


def test_filters_only_see_their_dataset(dataset, items):
    other = DatasetFactory(project=dataset.project, name="other")
    make_items(other, {"/city/day": 3})
    assert count({"$and": [{"dir": "/city/day"}]}, dataset) == 4


# ---------------------------------------------------------------- operators


def test_every_operator_on_a_column(dataset, items):
    assert count({"dir": {"$eq": "/highway"}}, dataset) == 2
    assert count({"dir": {"$ne": "/highway"}}, dataset) == 8
    assert count({"dir": {"$in": ["/highway", "/"]}}, dataset) == 3
    assert count({"dir": {"$nin": ["/highway", "/"]}}, dataset) == 7
    assert count({"dir": {"$gt": "/city/night"}}, dataset) == 2
    assert count({"dir": {"$gte": "/city/night"}}, dataset) == 5
    assert count({"dir": {"$lt": "/city/day"}}, dataset) == 1
    assert count({"dir": {"$lte": "/city/day"}}, dataset) == 5
    assert count({"dir": {"$exists": True}}, dataset) == 10
    assert count({"dir": {"$exists": False}}, dataset) == 0
    assert count({"dir": {"$gte": "/city", "$lt": "/city/night"}}, dataset) == 4


def test_id_accepts_api_ids_and_ints_and_keyset(dataset, items):
    pks = sorted(i.pk for i in items.values())
    assert count({"id": item_api_id(pks[0])}, dataset) == 1
    assert count({"id": pks[0]}, dataset) == 1
    assert count({"id": {"$in": [item_api_id(p) for p in pks[:3]]}}, dataset) == 3
    assert count({"id": {"$nin": [pks[0]]}}, dataset) == 9
    assert count({"$and": [*DEFAULTS, {"id": {"$gt": item_api_id(pks[6])}}]}, dataset) == 3
    assert count({"id": {"$lte": item_api_id(pks[1])}}, dataset) == 2


def test_and_with_or_means_and_list_and_any_of_or_list(dataset, items):
    q = {"$and": [{"annotated": True}], "$or": [{"dir": "/highway"}, {"dir": "/city/night"}]}
    assert names(q, dataset) == sorted(
        f for f, i in items.items() if i.annotated and i.dir in ("/highway", "/city/night")
    )
    nested = {"$or": [{"$and": [{"dir": "/highway"}, {"name": "img00000.jpg"}]}, {"dir": "/"}]}
    assert names(nested, dataset) == ["/highway/img00000.jpg", "/img00000.jpg"]
    assert count({"$or": []}, dataset) == 10


def test_hidden_and_type_are_constants(dataset, items):
    assert count({"hidden": False}, dataset) == 10
    assert count({"hidden": True}, dataset) == 0
    assert count({"type": "dir"}, dataset) == 0
    assert count({"type": {"$in": ["file", "dir"]}}, dataset) == 10
    assert count({"hidden": {"$ne": True}}, dataset) == 10


def test_filename_globs(dataset, items):
    assert count({"filename": "/city/**"}, dataset) == 7
    assert count({"filename": "/city/*"}, dataset) == 0
    assert count({"filename": "/city/*/img0000[1].jpg".replace("[1]", "1")}, dataset) == 2
    assert count({"filename": "/**/img00000.jpg"}, dataset) == 4  # ** / matches no folder too
    assert count({"filename": "/*.jpg"}, dataset) == 1
    assert count({"filename": {"$in": ["/highway/*", "/img00000.jpg"]}}, dataset) == 3
    assert count({"filename": {"$ne": "/city/**"}}, dataset) == 3
    assert count({"name": "img0000*.jpg"}, dataset) == 10


def test_glob_escapes_regex_characters(dataset):
    Item.objects.create(dataset=dataset, dir="/a", name="x(1)+[y].jpg")
    Item.objects.create(dataset=dataset, dir="/a", name="x1y.jpg")
    assert count({"filename": "/a/x(1)+[y].*"}, dataset) == 1
    assert count({"filename": "/a/x.*"}, dataset) == 0
    assert glob_to_regex("a.b*") == "^a\\.b[^/]*$"


def test_created_at_accepts_iso_and_epoch_ms(dataset, items):
    old = items["/img00000.jpg"]
    Item.objects.filter(pk=old.pk).update(created_at=timezone.now() - datetime.timedelta(days=30))
    cutoff = timezone.now() - datetime.timedelta(days=1)
    assert count({"createdAt": {"$lt": cutoff.isoformat()}}, dataset) == 1
    assert count({"createdAt": {"$gte": cutoff.timestamp() * 1000}}, dataset) == 9
    assert count({"createdAt": {"$gt": "2020-01-01T00:00:00.000Z"}}, dataset) == 10


def test_mimetype_and_label(dataset, items):
    Item.objects.filter(dir="/highway").update(mimetype="application/pdf")
    assert count({"mimetype": "application/pdf"}, dataset) == 2
    assert count({"metadata.system.mimetype": {"$ne": "application/pdf"}}, dataset) == 8
    item = items["/city/day/img00001.jpg"]
    Annotation.objects.create(item=item, label_name="car")
    Annotation.objects.create(item=items["/highway/img00000.jpg"], label_name="person")
    assert names({"label": "car"}, dataset) == [item.filename]
    assert count({"annotations.label": {"$in": ["car", "person"]}}, dataset) == 2
    assert count({"label": {"$nin": ["car"]}}, dataset) == 9
    assert count({"label": {"$exists": True}}, dataset) == 2


def test_user_metadata_paths(dataset):
    Item.objects.create(dataset=dataset, name="a.jpg", metadata={"user": {"batch": 3, "city": "Oslo"}})
    Item.objects.create(dataset=dataset, name="b.jpg", metadata={"user": {"batch": 7, "tags": ["x", "y"]}})
    Item.objects.create(dataset=dataset, name="c.jpg", metadata={"contains": "z"})
    assert names({"metadata.user.batch": 3}, dataset) == ["/a.jpg"]
    assert names({"metadata.user.batch": {"$gt": 4}}, dataset) == ["/b.jpg"]
    assert names({"metadata.user.batch": {"$lte": 7, "$gte": 3}}, dataset) == ["/a.jpg", "/b.jpg"]
    assert names({"metadata.user.city": {"$ne": "Oslo"}}, dataset) == ["/b.jpg", "/c.jpg"]
    assert names({"metadata.user.batch": {"$in": [7, 9]}}, dataset) == ["/b.jpg"]
    assert names({"metadata.user.batch": {"$nin": [7]}}, dataset) == ["/a.jpg", "/c.jpg"]
    assert names({"metadata.user.city": {"$exists": True}}, dataset) == ["/a.jpg"]
    assert names({"metadata.user.city": {"$exists": False}}, dataset) == ["/b.jpg", "/c.jpg"]
    assert names({"metadata.user.tags": ["x", "y"]}, dataset) == ["/b.jpg"]
    # A key named like a Django lookup stays a JSON key.
    assert names({"metadata.contains": "z"}, dataset) == ["/c.jpg"]


# ---------------------------------------------------------------- refs


def test_refs_forms(dataset, recipe, manager, annotator, items):
    day = [items[f"/city/day/img0000{i}.jpg"] for i in range(4)]
    task, assignment = make_task(
        dataset, recipe, manager, items=day, assignee=annotator, statuses={day[0].pk: "completed"}
    )
    other, other_assignment = make_task(dataset, recipe, manager, name="u", items=day[:1] + [items["/img00000.jpg"]])
    tid = task_api_id(task.pk)
    assert count({"metadata.system.refs.id": {"$in": [tid]}}, dataset) == 4
    assert count({"metadata.system.refs.id": tid}, dataset) == 4
    assert count({"metadata.system.refs.id": {"$eq": assignment_api_id(other_assignment.pk)}}, dataset) == 2
    assert count({"metadata.system.refs.id": {"$ne": tid}}, dataset) == 6
    assert count({"metadata.system.refs.id": {"$nin": [tid, task_api_id(other.pk)]}}, dataset) == 5
    assert count({"metadata.system.refs": {"$ne": []}}, dataset) == 5
    assert count({"metadata.system.refs": {"$exists": True}}, dataset) == 5
    qa_clause = {
        "metadata.system.refs": {"$match": {"id": tid, "type": "task", "metadata": {"status": {"$exists": True}}}}
    }
    assert names({"$and": [*DEFAULTS, qa_clause]}, dataset) == [day[0].filename]
    no_status = {"metadata.system.refs": {"$match": {"id": tid, "metadata": {"status": {"$exists": False}}}}}
    assert count(no_status, dataset) == 3
    by_status = {"metadata.system.refs": {"$match": {"id": tid, "type": "task", "metadata": {"status": "completed"}}}}
    assert count(by_status, dataset) == 1


def test_a_task_query_body_as_dtlpy_sends_it(dataset, recipe, manager, items):
    body = json.loads(
        json.dumps(
            {
                "filter": {"$and": [{"hidden": False}, {"type": "file"}, {"annotated": False}]},
                "page": 0,
                "pageSize": 1000,
                "resource": "items",
            }
        )
    )
    assert count(body, dataset) == 5


# ---------------------------------------------------------------- hostile input


@pytest.mark.parametrize(
    "query, named",
    [
        ({"created_by__password": "x"}, "created_by__password"),
        ({"metadata.a__b": 1}, "metadata.a__b"),
        ({"_connector": "OR"}, "_connector"),
        ({"dataset_id": 1}, "dataset_id"),
        ({"pk": 1}, "pk"),
        ({"metadata.system.originalname": "x"}, "metadata.system.originalname"),
        ({"metadata.a.b c": 1}, "metadata.a.b c"),
        ({"metadata.": 1}, "metadata."),
        ({"dir": {"$regex": ".*"}}, "$regex"),
        ({"dir": {"$where": "1"}}, "$where"),
        ({"$nor": []}, "$nor"),
        ({"$and": {"dir": "/"}}, "$and"),
        ({"$and": ["dir"]}, "object"),
        ({"$and": [1]}, "object"),
        ({"dir": 5}, "dir"),
        ({"dir": ["/a"]}, "dir"),
        ({"dir": {"a": 1}}, "dir"),
        ({"annotated": "false"}, "annotated"),
        ({"annotated": {"$gt": True}}, "annotated"),
        ({"id": "not-an-id"}, "id"),
        ({"id": {"$in": "x"}}, "$in"),
        ({"createdAt": "yesterday"}, "createdAt"),
        ({"label": {"$gt": "a"}}, "label"),
        ({"type": "folder"}, "type"),
        ({"metadata.system.refs": [1]}, "metadata.system.refs"),
        ({"metadata.system.refs": {"$match": {"id": "x"}}}, "metadata.system.refs.id"),
        ({"metadata.system.refs": {"$match": {"creator": "x"}}}, "metadata.system.refs.creator"),
        ({"metadata.system.refs.id": {"$in": [123]}}, "metadata.system.refs.id"),
        ({"metadata.system.refs.id": {"$gt": "a"}}, "$gt"),
        ({"metadata.x": {"$exists": "yes"}}, "metadata.x"),
        ({"dir": "a\x00b"}, "dir"),
        ([{"dir": "/"}], "object"),
    ],
)
def test_hostile_input_is_refused_by_name(dataset, query, named):
    with pytest.raises(DQLError) as exc:
        dql_items(query, dataset=dataset)
    assert named in str(exc.value)
    assert isinstance(exc.value, ValueError)


def test_deep_nesting_and_too_many_clauses_are_refused(dataset):
    node = {"dir": "/"}
    for _ in range(12):
        node = {"$and": [node]}
    with pytest.raises(DQLError, match="deeper"):
        dql_items(node, dataset=dataset)
    with pytest.raises(DQLError, match="1000 clauses"):
        dql_items({"$or": [{"dir": f"/{i}"} for i in range(1001)]}, dataset=dataset)


# ---------------------------------------------------------------- sort and page


def test_sort_and_page():
    body = {"filter": {"$and": [{"id": {"$gt": item_api_id(42)}}]}, "sort": {"id": "ascending"}, "page": 0}
    assert dql_sort_and_page(body) == (["pk"], 0, 1000, 42)
    assert dql_sort_and_page({"sort": {"filename": "descending"}, "page": 2, "pageSize": 50}) == (
        ["-filename", "-pk"],
        2,
        50,
        None,
    )
    assert dql_sort_and_page({"sort": {"createdAt": "ascending"}})[0] == ["created_at", "pk"]
    for bad in [{"pageSize": 1001}, {"pageSize": 0}, {"page": -1}, {"sort": {"password": "ascending"}}]:
        with pytest.raises(DQLError):
            dql_sort_and_page(bad)


def test_very_long_id_lists_pass_as_one_parameter(dataset, items):
    pks = [i.pk for i in items.values()]
    listed = [item_api_id(p) for p in pks[:4]] + [item_api_id(10**9 + n) for n in range(40_000)]
    assert count({"id": {"$in": listed}}, dataset) == 4
    assert count({"id": {"$nin": listed}}, dataset) == 6
    names_listed = [f"/nope{n}.jpg" for n in range(40_000)] + ["/img00000.jpg"]
    assert count({"filename": {"$in": names_listed}}, dataset) == 1


def test_lists_that_expand_into_conditions_are_capped(dataset):
    for field in ["metadata.a", "metadata.system.refs.id"]:
        with pytest.raises(DQLError, match=field.replace(".", r"\.")):
            dql_items({field: {"$in": ["x"] * 1001}}, dataset=dataset)
    with pytest.raises(DQLError, match="filename"):
        dql_items({"filename": {"$in": ["/a/*"] * 1001}}, dataset=dataset)


def test_globs_hold_few_wildcards(dataset):
    assert glob_to_regex("a***b") == glob_to_regex("a**b")
    assert count({"filename": "/**/x*y*.jpg"}, dataset) == 0
    with pytest.raises(DQLError, match="filename.*wildcards"):
        dql_items({"filename": "*a*a*a*b"}, dataset=dataset)


def test_metadata_booleans_and_nulls(dataset):
    Item.objects.create(dataset=dataset, name="t.jpg", metadata={"ok": True, "n": None})
    Item.objects.create(dataset=dataset, name="f.jpg", metadata={"ok": False, "n": 1})
    Item.objects.create(dataset=dataset, name="m.jpg", metadata={})
    assert names({"metadata.ok": True}, dataset) == ["/t.jpg"]
    assert names({"metadata.ok": False}, dataset) == ["/f.jpg"]
    assert names({"metadata.ok": {"$ne": True}}, dataset) == ["/f.jpg", "/m.jpg"]
    assert names({"metadata.n": None}, dataset) == ["/m.jpg", "/t.jpg"]
    assert names({"metadata.n": {"$ne": None}}, dataset) == ["/f.jpg"]
