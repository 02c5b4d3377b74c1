"""Consensus items as Dataloop models them: the originals and one hidden clone per copy, each with refs of
its own; and every item's `metadata.system.taskStatusLog`."""

import json

import pytest

from taskboard.annotation.models import StatusLog, TaskItem
from taskboard.api.ids import api_id
from tests.api.test_tasks import create, payload, query

pytestmark = pytest.mark.django_db

CONSENSUS = {
    "system": {
        "allowedAssignees": ["bob@example.com", "carol@example.com"],
        "consensusPercentage": 100,
        "consensusAssignees": 2,
        "scoring": False,
    }
}


def listing(user, dataset, *clauses, page_size=1000, page=0):
    body = {"filter": {"$and": list(clauses)}, "page": page, "pageSize": page_size, "resource": "items"}
    response = user.post(f"/api/v1/datasets/{api_id('dataset', dataset.pk)}/query", body)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def consensus(api, manager, annotator, annotator2, dataset, recipe, items):
    user = api(manager)
    body = payload(dataset, recipe, q=query({"dir": "/highway"}), metadata=CONSENSUS)
    tid = create(user, body)["spec"]["createdTaskId"]
    return user, tid


def test_task_items_are_the_originals_and_a_clone_per_copy(consensus, dataset):
    user, tid = consensus
    # dtlpy's task.get_items(): refs.id $in [task], no hidden/type defaults.
    page = listing(user, dataset, {"metadata.system.refs.id": {"$in": [tid]}})
    assert page["totalItemsCount"] == 12  # 4 items at 100% with 2 annotators: 4 originals + 8 clones
    originals = [i for i in page["items"] if not i["hidden"]]
    clones = [i for i in page["items"] if i["hidden"]]
    assert len(originals) == 4 and len(clones) == 8
    assert {c["spec"]["parentDatasetItemId"] for c in clones} == {o["id"] for o in originals}
    assert all(len(c["metadata"]["system"]["refs"]) == 2 for c in clones)
    # An original refers to the task alone: dtlpy's update_status without ids still finds it.
    assert all(o["metadata"]["system"]["refs"] == [{"type": "task", "id": tid, "metadata": {}}] for o in originals)
    # With the pool of originals excluded, as dtlpy's get_items() asks, the originals stay: they do not
    # name the pool.
    pool = user.get(f"/api/v1/annotationtasks/{tid}").json()["metadata"]["system"]["consensusAssignmentId"]
    assert (
        listing(
            user, dataset, {"metadata.system.refs.id": {"$in": [tid]}}, {"metadata.system.refs.id": {"$ne": pool}}
        )["totalItemsCount"]
        == 12
    )
    # Stable: the same ids on every read.
    again = listing(user, dataset, {"metadata.system.refs.id": {"$in": [tid]}})
    assert [i["id"] for i in again["items"]] == [i["id"] for i in page["items"]]
    # dataset.items.list() (hidden: false) lists the originals only; the task's counts are Dataloop's.
    assert listing(user, dataset, {"hidden": False}, {"metadata.system.refs.id": tid})["totalItemsCount"] == 4
    assert user.get(f"/api/v1/annotationtasks/{tid}").json()["totalItems"] == 12


def test_an_assignment_lists_its_own_clones(consensus, dataset, annotator):
    user, tid = consensus
    bobs = next(
        a for a in user.get("/api/v1/assignments", taskId=tid).json()["items"] if a["annotator"] == annotator.email
    )
    page = listing(user, dataset, {"metadata.system.refs.id": {"$in": [bobs["id"]]}})
    assert page["totalItemsCount"] == 4
    assert all(i["hidden"] and i["metadata"]["system"]["refs"][1]["id"] == bobs["id"] for i in page["items"])


def test_keyset_paging_walks_originals_then_clones(consensus, dataset):
    user, tid = consensus
    seen, after = [], None
    while True:
        clauses = [{"metadata.system.refs.id": {"$in": [tid]}}]
        if after:
            clauses.append({"id": {"$gt": after}})
        page = listing(user, dataset, *clauses, page_size=5)
        seen += [i["id"] for i in page["items"]]
        if not page["hasNextPage"]:
            break
        after = page["items"][-1]["id"]
    assert len(seen) == len(set(seen)) == 12


def test_a_clone_status_is_its_own_and_logged(api, consensus, dataset, annotator):
    user, tid = consensus
    clone = next(
        i
        for i in listing(api(annotator), dataset, {"metadata.system.refs.id": {"$in": [tid]}})["items"]
        if i["hidden"]
    )
    body = {"itemIds": [clone["id"]], "statusPayload": {"operation": "create", "status": "completed"}}
    answered = api(annotator).post(f"/api/v1/assignments/items/tasks/{tid}/status", body)
    assert answered.status_code == 200, answered.content
    got = user.get(f"/api/v1/items/{clone['id']}").json()
    task_ref = next(r for r in got["metadata"]["system"]["refs"] if r["id"] == tid)
    assert task_ref["metadata"] == {"status": "completed"}  # item.status(task_id=…)
    (entry,) = got["metadata"]["system"]["taskStatusLog"]
    assert entry["action"] == "create"
    assert {k: entry["status"][k] for k in ("taskId", "status", "creator")} == {
        "taskId": tid,
        "status": "completed",
        "creator": annotator.email,
    }
    # The original and the other copy are untouched.
    original = user.get(f"/api/v1/items/{clone['spec']['parentDatasetItemId']}").json()
    assert original["metadata"]["system"]["refs"][0]["metadata"] == {}
    assert original["metadata"]["system"]["taskStatusLog"] == []
    assert TaskItem.objects.exclude(status=None).count() == 1


def test_status_log_appends_each_set_and_clear(api, manager, annotator, annotator2, dataset, recipe, items):
    bob = annotator
    tid = create(api(manager), payload(dataset, recipe, q=query({"dir": "/highway"})))["spec"]["createdTaskId"]
    mine = list(
        TaskItem.objects.filter(task__name="task-1", assignment__assignee=bob).values_list("item_id", flat=True)
    )
    ids = [api_id("item", pk) for pk in mine]
    route = f"/api/v1/assignments/items/tasks/{tid}/status"
    for operation in ("create", "delete", "create"):
        body = {"itemIds": ids, "statusPayload": {"operation": operation, "status": "completed"}}
        assert api(bob).post(route, body).status_code == 200
    assert StatusLog.objects.count() == 3 * len(ids)
    log = api(manager).get(f"/api/v1/items/{ids[0]}").json()["metadata"]["system"]["taskStatusLog"]
    assert [(e["action"], e["status"]["status"], e["status"]["creator"]) for e in log] == [
        ("create", "completed", bob.email),
        ("delete", "completed", bob.email),
        ("create", "completed", bob.email),
    ]
    assert json.dumps(log)  # plain JSON
