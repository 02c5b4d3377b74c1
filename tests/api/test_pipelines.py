import datetime
import json
import uuid

import pytest

from taskboard.annotation.models import AnnotationTask
from taskboard.api.ids import api_id
from taskboard.pipelines.models import Node, Pipeline
from tests.factories import in_days

pytestmark = pytest.mark.django_db


def task_node(dataset, recipe, project, *, x=780.0, y=217.5):
    return {
        "name": "My Task",
        "id": str(uuid.uuid4()),
        "type": "task",
        "projectId": api_id("project", project.pk),
        "dpkName": None,
        "appName": None,
        "namespace": {"functionName": "move_to_task", "projectName": "DataloopTasks", "serviceName": "pipeline-utils"},
        "inputs": [
            {
                "portId": str(uuid.uuid4()),
                "type": "Item",
                "name": "item",
                "displayName": "item",
                "color": None,
                "variableName": None,
                "portPercentage": None,
            }
        ],
        "outputs": [
            {
                "portId": str(uuid.uuid4()),
                "type": "Item",
                "name": "item",
                "displayName": "complete",
                "actions": ["complete", "discard"],
                "color": None,
                "variableName": None,
                "portPercentage": None,
            }
        ],
        "metadata": {
            "position": {"x": x, "y": y, "z": 0},
            "datasetId": api_id("dataset", dataset.pk),
            "recipeTitle": recipe.name,
            "recipeId": api_id("recipe", recipe.pk),
            "taskOwner": "alice@example.com",
            "taskType": "annotation",
            "workload": [{"assigneeId": "bob@example.com", "load": 100}],
            "repeatable": True,
            "priority": 2,
            "dueDate": in_days(30).timestamp() * 1000,
        },
    }


@pytest.fixture
def created(api, manager, annotator, project):
    user = api(manager)
    body = {
        "name": "pipe",
        "projectId": api_id("project", project.pk),
        "nodes": [],
        "connections": [],
        "startNodes": [],
        "variables": [],
    }
    response = user.post("/api/v1/pipelines", body)
    assert response.status_code == 200, response.content
    return user, response.json()


def test_create_update_get_install_pause(created, dataset, recipe, project, items):
    user, pipeline = created
    assert pipeline["name"] == "pipe"
    pid = pipeline["id"]
    node = task_node(dataset, recipe, project)
    pipeline.update({"nodes": [node], "startNodes": [{"nodeId": node["id"], "type": "root"}]})
    response = user.patch(f"/api/v1/pipelines/{pid}", pipeline)
    assert response.status_code == 200, response.content
    saved = Node.objects.get(pipeline__name="pipe")
    assert (saved.column, saved.row) == (2, 1)
    assert list(saved.workload.values_list("assignee__email", "load")) == [("bob@example.com", 100)]
    got = user.get(f"/api/v1/pipelines/{pid}").json()
    assert got["nodes"][0]["metadata"]["position"] == {"x": 780.0, "y": 217.5, "z": 0}
    assert user.post(f"/api/v1/pipelines/{pid}/install", {}).status_code == 200
    assert Pipeline.objects.get(name="pipe").state == "installed"
    execution = user.post(
        f"/api/v1/pipelines/{pid}/execute", {"pipeline": {"input": {"item": api_id("item", items[0].pk)}}}
    )
    assert execution.status_code == 200, execution.content
    assert execution.json()["status"] == "success"
    assert user.post(f"/api/v1/pipelines/{pid}/uninstall", {}).status_code == 200
    assert Pipeline.objects.get(name="pipe").state == "paused"


def test_bad_nodes_are_400(created, dataset, recipe, project):
    user, pipeline = created
    node = task_node(dataset, recipe, project)
    del node["metadata"]["position"]
    pipeline["nodes"] = [node]
    response = user.patch(f"/api/v1/pipelines/{pipeline['id']}", pipeline)
    assert response.status_code == 400
    node = task_node(dataset, recipe, project)
    node["metadata"]["workload"] = [{"assigneeId": "bob@example.com", "load": 60}]
    pipeline["nodes"] = [node]
    assert user.patch(f"/api/v1/pipelines/{pipeline['id']}", pipeline).status_code == 400


