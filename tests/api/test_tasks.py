import json

import pytest

from taskboard.annotation.models import AnnotationTask, Assignment, AssignmentKind, TaskItem
from taskboard.api.ids import api_id
from tests.factories import in_days

pytestmark = pytest.mark.django_db

DEFAULTS = [{"hidden": False}, {"type": "file"}]


def query(*clauses, defaults=True):
    return json.dumps(
        {
            "filter": {"$and": (DEFAULTS if defaults else []) + list(clauses)},
            "page": 0,
            "pageSize": 1000,
            "resource": "items",
        }
    )


def payload(
    dataset, recipe, name="task-1", q=None, workload=(("bob@example.com", 50), ("carol@example.com", 50)), **extra
):
    body = {
        "name": name,
        "query": q or query(),
        "taskOwner": "alice@example.com",
        "spec": {"type": "annotation"},
        "datasetId": api_id("dataset", dataset.pk),
        "projectId": api_id("project", dataset.project_id),
        "assignmentIds": [],
        "recipeId": api_id("recipe", recipe.pk),
        "dueDate": in_days(30).timestamp() * 1000 + 0.25,
        "asynced": True,
        "priority": 2,
    }
    if workload is not None:
        body["workload"] = [{"assigneeId": a, "load": load} for a, load in workload]
    body.update(extra)
    return body


@pytest.fixture
def people(manager, annotator, annotator2):
    return manager, annotator, annotator2


def create(api_user, body):
    response = api_user.post("/api/v1/annotationtasks", body)
    assert response.status_code == 200, response.content
    command = response.json()
    assert command["status"] == "success"
    assert command["progress"] == 100
    return command


def test_create_a_distribution_task(api, people, dataset, recipe, items):
    user = api(people[0])
    body = payload(dataset, recipe, q=query({"dir": "/city/day"}))
    command = create(user, body)
    assert command["spec"]["createTaskPayload"] == body
    tid = command["spec"]["createdTaskId"]
    task = user.get(f"/api/v1/annotationtasks/{tid}").json()
    assert task["name"] == "task-1"
    assert task["dueDate"] == body["dueDate"]
    assert task["query"] == body["query"]
    assert task["creator"] == "alice@example.com"
    assert task["taskOwner"] == "alice@example.com"
    assert task["totalItems"] == 6
    assert task["status"] == "open"
    assert len(task["assignmentIds"]) == 2
    assert {a["action"] for a in task["availableActions"]} == {"completed", "discard"}
    counts = {a.assignee.email: a.item_count for a in Assignment.objects.filter(task__name="task-1")}
    assert counts == {"bob@example.com": 3, "carol@example.com": 3}
    command_id = command["id"]
    assert user.get(f"/api/v1/commands/{command_id}").json()["status"] == "success"


def test_items_show_their_task_refs(api, people, dataset, recipe, items):
    user = api(people[0])
    tid = create(user, payload(dataset, recipe, q=query({"dir": "/highway"})))["spec"]["createdTaskId"]
    page = user.post(
        f"/api/v1/datasets/{api_id('dataset', dataset.pk)}/query",
        {"filter": {"$and": [{"metadata.system.refs.id": {"$in": [tid]}}]}, "page": 0, "pageSize": 100},
    ).json()
    assert page["totalItemsCount"] == 4
    refs = page["items"][0]["metadata"]["system"]["refs"]
    assert {r["type"] for r in refs} == {"task", "assignment"}
    assert refs[0]["id"] == tid


