"""Priority that orders the work: item priority orders pulls and an annotator's next item; task
priority orders a person's next work across tasks; bulk priority over a DQL filter in one call."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from taskboard.annotation import priority
from taskboard.annotation.models import AnnotationTask, Assignment, TaskItem
from taskboard.annotation.pulling import pulling_claim
from taskboard.annotation.selection import Selection
from taskboard.api.ids import api_id
from taskboard.work import queries as work_queries
from tests.factories import create_task, in_days, make_items


@pytest.fixture
def folders(dataset, recipe):
    return make_items(dataset, {"/a": 10, "/b": 10})


def pulling(dataset, manager, people, name, task_priority=2, folder=None):
    selection = Selection(mode="folder", folder=folder) if folder else Selection(mode="all")
    return create_task(
        dataset=dataset,
        created_by=manager,
        name=name,
        selection=selection,
        assignees=people,
        due_at=in_days(3),
        allocation="pulling",
        batch_size=3,
        max_batch_workload=5,
        priority=task_priority,
    )


def dirs_held(task, user):
    rows = TaskItem.objects.filter(task=task, assignment__assignee=user).select_related("item")
    return sorted({r.item.dir for r in rows})


def test_bulk_priority_over_a_dql_filter_orders_the_next_pulls(dataset, folders, manager, annotator, annotator2):
    task = pulling(dataset, manager, [annotator], "pull")
    assert dirs_held(task, annotator) == ["/a"]  # (folder, name) order first
    changed = priority.items_priority_set(
        task=task, selection=Selection(mode="filter", dql={"dir": "/b"}), priority=90, by=manager
    )
    assert changed == 10
    assert TaskItem.objects.filter(task=task, priority=90).count() == 10
    Assignment.objects.create(task=task, assignee=annotator2)
    assert pulling_claim(task=task, user=annotator2) == 3
    assert dirs_held(task, annotator2) == ["/b"]


def test_bulk_priority_refuses_bad_values_and_bad_filters(dataset, folders, manager, annotator):
    task = pulling(dataset, manager, [annotator], "pull")
    with pytest.raises(ValidationError, match="0 to 100"):
        priority.items_priority_set(task=task, selection=None, priority=101, by=manager)
    with pytest.raises(ValidationError):
        priority.items_priority_set(
            task=task, selection=Selection(mode="filter", dql={"nope": 1}), priority=5, by=manager
        )
    assert not TaskItem.objects.filter(task=task).exclude(priority=50).exists()


def test_next_work_follows_task_priority_across_tasks(dataset, folders, manager, annotator, annotator2):
    low = pulling(dataset, manager, [annotator2], "low", task_priority=1, folder="/a")
    high = pulling(dataset, manager, [annotator2], "high", task_priority=3, folder="/b")
    for task in (low, high):
        Assignment.objects.create(task=task, assignee=annotator)
    # annotator is allowed in both (holds an assignment); the high one comes first.
    found = priority.pull_next(user=annotator)
    assert found.task == high and found.claimed == 3
    AnnotationTask.objects.filter(pk=high.pk).update(priority=1)
    AnnotationTask.objects.filter(pk=low.pk).update(priority=3)
    found = priority.pull_next(user=annotator)
    assert found.task.pk == low.pk


def test_an_annotators_next_item_follows_item_priority(dataset, folders, manager, annotator):
    task = create_task(
        dataset=dataset, created_by=manager, name="dist", selection=Selection(mode="all"), assignees=[annotator]
    )
    mine = Assignment.objects.get(task=task, assignee=annotator)
    first = work_queries.first_open_item(mine)
    assert first.item.dir == "/a"
    priority.items_priority_set(task=task, selection=Selection(mode="folder", folder="/b"), priority=70, by=manager)
    first = work_queries.first_open_item(mine)
    assert first.item.dir == "/b" and first.priority == 70
    following = work_queries.next_open_item(first)
    assert following.item.dir == "/b" and following.rank > first.rank
    last_b = TaskItem.objects.filter(task=task, item__dir="/b").order_by("-rank").first()
    assert work_queries.next_open_item(last_b).item.dir == "/a"


def test_priority_page_and_api(client, api, dataset, folders, manager, annotator):
    task = pulling(dataset, manager, [annotator], "pull")
    client.force_login(manager)
    page = reverse("annotation:task-priority", args=[task.pk])
    assert client.get(page).status_code == 200
    assert client.get(page, {"folder": "/b"}).content.decode().count("/b") >= 1
    response = client.post(
        reverse("annotation:task-items-priority", args=[task.pk]), {"priority": 77, "dql": '{"dir": "/b"}'}
    )
    assert response.status_code == 302
    assert TaskItem.objects.filter(task=task, priority=77).count() == 10
    bad = client.post(reverse("annotation:task-items-priority", args=[task.pk]), {"priority": 7, "dql": "{not"})
    assert bad.status_code == 400 and "Not JSON" in bad.content.decode()
    client.post(reverse("annotation:task-priority-set", args=[task.pk]), {"task_priority": 3})
    assert AnnotationTask.objects.get(pk=task.pk).priority == 3
    path = f"/api/v1/annotationtasks/{api_id('task', task.pk)}/priority"
    body = api(manager).post(path, {"priority": 10, "filter": {"$and": [{"dir": "/a"}]}}).json()
    assert body["updatedItemsCount"] == 10
    assert api(manager).post(path, {"priority": "high"}).status_code == 400
    assert api(annotator).post(path, {"priority": 10}).status_code == 403


def test_get_next_work_from_my_work_and_the_api(client, api, dataset, folders, manager, annotator, annotator2):
    task = pulling(dataset, manager, [annotator2], "pull")
    Assignment.objects.create(task=task, assignee=annotator)
    client.force_login(annotator)
    response = client.post(reverse("work:next-work"))
    assert response.status_code == 302 and "/work/assignments/" in response["Location"]
    assert TaskItem.objects.filter(task=task, assignment__assignee=annotator).count() == 3
    body = api(annotator2).post("/api/v1/pulling/next", {}).json()
    assert body["claimed"] == 0  # annotator2 already holds a batch above the refill line


def test_the_item_browser_carries_its_filter_to_a_tasks_bulk_priority_and_status(
    client, dataset, folders, manager, annotator, other_manager
):
    task = pulling(dataset, manager, [annotator], "pull")
    client.force_login(manager)
    browse = reverse("annotation:dataset-browse", args=[dataset.pk])
    page = client.get(browse, {"folder": "/b", "submitted": "1"}).content.decode()
    assert 'id="task-lever-form"' in page and f'<option value="{task.pk}">pull</option>' in page
    assert "All 10 matching items, in the task" in page
    lever = reverse("annotation:dataset-to-task-lever", args=[dataset.pk])
    to_priority = client.get(lever, {"folder": "/b", "target_task": task.pk, "lever": "priority", "after": "3"})
    assert to_priority.status_code == 302
    assert to_priority["Location"] == reverse("annotation:task-priority", args=[task.pk]) + "?folder=%2Fb"
    arrived = client.get(to_priority["Location"]).content.decode()
    assert "&quot;/b&quot;" in arrived  # the filter, as the query language, in the form
    to_status = client.get(lever, {"folder": "/b", "target_task": task.pk, "lever": "status"})
    assert to_status["Location"].startswith(reverse("annotation:task-bulk-status", args=[task.pk]) + "?folder=")
    # A task of another dataset, or no lever: back to the browser with a message.
    refused = client.get(lever, {"folder": "/b", "target_task": 999999, "lever": "priority"})
    assert refused["Location"].startswith(browse + "?folder=")
    client.force_login(other_manager)
    assert client.get(lever, {"target_task": task.pk, "lever": "priority"}).status_code == 404
