"""DQL and selections as the task services use them (the services embed the item SQL)."""

from taskboard.annotation.dql import dql_items
from taskboard.annotation.models import TaskItem
from taskboard.annotation.selection import Selection
from taskboard.datasets.ids import item_api_id, task_api_id
from taskboard.work import flow
from tests.factories import create_task, in_days, make_items


def test_a_task_from_a_long_id_list_as_dtlpy_sends_it(dataset, recipe, manager, annotator, annotator2):
    items = make_items(dataset, {"/a": 700, "/b": 50})
    ids = [item_api_id(i.pk) for i in items[:650]]
    task = create_task(
        dataset=dataset,
        created_by=manager,
        name="from list",
        query={"filter": {"$and": [{"id": {"$in": ids}}]}, "page": 0, "pageSize": 1000, "resource": "items"},
        assignees=[annotator, annotator2],
        due_at=in_days(3),
    )
    assert TaskItem.objects.filter(task=task).count() == 650


def test_unassigned_and_qa_refs_after_a_task(dataset, recipe, manager, annotator):
    make_items(dataset, {"/a": 10, "/b": 5})
    task = create_task(
        dataset=dataset,
        created_by=manager,
        name="folder a",
        selection=Selection(mode="folder", folder="/a"),
        assignees=[annotator],
        due_at=in_days(3),
    )
    assert dql_items({"metadata.system.refs": []}, dataset=dataset).count() == 5
    assert dql_items({"metadata.system.refs.id": {"$in": [task_api_id(task.pk)]}}, dataset=dataset).count() == 10
    item = TaskItem.objects.filter(task=task).select_related("item").first().item
    flow.item_status_set(task=task, item=item, status="completed", by=annotator)
    qa = {
        "metadata.system.refs": {
            "$match": {"id": task_api_id(task.pk), "type": "task", "metadata": {"status": {"$exists": True}}}
        }
    }
    assert list(dql_items(qa, dataset=dataset).values_list("pk", flat=True)) == [item.pk]