def test_create_qa_task_with_parent_items_that_have_a_status(api, people, dataset, recipe, items):
    manager, bob, _ = people
    user = api(manager)
    tid = create(user, payload(dataset, recipe, q=query({"dir": "/city/day"})))["spec"]["createdTaskId"]
    task = AnnotationTask.objects.get(name="task-1")
    held = TaskItem.objects.filter(task=task, assignment__assignee=bob).select_related("item")[:2]
    ids = [api_id("item", row.item_id) for row in held]
    response = api(bob).post(
        f"/api/v1/assignments/items/tasks/{tid}/status",
        {"itemIds": ids, "statusPayload": {"operation": "create", "returnLastStatus": True, "status": "completed"}},
    )
    assert response.status_code == 200
    assert set(response.json()) == set(ids)
    match = {
        "metadata.system.refs": {"$match": {"id": tid, "type": "task", "metadata": {"status": {"$exists": True}}}}
    }
    body = payload(dataset, recipe, name="task-1_qa", q=query(match), spec={"type": "qa", "parentTaskId": tid})
    qa_id = create(user, body)["spec"]["createdTaskId"]
    qa = user.get(f"/api/v1/annotationtasks/{qa_id}").json()
    assert qa["spec"] == {"type": "qa", "parentTaskId": tid}
    assert qa["totalItems"] == 2
    assert task.qa_tasks.count() == 1


def test_create_a_pulling_task(api, people, dataset, recipe, items):
    user = api(people[0])
    system = {"allowedAssignees": ["bob@example.com", "carol@example.com"], "batchSize": 3, "maxBatchWorkload": 5}
    body = payload(dataset, recipe, workload=None, metadata={"system": {**system, "scoring": False}})
    tid = create(user, body)["spec"]["createdTaskId"]
    task = user.get(f"/api/v1/annotationtasks/{tid}").json()
    assert task["metadata"]["system"]["batchSize"] == 3
    assert task["metadata"]["system"]["maxBatchWorkload"] == 5
    assert sorted(task["metadata"]["system"]["allowedAssignees"]) == ["bob@example.com", "carol@example.com"]
    work = Assignment.objects.filter(task_id=AnnotationTask.objects.get(name="task-1").pk, kind=AssignmentKind.WORK)
    assert sorted(a.item_count for a in work) == [3, 3]


def test_create_a_consensus_task(api, people, dataset, recipe, items):
    user = api(people[0])
    body = payload(
        dataset,
        recipe,
        q=query({"dir": "/highway"}),
        metadata={
            "system": {
                "allowedAssignees": ["bob@example.com", "carol@example.com"],
                "consensusPercentage": 100,
                "consensusAssignees": 2,
                "scoring": False,
            }
        },
    )
    tid = create(user, body)["spec"]["createdTaskId"]
    task = user.get(f"/api/v1/annotationtasks/{tid}").json()
    assert task["metadata"]["system"]["consensusPercentage"] == 100
    assert task["metadata"]["system"]["consensusAssignees"] == 2
    assert "consensusAssignmentId" in task["metadata"]["system"]
    rows = TaskItem.objects.filter(task__name="task-1")
    assert rows.filter(copy__gt=0).count() == 8


def test_add_items_and_remove_items(api, people, dataset, recipe, items):
    user = api(people[0])
    tid = create(user, payload(dataset, recipe, q=query({"dir": "/highway"})))["spec"]["createdTaskId"]
    add = {
        "query": query({"metadata.system.refs": []}),
        "workload": [{"assigneeId": "bob@example.com", "load": 50}, {"assigneeId": "carol@example.com", "load": 50}],
        "asynced": True,
    }
    response = user.post(f"/api/v1/annotationtasks/{tid}/addToTask", add)
    assert response.status_code == 200, response.content
    command = response.json()
    assert command["status"] == "success"
    assert command["spec"]["addToTaskPayload"] == add
    assert TaskItem.objects.filter(task__name="task-1").count() == 14
    remove = {"query": query({"dir": "/city/night"}), "asynced": True}
    command = user.post(f"/api/v1/annotationtasks/{tid}/removeFromTask", remove).json()
    assert command["spec"]["removeFromTaskId"] == tid
    assert command["spec"]["removeItemsCount"] == 4
    assert TaskItem.objects.filter(task__name="task-1").count() == 10


