import uuid

import pytest

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
