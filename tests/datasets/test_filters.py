import datetime
import json

from django.http import QueryDict

from taskboard.annotation.filters import ItemFilter, itemfilter_to_selection, selection_query_params
from taskboard.annotation.selection import Selection, select_items
from tests.datasets.helpers import make_task
from tests.factories import make_items


def run(dataset, query: str):
    f = ItemFilter(QueryDict(query), dataset=dataset)
    assert f.is_valid(), f.form.errors
    return f


def test_no_filters_is_the_whole_dataset(dataset):
    f = run(dataset, "submitted=1")
    f.qs  # noqa: B018
    assert f.selection == Selection(mode="all")


def test_one_filter_is_a_plain_mode(dataset):
    f = run(dataset, "folder=/city/&subfolders=on&submitted=1")
    f.qs  # noqa: B018
    assert f.selection == Selection(mode="folder", folder="/city", include_subfolders=True)
    assert itemfilter_to_selection({"unassigned": True}) == Selection(mode="unassigned")
    assert itemfilter_to_selection({"annotated": "no"}) == Selection(mode="annotated", annotated=False)


def test_subfolders_default_on_until_the_form_is_submitted(dataset):
    assert run(dataset, "folder=/a").form.cleaned_data["subfolders"] is True
    assert run(dataset, "folder=/a&submitted=1").form.cleaned_data["subfolders"] is False


def test_combined_filters_become_dql_with_the_same_result(dataset, recipe, manager):
    items = make_items(dataset, {"/city/day": 6, "/city/night": 6, "/x": 3}, annotated_every=2)
    items[0].metadata = {"user": {"batch": 3}}
    items[0].save()
    items[2].metadata = {"user": {"batch": "3"}}
    items[2].save()
    make_task(dataset, recipe, manager, items=items[:1])
    f = run(dataset, "folder=/city&subfolders=on&meta_key=metadata.user.batch&meta_value=3&submitted=1")
    assert {i.pk for i in f.qs} == {items[0].pk, items[2].pk}
    assert f.selection.mode == "filter"
    f = run(dataset, "folder=/city&subfolders=on&unassigned=on&annotated=no&submitted=1")
    expected = {i.pk for i in items[1:12] if not i.annotated}
    assert {i.pk for i in f.qs} == expected
    # Through the wizard's parameters and back, the same items.
    params = selection_query_params(f.selection)
    again = select_items(dataset=dataset, selection=Selection(mode="filter", dql=json.loads(params["dql"])))
    assert set(again.values_list("pk", flat=True)) == expected


def test_created_dates_are_whole_days(dataset):
    make_items(dataset, {"/a": 2})
    today = datetime.date.today()
    assert run(dataset, f"created_from={today}&created_to={today}&submitted=1").qs.count() == 2
    assert run(dataset, f"created_to={today - datetime.timedelta(days=1)}&submitted=1").qs.count() == 0


def test_bad_input_is_a_form_error(dataset):
    for query, field in [
        ("meta_key=a__b", "meta_key"),
        ("meta_key=system.refs", "meta_key"),
        ("meta_value=3", "meta_key"),
        ("folder=/a/../b", "folder"),
        ("status=any", "task"),
        ("created_from=2025-02-02&created_to=2025-01-01", "created_to"),
        ("task=999999", "task"),
    ]:
        f = ItemFilter(QueryDict(query + "&submitted=1"), dataset=dataset)
        assert not f.is_valid() and field in f.form.errors, query


def test_label_filter(dataset, recipe):
    from taskboard.datasets.models import Annotation

    items = make_items(dataset, {"/a": 3})
    Annotation.objects.create(item=items[1], label_name="car")
    f = run(dataset, "label=car&submitted=1")
    assert [i.pk for i in f.qs] == [items[1].pk]
    assert f.selection == Selection(mode="filter", dql={"$and": [{"label": "car"}]})
    bad = ItemFilter(QueryDict("label=bus&submitted=1"), dataset=dataset)
    assert not bad.is_valid() and "label" in bad.form.errors


def test_a_task_alone_shows_its_items_whatever_their_status_and_each_status_choice_once(dataset, recipe, manager):
    """The default "Status there" was "any status" (items with a status): a new task showed 0 items,
    and "Any status" was listed twice (the empty choice and the "any" choice)."""
    items = make_items(dataset, {"/a": 4})
    task, _ = make_task(dataset, recipe, manager, items=items[:3], statuses={items[0].pk: "completed"})
    f = run(dataset, f"task={task.pk}&submitted=1")
    assert set(f.qs) == set(items[:3])
    assert set(run(dataset, f"task={task.pk}&status=any&submitted=1").qs) == {items[0]}
    assert set(run(dataset, f"task={task.pk}&status=none&submitted=1").qs) == set(items[1:3])
    labels = [label for _, label in f.form.fields["status"].choices]
    assert len(labels) == len(set(labels)) and labels[0] == "In the task, any status"
    # The wizard gets the same items from the same clause.
    assert set(select_items(dataset=dataset, selection=f.selection)) == set(items[:3])