def test_task_query_update_and_delete(api, people, dataset, recipe, items):
    user = api(people[0])
    tid = create(user, payload(dataset, recipe))["spec"]["createdTaskId"]
    pid = api_id("project", dataset.project_id)
    page = user.post(
        "/api/v1/annotationtasks/query",
        {
            "filter": {"$and": [{"name": "task-1"}, {"projectId": pid}]},
            "page": 0,
            "pageSize": 1000,
            "resource": "tasks",
            "context": {"projectIds": [pid]},
        },
    ).json()
    assert [t["id"] for t in page["items"]] == [tid]
    task = page["items"][0]
    due = in_days(40).timestamp() * 1000
    task.update({"name": "renamed", "priority": 3, "taskOwner": "bob@example.com", "dueDate": due})
    updated = user.patch(f"/api/v1/annotationtasks/{tid}", task)
    assert updated.status_code == 200, updated.content
    body = updated.json()
    assert (body["name"], body["priority"], body["taskOwner"], body["dueDate"]) == (
        "renamed",
        3,
        "bob@example.com",
        due,
    )
    command = user.delete(f"/api/v1/annotationtasks/{tid}", {"asynced": True}).json()
    assert command["spec"]["deleteTaskId"] == tid
    assert not AnnotationTask.objects.filter(name="renamed").exists()
    assert user.get(f"/api/v1/annotationtasks/{tid}").status_code == 404


def test_assignments_list_get_reassign_redistribute(api, people, dataset, recipe, items, annotator3):
    manager, bob, carol = people
    user = api(manager)
    tid = create(user, payload(dataset, recipe))["spec"]["createdTaskId"]
    pid = api_id("project", dataset.project_id)
    page = user.get("/api/v1/assignments", projects=pid, taskId=tid, pageSize=500).json()
    assert sorted(a["annotator"] for a in page["items"]) == ["bob@example.com", "carol@example.com"]
    bobs = next(a for a in page["items"] if a["annotator"] == "bob@example.com")
    assert bobs["metadata"]["system"]["taskId"] == tid
    assert user.get(f"/api/v1/assignments/{bobs['id']}").json()["totalItems"] == 7
    command = user.post(
        f"/api/v1/assignments/{bobs['id']}/reassign", {"taskId": tid, "annotator": "dave@example.com", "asynced": True}
    ).json()
    daves = user.get(f"/api/v1/assignments/{command['spec']['toAssignment']}").json()
    assert daves["annotator"] == "dave@example.com"
    assert daves["totalItems"] == 7
    workload = [{"assigneeId": "bob@example.com", "load": 50}, {"assigneeId": "carol@example.com", "load": 50}]
    command = user.post(
        f"/api/v1/assignments/{daves['id']}/redistribute", {"taskId": tid, "workload": workload, "asynced": True}
    ).json()
    assert command["status"] == "success"
    totals = {a["annotator"]: a["totalItems"] for a in user.get("/api/v1/assignments", taskId=tid).json()["items"]}
    assert totals == {"bob@example.com": 4, "carol@example.com": 10, "dave@example.com": 0}


def test_assignment_item_status_set_and_clear(api, people, dataset, recipe, items):
    manager, bob, _ = people
    tid = create(api(manager), payload(dataset, recipe))["spec"]["createdTaskId"]
    row = TaskItem.objects.filter(task__name="task-1", assignment__assignee=bob).first()
    aid, iid = api_id("assignment", row.assignment_id), api_id("item", row.item_id)
    path = f"/api/v1/assignments/{aid}/items/{iid}/status"
    assert api(bob).post(path, {"operation": "create", "status": "completed"}).status_code == 200
    row.refresh_from_db()
    assert row.status == "completed"
    item = api(bob).get(f"/api/v1/items/{iid}").json()
    assert {"type": "task", "id": tid, "metadata": {"status": "completed"}} in item["metadata"]["system"]["refs"]
    assert api(bob).post(path, {"operation": "delete", "status": "completed"}).status_code == 200
    row.refresh_from_db()
    assert row.status is None
    assert api(bob).post(path, {"operation": "create", "status": "nonsense"}).status_code == 400
    assert api(bob).post(path, {"operation": "explode", "status": "completed"}).status_code == 400