def test_duplicate_pipeline_name_is_a_conflict(created, project):
    user, _ = created
    response = user.post("/api/v1/pipelines", {"name": "pipe", "projectId": api_id("project", project.pk)})
    assert response.status_code == 409


def test_foreign_pipelines_are_404(created, api, other_manager, project):
    _, pipeline = created
    mallory = api(other_manager)
    assert mallory.get(f"/api/v1/pipelines/{pipeline['id']}").status_code == 404
    assert (
        mallory.post("/api/v1/pipelines", {"name": "x", "projectId": api_id("project", project.pk)}).status_code == 404
    )


def two_nodes(dataset, recipe, project):
    """A task node and a QA node with a `complete` connection between them, as dtlpy sends them."""
    first = task_node(dataset, recipe, project)
    second = task_node(dataset, recipe, project, x=1120.0)
    second["name"] = "Review"
    second["metadata"]["taskType"] = "qa"
    second["outputs"][0]["actions"] = ["approve", "discard"]
    connection = {
        "src": {"nodeId": first["id"], "portId": first["outputs"][0]["portId"]},
        "tgt": {"nodeId": second["id"], "portId": second["inputs"][0]["portId"]},
        "action": "complete",
    }
    return first, second, connection


@pytest.mark.parametrize(
    "breaks, field",
    [
        (lambda first, second, c: first.update(name=123), "nodes[0].name"),
        (lambda first, second, c: first.update(name=["My Task"]), "nodes[0].name"),
        (lambda first, second, c: c.update(action=["complete"]), "connections[0].action"),
        (lambda first, second, c: c.update(action={"a": 1}), "connections[0].action"),
        (lambda first, second, c: c["src"].update(nodeId=[first["id"]]), "connections[0].src.nodeId"),
        (lambda first, second, c: c["tgt"].update(nodeId={"id": second["id"]}), "connections[0].tgt.nodeId"),
        (lambda first, second, c: first.update(type="storage") or first["metadata"].update(dir=5), "metadata.dir"),
        (lambda first, second, c: first.update(outputs={"0": {}}), "nodes[0].outputs"),
        (lambda first, second, c: first.update(inputs="item"), "nodes[0].inputs"),
        (lambda first, second, c: first["metadata"].update(taskType=["qa"]), "nodes[0].metadata.taskType"),
        (lambda first, second, c: first.update(type=["task"]), "nodes[0].type"),
        (lambda first, second, c: first["metadata"].update(priority=[2]), "nodes[0].metadata.priority"),
        (lambda first, second, c: first["metadata"].update(batchSize="5", maxBatchWorkload=7), "batchSize"),
        (lambda first, second, c: first["metadata"].update(workload={"assigneeId": "x"}), "workload"),
        (lambda first, second, c: first["metadata"].update(workload=[{"assigneeId": ["bob"]}]), "workload"),
        (
            lambda first, second, c: first["metadata"].update(
                workload=[{"assigneeId": "bob@example.com", "load": "x"}]
            ),
            "workload",
        ),
        (lambda first, second, c: c.update(rework="yes"), "connections[0].rework"),
    ],
)
def test_malformed_pipeline_json_is_400_naming_the_field(created, dataset, recipe, project, breaks, field):
    user, pipeline = created
    first, second, connection = two_nodes(dataset, recipe, project)
    breaks(first, second, connection)
    pipeline.update({"nodes": [first, second], "connections": [connection]})
    response = user.patch(f"/api/v1/pipelines/{pipeline['id']}", pipeline)
    assert response.status_code == 400, response.content
    assert field in response.json()["message"]
    assert not Node.objects.filter(pipeline__name="pipe").exists()


