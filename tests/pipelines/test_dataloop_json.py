"""The SDK's pipeline JSON (docs/api.md) survives save → to_json, and bad JSON names its field."""

import copy
import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError

from taskboard.datasets.ids import api_id
from taskboard.pipelines import dataloop, editing
from taskboard.pipelines.models import Connection, NodeKind
from tests.factories import in_days


def task_node(dataset, recipe, owner, assignee, **metadata):
    node = {
        "name": "My Task",
        "id": "7c1f6f0e-5b7a-4a53-9d0b-1f2e3d4c5b6a",
        "type": "task",
        "projectId": api_id("project", dataset.project_id),
        "dpkName": None,
        "appName": None,
        "namespace": {"functionName": "move_to_task", "projectName": "DataloopTasks", "serviceName": "pipeline-utils"},
        "inputs": [
            {
                "portId": "0b6f6a52-3c86-4b57-9d53-5b8f4f1b2e01",
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
                "portId": "5d9b0c1e-6a0e-4d8e-8f0a-3c2b1a0f9e02",
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
            "position": {"x": 780.0, "y": 217.5, "z": 0},
            "datasetId": api_id("dataset", dataset.pk),
            "recipeTitle": "default recipe",
            "recipeId": api_id("recipe", recipe.pk),
            "taskOwner": owner.email,
            "taskType": "annotation",
            "workload": [{"assigneeId": assignee.email, "load": 100}],
            "repeatable": True,
            "priority": 2,
            "dueDate": 1896344441851.75,
        },
    }
    node["metadata"].update(metadata)
    return node


@pytest.fixture
def pipeline(project, manager):
    return editing.pipeline_create(project=project, name="pipeline-faas-example-dataset", by=manager)


@pytest.fixture
def seed_json(pipeline, dataset, recipe, manager, annotator):
    node = task_node(dataset, recipe, manager, annotator)
    return {
        "id": api_id("pipeline", pipeline.pk),
        "name": pipeline.name,
        "creator": manager.email,
        "status": "Created",
        "projectId": api_id("project", pipeline.project_id),
        "startNodes": [{"nodeId": node["id"], "type": "root"}],
        "orgId": None,
        "compositionId": None,
        "nodes": [node],
        "connections": [],
        "url": "http://testserver/api/v1/pipelines/x",
    }


def test_the_seed_task_node_survives_save_and_to_json(pipeline, seed_json, manager, annotator, recipe):
    sent = copy.deepcopy(seed_json)
    dataloop.pipeline_save_from_dataloop_json(pipeline=pipeline, data=sent, by=manager)
    node = pipeline.nodes.get()
    assert (node.kind, node.name, node.column, node.row) == (NodeKind.ANNOTATION, "My Task", 2, 1)
    assert node.recipe == recipe and node.owner == manager
    assert [(w.assignee, w.load) for w in node.workload.all()] == [(annotator, 100)]
    assert node.due_at.year == 2030
    back = dataloop.pipeline_to_dataloop_json(pipeline)
    assert back["nodes"] == seed_json["nodes"]
    assert back["startNodes"] == seed_json["startNodes"]
    assert back["compositionId"] is None
    assert (back["name"], back["status"], back["connections"]) == (pipeline.name, "Created", [])
    # Saving what came back changes nothing.
    dataloop.pipeline_save_from_dataloop_json(pipeline=pipeline, data=back, by=manager)
    assert dataloop.pipeline_to_dataloop_json(pipeline)["nodes"] == seed_json["nodes"]
    assert pipeline.nodes.get().pk == node.pk


def test_an_editor_move_rewrites_the_position_and_keeps_the_rest(pipeline, seed_json, manager):
    dataloop.pipeline_save_from_dataloop_json(pipeline=pipeline, data=seed_json, by=manager)
    editing.node_move(node=pipeline.nodes.get(), column=3, row=2, by=manager)
    node = dataloop.pipeline_to_dataloop_json(pipeline)["nodes"][0]
    assert node["metadata"]["position"] == {"x": 1120.0, "y": 348.0, "z": 0}
    assert node["outputs"] == seed_json["nodes"][0]["outputs"]
    assert node["metadata"]["dueDate"] == seed_json["nodes"][0]["metadata"]["dueDate"]


def test_a_three_node_pipeline_round_trips_with_its_connections(
    pipeline, seed_json, dataset, recipe, manager, reviewer
):
    storage = {
        "name": "Street",
        "id": "11111111-2222-4333-8444-555555555555",
        "type": "storage",
        "projectId": seed_json["projectId"],
        "namespace": {
            "functionName": "dataset_handler",
            "projectName": "DataloopTasks",
            "serviceName": "pipeline-utils",
        },
        "inputs": [{"portId": "in-s", "type": "Item", "name": "item", "displayName": "item"}],
        "outputs": [{"portId": "out-s", "type": "Item", "name": "item", "displayName": "item"}],
        "metadata": {"position": {"x": 100.0, "y": 217.5, "z": 0}, "datasetId": api_id("dataset", dataset.pk)},
    }
    qa = task_node(dataset, recipe, manager, reviewer, taskType="qa", position={"x": 1120.0, "y": 217.5, "z": 0})
    qa["id"] = "99999999-2222-4333-8444-555555555555"
    qa["name"] = "Review"
    qa["outputs"][0]["actions"] = ["approve", "discard"]
    annotate = seed_json["nodes"][0]
    seed_json["nodes"] = [storage, annotate, qa]
    seed_json["startNodes"] = [{"nodeId": storage["id"], "type": "root"}]
    seed_json["connections"] = [
        {"src": {"nodeId": storage["id"], "portId": "out-s"}, "tgt": {"nodeId": annotate["id"], "portId": "x"}},
        {
            "src": {"nodeId": annotate["id"], "portId": annotate["outputs"][0]["portId"]},
            "tgt": {"nodeId": qa["id"], "portId": qa["inputs"][0]["portId"]},
            "action": "complete",
            "condition": '{"$and": [{"dir": "/city"}]}',
        },
    ]
    dataloop.pipeline_save_from_dataloop_json(pipeline=pipeline, data=seed_json, by=manager)
    conn = Connection.objects.get(status="completed")
    assert (conn.source.name, conn.target.name, conn.condition) == ("My Task", "Review", {"$and": [{"dir": "/city"}]})
    assert Connection.objects.get(status="").source.kind == NodeKind.DATASET
    back = dataloop.pipeline_to_dataloop_json(pipeline)
    assert back["nodes"] == seed_json["nodes"]
    assert back["connections"][1] == seed_json["connections"][1]
    assert back["connections"][0]["src"] == seed_json["connections"][0]["src"]


def errors_for(pipeline, data, manager) -> dict:
    with pytest.raises(ValidationError) as error:
        dataloop.pipeline_save_from_dataloop_json(pipeline=pipeline, data=data, by=manager)
    return {k: v[0] for k, v in error.value.message_dict.items()}


@pytest.mark.parametrize(
    "change, field, words",
    [
        (lambda n, c: n["metadata"].pop("position"), "nodes[0].metadata.position", "position"),
        (lambda n, c: n["metadata"].update(position={"x": "a", "y": 1}), "nodes[0].metadata.position", "numbers"),
        (
            lambda n, c: n["metadata"].update(workload=[{"assigneeId": "bob@example.com", "load": 60}]),
            "nodes[0].metadata.workload",
            "exactly 100",
        ),
        (
            lambda n, c: n["metadata"].update(workload=[{"assigneeId": "nobody@example.com", "load": 100}]),
            "nodes[0].metadata.workload",
            "Unknown assignee",
        ),
        (lambda n, c: n["metadata"].update(recipeId="05" + "f" * 22), "nodes[0].metadata.recipeId", "Unknown recipe"),
        (lambda n, c: n["metadata"].update(datasetId="nope"), "nodes[0].metadata.datasetId", "Unknown dataset"),
        (lambda n, c: n["metadata"].update(priority=7), "nodes[0].metadata.priority", "Priority"),
        (lambda n, c: n["metadata"].update(dueDate="soon"), "nodes[0].metadata.dueDate", "milliseconds"),
        (lambda n, c: n.update(type="code"), "nodes[0].type", "not supported"),
        (
            lambda n, c: c.append({"src": {"nodeId": n["id"]}, "tgt": {"nodeId": "ghost"}}),
            "connections[0].tgt.nodeId",
            "No node",
        ),
        (
            lambda n, c: c.append({"src": {"nodeId": n["id"]}, "tgt": {"nodeId": n["id"]}, "action": "approve"}),
            "connections[0].action",
            "offers the actions complete, discard",
        ),
        (
            lambda n, c: c.append({"src": {"nodeId": n["id"]}, "tgt": {"nodeId": n["id"]}, "condition": {"a": 1}}),
            "connections[0].condition",
            "JSON string",
        ),
        (
            lambda n, c: c.append({"src": {"nodeId": n["id"]}, "tgt": {"nodeId": n["id"]}}),
            "connections[0].tgt.nodeId",
            "rework",
        ),
    ],
)
def test_bad_json_is_refused_naming_the_field(pipeline, seed_json, manager, annotator, change, field, words):
    change(seed_json["nodes"][0], seed_json["connections"])
    errors = errors_for(pipeline, seed_json, manager)
    assert words in errors[field], errors
    assert not pipeline.nodes.exists()


def test_the_json_dtlpy_itself_made_round_trips(project, dataset, recipe, manager, annotator, reviewer):
    """dtlpy 1.126.5: Pipeline + two TaskNodes (annotation at (2, 1), QA at (3, 1)), node.connect(qa),
    pipeline.to_json(); ids replaced by placeholders."""
    text = (Path(__file__).parent / "dtlpy_pipeline.json").read_text()
    for placeholder, value in (
        ("RECIPE", api_id("recipe", recipe.pk)),
        ("DATASET", api_id("dataset", dataset.pk)),
        ("PROJECT", api_id("project", project.pk)),
        ("PIPE", "PIPE"),
    ):
        text = text.replace(f'"{placeholder}"', json.dumps(value))
    data = json.loads(text)
    for node in data["nodes"]:
        # Saving makes the nodes' tasks, due in the future: the recorded dates have passed.
        node["metadata"]["dueDate"] = in_days(30).timestamp() * 1000
    pipeline = editing.pipeline_create(project=project, name="p", by=manager)
    dataloop.pipeline_save_from_dataloop_json(pipeline=pipeline, data=data, by=manager)
    back = dataloop.pipeline_to_dataloop_json(pipeline)
    assert back["nodes"] == data["nodes"]
    assert back["connections"] == data["connections"]
    assert back["startNodes"] == data["startNodes"]
    assert [(n.name, n.column, n.row, n.kind) for n in pipeline.nodes.order_by("id")] == [
        ("My Task", 2, 1, "annotation"),
        ("QA", 3, 1, "qa"),
    ]
    assert pipeline.connections.get().status == "completed"