def test_workers_see_only_their_own_assignments(api, people, dataset, recipe, items):
    manager, bob, _ = people
    tid = create(api(manager), payload(dataset, recipe))["spec"]["createdTaskId"]
    mine = api(bob).get("/api/v1/assignments", taskId=tid).json()["items"]
    assert [a["annotator"] for a in mine] == ["bob@example.com"]
    assert api(bob).post("/api/v1/annotationtasks", payload(dataset, recipe, name="x")).status_code == 403


def test_foreign_objects_are_404(api, people, other_manager, dataset, recipe, items):
    manager = people[0]
    command = create(api(manager), payload(dataset, recipe))
    tid = command["spec"]["createdTaskId"]
    mallory = api(other_manager)
    assert mallory.get(f"/api/v1/annotationtasks/{tid}").status_code == 404
    assert mallory.post(f"/api/v1/annotationtasks/{tid}/addToTask", {"query": query()}).status_code == 404
    assert mallory.get(f"/api/v1/commands/{command['id']}").status_code == 404
    assert mallory.get("/api/v1/assignments", taskId=tid).json()["items"] == []
    aid = Assignment.objects.filter(task__name="task-1").first().pk
    assert mallory.get(f"/api/v1/assignments/{api_id('assignment', aid)}").status_code == 404
    assert mallory.post("/api/v1/annotationtasks", payload(dataset, recipe, name="m")).status_code == 404


@pytest.mark.parametrize(
    "change, field",
    [
        ({"name": ""}, "name"),
        ({"datasetId": None}, "datasetId"),
        ({"query": None}, "query"),
        ({"query": '{"filter": {"$and": [{"name": "O"Brien"}]}}'}, "query"),
        ({"query": '{"filter": {"$and": [{"secret": 1}]}}'}, "secret"),
        ({"query": '{"filter": {"$and": [{"dir": {"$regex": 1}}]}}'}, "$regex"),
        ({"spec": {"type": "review"}}, "spec.type"),
        ({"spec": {"type": "qa"}}, "parentTaskId"),
        ({"recipeId": "0" * 24}, "recipeId"),
        ({"dueDate": "tomorrow"}, "dueDate"),
        ({"priority": 5}, "priority"),
        (
            {
                "workload": [
                    {"assigneeId": "bob@example.com", "load": 60},
                    {"assigneeId": "carol@example.com", "load": 60},
                ]
            },
            "workload",
        ),
        (
            {
                "workload": [
                    {"assigneeId": "bob@example.com", "load": -1},
                    {"assigneeId": "carol@example.com", "load": 101},
                ]
            },
            "workload",
        ),
        (
            {
                "workload": [
                    {"assigneeId": "bob@example.com", "load": 50},
                    {"assigneeId": "bob@example.com", "load": 50},
                ]
            },
            "workload",
        ),
        ({"workload": [{"assigneeId": "nobody@example.com", "load": 100}]}, "workload"),
        ({"workload": []}, "workload"),
        ({"metadata": {"system": {"batchSize": 2, "maxBatchWorkload": 4}}}, "batch"),
        ({"metadata": {"system": {"batchSize": 10, "maxBatchWorkload": 11}}}, "batch"),
        ({"metadata": {"system": {"batchSize": 10}}}, "batch"),
        ({"metadata": {"system": {"batchSize": 10, "maxBatchWorkload": 15, "consensusPercentage": 50}}}, "pulling"),
        ({"metadata": {"system": {"consensusPercentage": 150, "consensusAssignees": 2}}}, "consensus"),
        ({"metadata": {"system": {"consensusPercentage": 50, "consensusAssignees": 3}}}, "consensus"),
        ({"limit": 0}, "limit"),
        ({"availableActions": [{"action": ""}]}, "availableActions"),
        ({"availableActions": [{"action": "a"}, {"action": "a"}]}, "availableActions"),
        ({"query": json.dumps({"filter": {"$and": [{"dir": "/nowhere"}]}})}, "selection"),
    ],
)
def test_bad_task_bodies_are_400_naming_the_field(api, people, dataset, recipe, items, change, field):
    body = payload(dataset, recipe)
    body.update(change)
    response = api(people[0]).post("/api/v1/annotationtasks", body)
    assert response.status_code == 400, response.content
    assert field.lower() in response.json()["message"].lower()
    assert not AnnotationTask.objects.exists()