@pytest.mark.parametrize(
    "body, field",
    [
        ({"startNodes": 5}, "startNodes"),
        ({"startNodes": ["x"]}, "startNodes"),
        ({"name": ["pipe"]}, "name"),
        ({"description": 7}, "description"),
        ({"projectId": ["p"]}, "projectId"),
    ],
)
def test_malformed_pipeline_fields_are_400(created, body, field):
    user, pipeline = created
    pipeline.update(body)
    response = user.patch(f"/api/v1/pipelines/{pipeline['id']}", pipeline)
    assert response.status_code == 400, response.content
    assert field in response.json()["message"]
    assert Pipeline.objects.get(pk=Pipeline.objects.get(name="pipe").pk).extra.get("startNodes") in (None, [])


def test_a_valid_connection_from_the_sdk_is_saved(created, dataset, recipe, project):
    user, pipeline = created
    first, second, connection = two_nodes(dataset, recipe, project)
    pipeline.update({"nodes": [first, second], "connections": [connection]})
    response = user.patch(f"/api/v1/pipelines/{pipeline['id']}", pipeline)
    assert response.status_code == 200, response.content
    assert response.json()["connections"][0]["action"] == "complete"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"pipeline": {"input": "item"}}, "pipeline.input"),
        ({"pipeline": {"input": ["item"]}}, "pipeline.input"),
        ({"pipeline": {"input": {"item": 5}}}, "pipeline.input.item"),
        ({"pipeline": {"input": {"item": {"id": ["x"]}}}}, "pipeline.input.item"),
        ({"pipeline": "run"}, "pipeline"),
        ({"batch": {"query": 5}}, "batch.query"),
        ({"batch": {"query": {"filter": {"dir": {"$bad": 1}}}}}, "batch.query"),
        ({"batch": "all"}, "batch"),
    ],
)
def test_malformed_executions_are_400(created, dataset, recipe, project, items, body, field):
    user, pipeline = created
    node = task_node(dataset, recipe, project)
    pipeline.update({"nodes": [node], "startNodes": [{"nodeId": node["id"], "type": "root"}]})
    assert user.patch(f"/api/v1/pipelines/{pipeline['id']}", pipeline).status_code == 200
    assert user.post(f"/api/v1/pipelines/{pipeline['id']}/install", {}).status_code == 200
    response = user.post(f"/api/v1/pipelines/{pipeline['id']}/execute", body)
    assert response.status_code == 400, response.content
    assert field in response.json()["message"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"context": {"projects": 5}}, "context.projects"),
        ({"context": {"projects": [["p"]]}}, "context.projects"),
        ({"context": "projects"}, "context"),
        ({"filter": {"name": ["pipe"]}}, ""),
        ({"filter": 5}, ""),
        ({"page": "x"}, ""),
    ],
)
def test_malformed_pipeline_queries_are_400(created, body, field):
    user, _ = created
    response = user.post("/api/v1/pipelines/query", body)
    assert response.status_code == 400, response.content
    assert field in response.json()["message"]


def test_a_big_batch_execution_is_a_command_that_follows_its_job(
    created, dataset, recipe, project, items, settings, django_capture_on_commit_callbacks
):
    settings.TASK_JOB_THRESHOLD = 5
    user, pipeline = created
    node = task_node(dataset, recipe, project)
    pipeline.update({"nodes": [node], "startNodes": [{"nodeId": node["id"], "type": "root"}]})
    assert user.patch(f"/api/v1/pipelines/{pipeline['id']}", pipeline).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        assert user.post(f"/api/v1/pipelines/{pipeline['id']}/install", {}).status_code == 200
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = user.post(
            f"/api/v1/pipelines/{pipeline['id']}/execute", {"batch": {"query": {"filter": {"dir": "/city/*"}}}}
        )
    assert response.status_code == 200, response.content
    command = response.json()
    assert command["status"] == "created" and command["spec"]["entering"] == 10
    for callback in callbacks:
        callback()
    done = user.get(f"/api/v1/commands/{command['id']}").json()
    assert (done["status"], done["progress"]) == ("success", 100)
    assert Node.objects.get(pipeline__name="pipe").task.task_items.count() == 10


