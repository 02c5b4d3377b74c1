import pytest
from django.core.exceptions import ValidationError

from taskboard.annotation.selection import Selection, select_items
from taskboard.datasets.ids import item_api_id
from taskboard.datasets.models import Item
from tests.datasets.helpers import make_task
from tests.factories import DatasetFactory, make_items


@pytest.fixture
def items(dataset):
    made = make_items(
        dataset,
        {"/city": 2, "/city/day": 4, "/city/night": 3, "/citylights": 2, "/highway": 2, "/": 1},
        annotated_every=2,
    )
    return {i.filename: i for i in made}


def count(dataset, **kwargs):
    return select_items(dataset=dataset, selection=Selection(**kwargs)).count()


def test_folder_without_subfolders(dataset, items):
    assert count(dataset, mode="folder", folder="/city", include_subfolders=False) == 2
    assert count(dataset, mode="folder", folder="/city/", include_subfolders=False) == 2


def test_folder_with_subfolders_does_not_take_sibling_prefixes(dataset, items):
    # /citylights starts with "/city" but is not below it.
    assert count(dataset, mode="folder", folder="/city", include_subfolders=True) == 9
    assert count(dataset, mode="folder", folder="/", include_subfolders=True) == 14
    assert count(dataset, mode="folder", folder="/", include_subfolders=False) == 1


def test_folder_match_is_case_sensitive(dataset, items):
    assert count(dataset, mode="folder", folder="/City", include_subfolders=True) == 0


def test_folder_must_be_absolute(dataset):
    for bad in ["city", "/a/../b"]:
        with pytest.raises(ValidationError) as exc:
            count(dataset, mode="folder", folder=bad)
        assert "selection" in exc.value.message_dict


def test_annotated(dataset, items):
    annotated = sum(1 for i in items.values() if i.annotated)
    assert count(dataset, mode="annotated", annotated=True) == annotated == 7
    assert count(dataset, mode="annotated", annotated=False) == 7
    with pytest.raises(ValidationError):
        count(dataset, mode="annotated")


def test_task_status(dataset, recipe, manager, items):
    day = [items[f"/city/day/img0000{i}.jpg"] for i in range(4)]
    task, _ = make_task(dataset, recipe, manager, items=day, statuses={day[0].pk: "completed", day[1].pk: "discard"})
    assert count(dataset, mode="task_status", task_id=task.pk, task_status="any") == 2
    assert count(dataset, mode="task_status", task_id=task.pk, task_status="none") == 2
    assert count(dataset, mode="task_status", task_id=task.pk, task_status="completed") == 1
    assert count(dataset, mode="task_status", task_id=task.pk, task_status="approved") == 0


def test_task_status_refuses_a_task_of_another_dataset(dataset, recipe, manager, items):
    other = DatasetFactory(project=dataset.project, name="other")
    task, _ = make_task(dataset, recipe, manager, items=list(items.values())[:2])
    with pytest.raises(ValidationError) as exc:
        count(other, mode="task_status", task_id=task.pk, task_status="any")
    assert "selection" in exc.value.message_dict


def test_unassigned(dataset, recipe, manager, items):
    make_task(dataset, recipe, manager, items=list(items.values())[:5])
    assert count(dataset, mode="unassigned") == 9


def test_list_by_ids_and_filenames(dataset, items):
    a, b, c = list(items.values())[:3]
    assert count(dataset, mode="list", item_ids=(a.pk, item_api_id(b.pk)), filenames=(c.filename,)) == 3
    assert count(dataset, mode="list", item_ids=(str(a.pk),)) == 1


def test_list_refuses_items_of_other_datasets(dataset, items):
    other = DatasetFactory(project=dataset.project, name="other")
    foreign = make_items(other, {"/x": 2})
    mine = list(items.values())[0]
    with pytest.raises(ValidationError) as exc:
        count(dataset, mode="list", item_ids=(mine.pk, foreign[0].pk, foreign[1].pk))
    assert "2 of the 3" in exc.value.message_dict["selection"][0]
    with pytest.raises(ValidationError):
        count(dataset, mode="list", filenames=("/nope.jpg",))
    with pytest.raises(ValidationError):
        count(dataset, mode="list")
    with pytest.raises(ValidationError):
        count(dataset, mode="list", item_ids=("abc",))


def test_all(dataset, items):
    assert count(dataset, mode="all") == 14


def test_filter(dataset, items):
    dql = {"$and": [{"hidden": False}, {"type": "file"}, {"filename": "/city/**"}, {"annotated": True}]}
    expected = sum(1 for i in items.values() if i.annotated and i.dir.startswith("/city/"))
    expected += sum(1 for i in items.values() if i.annotated and i.dir == "/city")
    assert count(dataset, mode="filter", dql=dql) == expected
    # A full dtlpy body works too.
    assert count(dataset, mode="filter", dql={"filter": dql, "page": 0, "pageSize": 1000}) == expected
    with pytest.raises(ValidationError) as exc:
        count(dataset, mode="filter", dql={"password": "x"})
    assert "password" in exc.value.message_dict["selection"][0]


def test_result_is_unordered_and_scoped(dataset, items):
    qs = select_items(dataset=dataset, selection=Selection(mode="all"))
    assert not qs.ordered
    assert set(qs.values_list("dataset_id", flat=True)) == {dataset.pk}
    assert Item.objects.count() == 14


def test_selection_round_trips_through_json(dataset, items):
    sel = Selection(mode="list", item_ids=(1, 2), filenames=("/a",))
    assert Selection.from_json(sel.to_json()) == sel
