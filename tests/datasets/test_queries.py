import pytest
from django.http import Http404

from taskboard.datasets import queries
from taskboard.datasets.models import Item
from tests.factories import DatasetFactory, make_items


def test_folder_tree_fills_gaps_and_counts_subfolders(dataset, django_assert_num_queries):
    make_items(dataset, {"/a/b/c": 3, "/a/b": 2, "/a/bc": 1, "/z": 4, "/": 1})
    with django_assert_num_queries(1):
        tree = queries.folder_tree(dataset)
    rows = [(f.path, f.depth, f.own, f.total) for f in tree.walk()]
    assert rows == [
        ("/", 0, 1, 11),
        ("/a", 1, 0, 6),
        ("/a/b", 2, 2, 5),
        ("/a/b/c", 3, 3, 3),
        ("/a/bc", 2, 1, 1),
        ("/z", 1, 4, 4),
    ]


def test_folder_tree_of_an_empty_dataset(dataset):
    tree = queries.folder_tree(dataset)
    assert (tree.path, tree.total, tree.children) == ("/", 0, [])


def test_dataset_getters_answer_404_outside_the_project(manager, annotator, other_manager, dataset):
    assert queries.dataset_for_manager(manager, dataset.pk) == dataset
    for user in (annotator, other_manager):
        with pytest.raises(Http404):
            queries.dataset_for_manager(user, dataset.pk)


def test_datasets_of_project_counts_items(project, dataset):
    make_items(dataset, {"/a": 3})
    DatasetFactory(project=project, name="empty")
    assert [(d.name, d.item_count) for d in queries.datasets_of_project(project)] == [
        ("empty", 0),
        ("street-scenes", 3),
    ]


def test_items_page_is_keyset_in_dir_name_id_order(dataset):
    make_items(dataset, {"/b": 3, "/a": 4})
    items = Item.objects.filter(dataset=dataset)
    order = list(items.order_by("dir", "name", "id").values_list("pk", flat=True))
    first = queries.items_page(items, size=3)
    assert [i.pk for i in first.items] == order[:3] and first.start == 1 and first.prev_before is None
    second = queries.items_page(items, after=first.next_after, size=3)
    assert [i.pk for i in second.items] == order[3:6] and second.start == 4
    third = queries.items_page(items, after=second.next_after, size=3)
    assert [i.pk for i in third.items] == order[6:] and third.next_after is None
    back = queries.items_page(items, before=third.items[0].pk, size=3)
    assert [i.pk for i in back.items] == order[3:6] and back.prev_before == order[3]
    # An id outside the queryset starts from the top.
    assert queries.items_page(items, after=10**9, size=3).items == first.items