def test_duplicate_task_name_is_a_conflict(api, people, dataset, recipe, items):
    user = api(people[0])
    create(user, payload(dataset, recipe))
    response = user.post("/api/v1/annotationtasks", payload(dataset, recipe))
    assert response.status_code == 409
    assert "name" in response.json()["message"]


def test_status_bodies_are_checked(api, people, dataset, recipe, items):
    tid = create(api(people[0]), payload(dataset, recipe))["spec"]["createdTaskId"]
    path = f"/api/v1/assignments/items/tasks/{tid}/status"
    user = api(people[1])
    assert (
        user.post(path, {"itemIds": [], "statusPayload": {"operation": "create", "status": "completed"}}).status_code
        == 400
    )
    assert (
        user.post(path, {"itemIds": ["x"], "statusPayload": {"operation": "nope", "status": "completed"}}).status_code
        == 400
    )
    assert (
        user.post(path, {"itemIds": ["x"], "statusPayload": {"operation": "create", "status": "zzz"}}).status_code
        == 400
    )


def test_add_items_to_a_deleted_task_is_404(api, people, dataset, recipe, items):
    user = api(people[0])
    tid = create(user, payload(dataset, recipe))["spec"]["createdTaskId"]
    user.delete(f"/api/v1/annotationtasks/{tid}")
    assert user.post(f"/api/v1/annotationtasks/{tid}/addToTask", {"query": query()}).status_code == 404


def test_redistribute_loads_must_sum_to_100(api, people, dataset, recipe, items):
    user = api(people[0])
    tid = create(user, payload(dataset, recipe))["spec"]["createdTaskId"]
    aid = user.get("/api/v1/assignments", taskId=tid).json()["items"][0]["id"]
    bad = [{"assigneeId": "bob@example.com", "load": 60}, {"assigneeId": "carol@example.com", "load": 60}]
    response = user.post(f"/api/v1/assignments/{aid}/redistribute", {"taskId": tid, "workload": bad})
    assert response.status_code == 400


def test_a_large_selection_is_created_by_a_job_the_sdk_polls(
    api, people, dataset, recipe, items, settings, django_capture_on_commit_callbacks
):
    settings.TASK_JOB_THRESHOLD = 5
    user = api(people[0])
    body = payload(dataset, recipe)
    with django_capture_on_commit_callbacks(execute=True):
        response = user.post("/api/v1/annotationtasks", body)
    command = response.json()
    assert response.status_code == 200
    assert command["status"] == "created"  # queued when answered; the job ran after the commit
    assert isinstance(command["progress"], int | float)
    polled = user.get(f"/api/v1/commands/{command['id']}").json()
    assert polled["status"] == "success"
    assert polled["progress"] == 100
    task = user.get(f"/api/v1/annotationtasks/{polled['spec']['createdTaskId']}").json()
    assert task["totalItems"] == 14
    assert task["query"] == body["query"]
    assert task["dueDate"] == body["dueDate"]


def test_a_task_list_costs_the_same_queries_for_one_or_many_tasks(api, people, dataset, recipe, items):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    user = api(people[0])
    pid = api_id("project", dataset.project_id)
    body = {"filter": {"$and": [{"projectId": pid}]}, "page": 0, "pageSize": 100, "context": {"projectIds": [pid]}}
    counts = []
    for n in range(1, 5):
        create(user, payload(dataset, recipe, name=f"t{n}"))
        with CaptureQueriesContext(connection) as ctx:
            page = user.post("/api/v1/annotationtasks/query", body).json()
        assert len(page["items"]) == n
        counts.append(len(ctx))
    assert counts[1] == counts[2] == counts[3]