# A pipeline saved through the API (dtlpy's `pipeline.update()`) makes and updates its task nodes' tasks
# as install does, names them as Dataloop does, and puts no internal integer id on the wire.
def _integer_ids(value, path=""):
    """Every key that names an id (`id`, `…Id`, `…_id`) and holds a number or a digit string."""
    found = []
    if isinstance(value, dict):
        for key, inner in value.items():
            where = f"{path}.{key}" if path else key
            names_id = key == "id" or key.endswith("Id") or key.endswith("_id") or key in ("pipeline", "node", "task")
            number = isinstance(inner, int) and not isinstance(inner, bool)
            if names_id and (number or isinstance(inner, str) and inner.isdigit() and len(inner) != 24):
                found.append(where)
            found += _integer_ids(inner, where)
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            found += _integer_ids(inner, f"{path}[{i}]")
    return found


def _save_with_node(user, pipeline, node):
    pipeline.update({"nodes": [node], "startNodes": [{"nodeId": node["id"], "type": "root"}]})
    response = user.patch(f"/api/v1/pipelines/{pipeline['id']}", pipeline)
    assert response.status_code == 200, response.content
    return response.json()


def test_update_makes_the_node_task_named_as_dataloop_names_it(created, dataset, recipe, project):
    user, pipeline = created
    node = task_node(dataset, recipe, project)
    _save_with_node(user, pipeline, node)
    saved = Node.objects.get(node_uid=node["id"])
    assert saved.task is not None
    assert saved.task.name == "My Task (pipe)"
    assert list(saved.task.assignments.values_list("assignee__email", flat=True)) == ["bob@example.com"]
    # Installing reuses it: one task per node.
    assert user.post(f"/api/v1/pipelines/{pipeline['id']}/install", {}).status_code == 200
    assert AnnotationTask.objects.filter(name="My Task (pipe)").count() == 1


def test_update_passes_node_changes_on_to_its_task(created, dataset, recipe, project):
    user, pipeline = created
    node = task_node(dataset, recipe, project)
    answered = _save_with_node(user, pipeline, node)
    due = datetime.datetime(2031, 3, 1, tzinfo=datetime.UTC)
    node = answered["nodes"][0]
    node["metadata"]["priority"] = 3
    node["metadata"]["dueDate"] = due.timestamp() * 1000
    node["metadata"]["taskOwner"] = "bob@example.com"
    response = user.patch(f"/api/v1/pipelines/{pipeline['id']}", answered)
    assert response.status_code == 200, response.content
    task = Node.objects.get(node_uid=node["id"]).task
    assert (task.priority, task.due_at, task.owner.email) == (3, due, "bob@example.com")


def test_a_node_whose_task_cannot_be_made_is_refused_naming_it(created, dataset, recipe, project):
    user, pipeline = created
    node = task_node(dataset, recipe, project)
    node["metadata"]["dueDate"] = datetime.datetime(2001, 1, 1, tzinfo=datetime.UTC).timestamp() * 1000
    pipeline.update({"nodes": [node]})
    response = user.patch(f"/api/v1/pipelines/{pipeline['id']}", pipeline)
    assert response.status_code == 400, response.content
    assert "My Task" in response.json()["message"]
    assert not Node.objects.filter(node_uid=node["id"]).exists()


def test_no_integer_id_on_the_wire(created, dataset, recipe, project, items):
    user, pipeline = created
    node = task_node(dataset, recipe, project)
    _save_with_node(user, pipeline, node)
    pid = pipeline["id"]
    assert user.post(f"/api/v1/pipelines/{pid}/install", {}).status_code == 200
    execution = user.post(
        f"/api/v1/pipelines/{pid}/execute", {"pipeline": {"input": {"item": api_id("item", items[0].pk)}}}
    )
    task = Node.objects.get(node_uid=node["id"]).task
    answers = {
        "pipeline": user.get(f"/api/v1/pipelines/{pid}").json(),
        "query": user.post("/api/v1/pipelines/query", {"filter": {}}).json(),
        "execution": execution.json(),
        "task": user.get(f"/api/v1/annotationtasks/{api_id('task', task.pk)}").json(),
    }
    assert _integer_ids(answers) == [], json.dumps(answers)[:3000]