def test_check_if_exist_answers_the_existing_task(api, people, dataset, recipe, items):
    user = api(people[0])
    tid = create(user, payload(dataset, recipe))["spec"]["createdTaskId"]
    check = {"query": {"filter": {"$and": [{"name": "task-1"}]}, "page": 0, "pageSize": 1000, "resource": "tasks"}}
    response = user.post("/api/v1/annotationtasks", payload(dataset, recipe, checkIfExist=check))
    assert response.status_code == 200
    assert response.json()["id"] == tid
    assert response.json()["name"] == "task-1"
    assert AnnotationTask.objects.count() == 1


def test_project_names_with_a_slash(api, manager, project):
    project.name = "Street/2026"
    project.save()
    assert api(manager).get("/api/v1/projects/Street%2F2026/name").json()[0]["name"] == "Street/2026"


def test_workers_set_statuses_only_on_items_they_hold(api, people, dataset, recipe, items):
    manager, bob, carol = people
    tid = create(api(manager), payload(dataset, recipe))["spec"]["createdTaskId"]
    carols = TaskItem.objects.filter(task__name="task-1", assignment__assignee=carol).first()
    aid, iid = api_id("assignment", carols.assignment_id), api_id("item", carols.item_id)
    # Bob cannot see Carol's assignment at all, and the task-wide route skips her item.
    assert api(bob).post(f"/api/v1/assignments/{aid}/items/{iid}/status", {"status": "completed"}).status_code == 404
    response = api(bob).post(
        f"/api/v1/assignments/items/tasks/{tid}/status",
        {"itemIds": [iid], "statusPayload": {"operation": "create", "status": "completed"}},
    )
    assert response.status_code == 200
    assert response.json() == {}
    carols.refresh_from_db()
    assert carols.status is None


def _statuses(task_name):
    return list(TaskItem.objects.filter(task__name=task_name).order_by("pk").values_list("pk", "status", "status_by"))


def test_a_manager_may_not_set_or_clear_an_assignees_status_on_the_task_route(api, people, dataset, recipe, items):
    manager, bob, _ = people
    tid = create(api(manager), payload(dataset, recipe))["spec"]["createdTaskId"]
    bobs = TaskItem.objects.filter(task__name="task-1", assignment__assignee=bob).order_by("rank")[:2]
    ids = [api_id("item", row.item_id) for row in bobs]
    path = f"/api/v1/assignments/items/tasks/{tid}/status"
    done = api(bob).post(path, {"itemIds": ids[:1], "statusPayload": {"operation": "create", "status": "completed"}})
    assert done.status_code == 200 and set(done.json()) == set(ids[:1])
    before = _statuses("task-1")
    for operation in ("create", "delete"):
        body = {"itemIds": ids, "statusPayload": {"operation": operation, "status": "completed"}}
        response = api(manager).post(path, body)
        assert response.status_code == 403, response.content
        message = response.json()["message"]
        assert "Only the assignee" in message and manager.email in message and ids[0] in message
    assert _statuses("task-1") == before


def test_a_manager_may_not_set_or_clear_an_assignees_status_on_the_assignment_route(
    api, people, dataset, recipe, items
):
    manager, bob, _ = people
    create(api(manager), payload(dataset, recipe))
    row = TaskItem.objects.filter(task__name="task-1", assignment__assignee=bob).first()
    path = f"/api/v1/assignments/{api_id('assignment', row.assignment_id)}/items/{api_id('item', row.item_id)}/status"
    response = api(manager).post(path, {"operation": "create", "status": "completed"})
    assert response.status_code == 403, response.content
    assert "Only the assignee" in response.json()["message"]
    row.refresh_from_db()
    assert row.status is None
    assert api(bob).post(path, {"operation": "create", "status": "discard"}).status_code == 200
    before = _statuses("task-1")
    response = api(manager).post(path, {"operation": "delete", "status": "discard"})
    assert response.status_code == 403, response.content
    assert _statuses("task-1") == before
    row.refresh_from_db()
    assert (row.status, row.status_by) == ("discard", bob)


def _as_dtlpy_sends(assignment_json):
    """What dtlpy's Assignment.update() PATCHes: attr.asdict of the entity (snake-case ids) + projectId."""
    system = assignment_json["metadata"]["system"]
    keys = ("name", "annotator", "status", "metadata", "id", "url")
    return {
        **{k: assignment_json[k] for k in keys},
        "task_id": system["taskId"],
        "dataset_id": system["datasetId"],
        "_datasets": None,
        "projectId": assignment_json["projectId"],
    }


def test_assignment_update_applies_annotator_and_refuses_what_taskboard_does_not_keep(
    api, people, dataset, recipe, items, annotator3
):
    manager, bob, _ = people
    user = api(manager)
    tid = create(user, payload(dataset, recipe))["spec"]["createdTaskId"]
    bobs = next(a for a in user.get("/api/v1/assignments", taskId=tid).json()["items"] if a["annotator"] == bob.email)
    path = f"/api/v1/assignments/{bobs['id']}"
    sent = _as_dtlpy_sends(user.get(path).json())
    # The entity as fetched: nothing to change, answered as it is.
    echoed = user.patch(path, sent)
    assert echoed.status_code == 200, echoed.content
    assert echoed.json() == user.get(path).json()
    # Fields Taskboard derives or does not keep: 400 naming each, nothing changes.
    before = _statuses("task-1")
    for changes, named in (
        ({"name": "renamed"}, ["name"]),
        ({"status": "completed", "metadata": {"user": {"x": 1}}}, ["metadata", "status"]),
        ({"task_id": api_id("task", 999)}, ["task_id"]),
        ({"totalItems": 0}, ["totalItems"]),
    ):
        response = user.patch(path, {**sent, **changes})
        assert response.status_code == 400, (changes, response.content)
        message = response.json()["message"]
        assert message.startswith(", ".join(named) + ":"), message
    assert _statuses("task-1") == before
    assert user.get(path).json()["annotator"] == bob.email
    # A worker may not update at all.
    assert api(bob).patch(path, {**sent, "annotator": annotator3.email}).status_code == 403
    # A new annotator is a reassign: the undone items go to that person, whose assignment is answered.
    done = TaskItem.objects.filter(task__name="task-1", assignment__assignee=bob).order_by("rank").first()
    api(bob).post(
        f"/api/v1/assignments/{bobs['id']}/items/{api_id('item', done.item_id)}/status",
        {"operation": "create", "status": "completed"},
    )
    response = user.patch(path, {**sent, "annotator": annotator3.email.upper()})
    assert response.status_code == 200, response.content
    new = response.json()
    assert new["annotator"] == annotator3.email and new["id"] != bobs["id"]
    assert new["totalItems"] == bobs["totalItems"] - 1
    assert user.get(path).json()["totalItems"] == 1
    assert TaskItem.objects.get(pk=done.pk).assignment.assignee == bob
    assert user.patch(path, {**sent, "annotator": "nobody@example.com"}).status_code == 400


def test_an_assignment_emptied_by_a_reassign_leaves_the_list(api, people, dataset, recipe, items, annotator3):
    """Dataloop drops an assignment a reassign emptied; it is not listed with 0 items."""
    manager, bob, carol = people
    user = api(manager)
    tid = create(user, payload(dataset, recipe))["spec"]["createdTaskId"]
    listed = user.get("/api/v1/assignments", taskId=tid).json()["items"]
    bobs = next(a for a in listed if a["annotator"] == "bob@example.com")
    user.post(f"/api/v1/assignments/{bobs['id']}/reassign", {"taskId": tid, "annotator": "dave@example.com"})
    listed = user.get("/api/v1/assignments", taskId=tid).json()["items"]
    assert sorted((a["annotator"], a["totalItems"]) for a in listed) == [
        ("carol@example.com", 7),
        ("dave@example.com", 7),
    ]
    assert bobs["id"] not in user.get("/api/v1/annotationtasks/" + tid).json()["assignmentIds"]
