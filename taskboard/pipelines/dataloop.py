"""Pipelines in Dataloop's JSON, as dtlpy sends and reads them: `pipeline_to_dataloop_json` and
`pipeline_save_from_dataloop_json`. Every id on the wire is a 24-hex id; positions go through
dtlpy's node size; statuses are named by their actions ("complete" for "completed")."""

import json
import logging
import math
import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from taskboard.accounts.models import User
from taskboard.annotation.spec import description_problem
from taskboard.annotation.workload import WorkloadUnit
from taskboard.datasets import ids
from taskboard.datasets.models import Dataset, Recipe
from taskboard.pipelines.editing import (
    ACTION_TO_STATUS,
    CONNECTIONS_MAX,
    NODES_MAX,
    REWORK_STATUS,
    STATUS_TO_ACTION,
    NodeFields,
    check_graph,
    clean_node,
    default_statuses,
    input_port_id,
    ms_to_datetime,
    node_json,
    node_task_settings,
    node_task_sync,
    output_port_id,
    parse_ref,
    save_node,
    xy_to_position,
)
from taskboard.pipelines.models import (
    Connection,
    Node,
    NodeKind,
    Pipeline,
    PipelineState,
)
from taskboard.pipelines.running import node_tasks_make

logger = logging.getLogger(__name__)


class ParsedNode(NodeFields):
    """A node of the JSON, checked: its settings, its Dataloop id and the JSON itself (kept verbatim)."""

    uid: str
    raw: dict[str, Any]


def _user_by_ref(value: object) -> User | None:
    if not isinstance(value, str) or not value.strip():
        return None
    User = get_user_model()
    user = User.objects.filter(email__iexact=value.strip()).first()
    if user is None:
        pk = parse_ref(value, "user")
        user = User.objects.filter(pk=pk).first() if pk else None
    return user


def connection_json(connection: Connection) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(json.dumps(connection.raw or {}))
    data["src"] = {"nodeId": connection.source.node_uid, "portId": output_port_id(connection.source)}
    data["tgt"] = {"nodeId": connection.target.node_uid, "portId": input_port_id(connection.target)}
    if connection.status:
        data["action"] = STATUS_TO_ACTION.get(connection.status, connection.status)
    else:
        data.pop("action", None)
    if connection.condition is not None and not isinstance(data.get("condition"), str):
        data["condition"] = json.dumps(connection.condition)
    return data


DATALOOP_STATES: dict[str, str] = {
    PipelineState.CREATED: "Created",
    PipelineState.INSTALLED: "Installed",
    PipelineState.PAUSED: "Uninstalled",
}


_OWN_KEYS = {"name", "description", "settings", "variables", "nodes", "connections", "status"}


# Made by the server or the API, never stored from a request.
_SERVER_KEYS = {"id", "projectId", "creator", "createdAt", "updatedAt", "updatedBy", "url", "orgId"}


def pipeline_to_dataloop_json(pipeline: Pipeline) -> dict[str, Any]:
    nodes = list(pipeline.nodes.select_related("pipeline", "recipe", "owner").order_by("id"))
    connections = list(pipeline.connections.select_related("source", "target").order_by("id"))
    data = dict(pipeline.extra)
    start = data.get("startNodes")
    if not start:
        first = next((n for n in nodes if n.kind == NodeKind.DATASET), None) or next(iter(nodes), None)
        start = [{"nodeId": first.node_uid, "type": "root"}] if first else []
    data.update(
        {
            "id": ids.api_id("pipeline", pipeline.pk),
            "name": pipeline.name,
            "projectId": ids.api_id("project", pipeline.project_id),
            "creator": pipeline.created_by.email if pipeline.created_by is not None else None,
            "status": DATALOOP_STATES[pipeline.state],
            "createdAt": pipeline.created_at.isoformat().replace("+00:00", "Z"),
            "updatedAt": pipeline.updated_at.isoformat().replace("+00:00", "Z"),
            "description": pipeline.description,
            "settings": pipeline.settings,
            "variables": pipeline.variables,
            "startNodes": start,
            "nodes": [node.raw or node_json(node) for node in nodes],
            "connections": [connection_json(c) for c in connections],
        }
    )
    return data


def _parse_node(*, pipeline: Pipeline, i: int, data: object, errors: dict[str, str], by: User) -> ParsedNode | None:
    prefix = f"nodes[{i}]."
    if not isinstance(data, dict):
        errors[f"nodes[{i}]"] = "A node is a JSON object."
        return None
    uid = data.get("id") or str(uuid.uuid4())
    if not isinstance(uid, str) or len(uid) > 64:
        errors[prefix + "id"] = "A node id is a string of at most 64 characters."
        return None
    name = data.get("name")
    if name is not None and not isinstance(name, str):
        errors[prefix + "name"] = "A node name is a string."
        return None
    for ports in ("inputs", "outputs"):
        value = data.get(ports)
        if value is not None and not (isinstance(value, list) and all(isinstance(p, dict) for p in value)):
            errors[prefix + ports] = f"{ports} is a list of port objects."
            return None
    node_type = data.get("type")
    metadata = data.get("metadata")
    if not isinstance(metadata, dict):
        errors[prefix + "metadata"] = "A node needs metadata with its position."
        return None
    if node_type == "task":
        kind = metadata.get("taskType") or "annotation"
        if kind not in ("annotation", "qa"):
            errors[prefix + "metadata.taskType"] = "taskType is annotation or qa."
            return None
    elif node_type == "storage":
        kind = NodeKind.DATASET
    else:
        errors[prefix + "type"] = f"Node type {node_type!r} is not supported here; use task or storage."
        return None
    position = metadata.get("position")
    if not (
        isinstance(position, dict)
        and all(isinstance(position.get(k), int | float) and not isinstance(position.get(k), bool) for k in "xy")
        and all(math.isfinite(position[k]) for k in "xy")
    ):
        errors[prefix + "metadata.position"] = "A node needs metadata.position with numbers x and y."
        return None
    column, row = xy_to_position(position["x"], position["y"])
    dataset_pk = parse_ref(metadata.get("datasetId"), "dataset")
    dataset = Dataset.objects.filter(pk=dataset_pk, project=pipeline.project).first() if dataset_pk else None
    if dataset is None:
        errors[prefix + "metadata.datasetId"] = "Unknown dataset in this project."
        return None
    fields: NodeFields = {
        "kind": kind,
        "name": name or "",
        "column": column,
        "row": row,
        "dataset": dataset,
    }
    if kind == NodeKind.DATASET:
        folder = metadata.get("dir")
        if folder is not None and not isinstance(folder, str):
            errors[prefix + "metadata.dir"] = "dir is a folder path such as /city."
            return None
        fields["folder"] = folder or ""
    else:
        recipe_pk = parse_ref(metadata.get("recipeId"), "recipe")
        recipe = Recipe.objects.filter(pk=recipe_pk).first() if recipe_pk else None
        if recipe is None:
            errors[prefix + "metadata.recipeId"] = "Unknown recipe."
            return None
        fields["recipe"] = recipe
        owner = _user_by_ref(metadata.get("taskOwner"))
        if owner is None:
            errors[prefix + "metadata.taskOwner"] = f"Unknown task owner {metadata.get('taskOwner')!r}."
            return None
        fields["owner"] = owner
        units: list[WorkloadUnit] = []
        workload = metadata.get("workload")
        if not isinstance(workload, list):
            errors[prefix + "metadata.workload"] = "workload is a list of {assigneeId, load}."
            return None
        for entry in workload:
            user = _user_by_ref(entry.get("assigneeId")) if isinstance(entry, dict) else None
            if user is None:
                bad = entry.get("assigneeId") if isinstance(entry, dict) else entry
                errors[prefix + "metadata.workload"] = f"Unknown assignee {bad!r}."
                return None
            load = entry.get("load")
            if isinstance(load, float) and load.is_integer():
                load = int(load)
            units.append(WorkloadUnit(user, load))
        fields["workload"] = units
        try:
            fields["due_at"] = ms_to_datetime(metadata.get("dueDate"))
        except ValueError:
            errors[prefix + "metadata.dueDate"] = "dueDate is a number of milliseconds."
            return None
        fields["priority"] = metadata.get("priority", 2)
        fields["batch_size"] = metadata.get("batchSize")
        fields["max_batch_workload"] = metadata.get("maxBatchWorkload")
        outputs = data.get("outputs") or []
        actions = outputs[0].get("actions") if outputs and isinstance(outputs[0], dict) else None
        defaults = ["approve", "discard"] if kind == "qa" else ["complete", "discard"]
        if actions and actions != defaults:
            if not isinstance(actions, list) or not all(isinstance(a, str) and a for a in actions):
                errors[prefix + "outputs"] = "Output actions are non-empty strings."
                return None
            fields["statuses"] = [{"key": ACTION_TO_STATUS.get(a, a), "label": a} for a in actions]
    node_errors: dict[str, str] = {}
    cleaned = clean_node(pipeline=pipeline, fields=fields, errors=node_errors, prefix=prefix)
    for field, message in node_errors.items():
        key = {
            prefix + "recipe": prefix + "metadata.recipeId",
            prefix + "owner": prefix + "metadata.taskOwner",
            prefix + "workload": prefix + "metadata.workload",
            prefix + "due_at": prefix + "metadata.dueDate",
            prefix + "priority": prefix + "metadata.priority",
            prefix + "batch_size": prefix + "metadata.batchSize",
            prefix + "max_batch_workload": prefix + "metadata.maxBatchWorkload",
            prefix + "column": prefix + "metadata.position",
            prefix + "row": prefix + "metadata.position",
        }.get(field, field)
        errors.setdefault(key, message)
    if node_errors:
        return None
    return {**cleaned, "uid": uid, "raw": data}


@transaction.atomic
def pipeline_save_from_dataloop_json(*, pipeline: Pipeline, data: object, by: User) -> Pipeline:
    """Store the SDK's `pipeline.to_json()` (a PATCH /pipelines/{id} body): validated, node JSON kept verbatim.

    Nodes are matched by their Dataloop id, so a node keeps its task across saves. Errors name
    the JSON field (`nodes[0].metadata.workload`, `connections[1].action`).
    """
    given, pipeline = pipeline, Pipeline.objects.select_for_update().select_related("project").get(pk=pipeline.pk)
    if not isinstance(data, dict):
        raise ValidationError({"pipeline": "A pipeline is a JSON object."})
    errors: dict[str, str] = {}
    name = data.get("name", pipeline.name)
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
        errors["name"] = "A pipeline needs a name of 1 to 200 characters."
    elif Pipeline.objects.filter(project=pipeline.project, name=name.strip()).exclude(pk=pipeline.pk).exists():
        errors["name"] = f"This project already has a pipeline named {name.strip()!r}."
    for key, kind in (("settings", dict), ("variables", list), ("nodes", list), ("connections", list)):
        if key in data and data[key] is not None and not isinstance(data[key], kind):
            errors[key] = f"{key} is a JSON {'object' if kind is dict else 'list'}."
    if data.get("description") is not None:
        problem = description_problem(data["description"])
        if problem:
            errors["description"] = problem
    for key, most in (("nodes", NODES_MAX), ("connections", CONNECTIONS_MAX)):
        if isinstance(data.get(key), list) and len(data[key]) > most:
            errors[key] = f"{key}: at most {most} in a pipeline."
    start = data.get("startNodes")
    if start is not None and not (
        isinstance(start, list) and all(isinstance(s, dict) and isinstance(s.get("nodeId"), str) for s in start)
    ):
        errors["startNodes"] = 'startNodes is a list of {"nodeId": "<node id>", "type": "root"}.'
    if errors:
        raise ValidationError(errors)

    parsed: list[ParsedNode] = []
    for i, node_data in enumerate(data.get("nodes") or []):
        one = _parse_node(pipeline=pipeline, i=i, data=node_data, errors=errors, by=by)
        if one is not None:
            parsed.append(one)
    by_uid: dict[str, ParsedNode] = {}
    for i, one in enumerate(parsed):
        if one["uid"] in by_uid:
            errors[f"nodes[{i}].id"] = f"Two nodes have the id {one['uid']!r}."
        by_uid[one["uid"]] = one
    if errors:
        raise ValidationError(errors)

    edges: list[tuple[str, str, bool, str, Any, dict[str, Any]]] = []
    for j, conn in enumerate(data.get("connections") or []):
        prefix = f"connections[{j}]."
        if (
            not isinstance(conn, dict)
            or not isinstance(conn.get("src"), dict)
            or not isinstance(conn.get("tgt"), dict)
        ):
            errors[f"connections[{j}]"] = "A connection has src and tgt objects."
            continue
        ends = {}
        for end in ("src", "tgt"):
            node_id = conn[end].get("nodeId")
            if not isinstance(node_id, str):
                errors[prefix + end + ".nodeId"] = "nodeId is the id (a string) of a node of this pipeline."
                break
            ends[end] = by_uid.get(node_id)
        if len(ends) < 2:
            continue
        action = conn.get("action")
        if action is not None and not isinstance(action, str):
            errors[prefix + "action"] = "action is the name (a string) of one of the source node's actions."
            continue
        if conn.get("rework") is not None and not isinstance(conn.get("rework"), bool):
            errors[prefix + "rework"] = "rework is true or false."
            continue
        source, target = ends["src"], ends["tgt"]
        if source is None:
            errors[prefix + "src.nodeId"] = "No node of this pipeline has that id."
            continue
        if target is None:
            errors[prefix + "tgt.nodeId"] = "No node of this pipeline has that id."
            continue
        condition = conn.get("condition")
        if condition is not None:
            try:
                condition = json.loads(condition) if isinstance(condition, str) else None
            except ValueError:
                condition = None
            if condition is None:
                errors[prefix + "condition"] = "condition is a JSON string."
                continue
        if source["kind"] == NodeKind.DATASET:
            status = ""
        else:
            offered = [s["key"] for s in source.get("statuses") or default_statuses(source["kind"])]
            status = ACTION_TO_STATUS.get(action, action) if action else offered[0]
            if not isinstance(status, str) or status not in offered:
                actions = ", ".join(STATUS_TO_ACTION.get(k, k) for k in offered)
                errors[prefix + "action"] = f"{source['name']} offers the actions {actions}; {action!r} is not one."
                continue
        rework = bool(conn.get("rework")) or status == REWORK_STATUS
        if target["kind"] == NodeKind.DATASET:
            errors[prefix + "tgt.nodeId"] = "Items cannot flow into a dataset node."
            continue
        if target["kind"] == NodeKind.QA and source["kind"] != NodeKind.ANNOTATION:
            errors[prefix + "src.nodeId"] = "A QA node reviews an annotation node: connect it from one."
            continue
        if source is target and not rework:
            errors[prefix + "tgt.nodeId"] = "A node can lead back to itself only by a rework connection."
            continue
        if source["dataset"] != target["dataset"]:
            errors[prefix + "tgt.nodeId"] = "Items stay in their dataset: both nodes must use the same dataset."
            continue
        if target["kind"] == NodeKind.QA and not rework:
            reviewed = next((e[0] for e in edges if e[1] == target["uid"] and not e[2]), source["uid"])
            if reviewed != source["uid"]:
                errors[prefix + "src.nodeId"] = (
                    f"{target['name']} already reviews another node; a QA node reviews one."
                )
                continue
        if any(e[:2] == (source["uid"], target["uid"]) and e[3] == status for e in edges):
            errors[f"connections[{j}]"] = "The same connection is listed twice."
            continue
        edges.append((source["uid"], target["uid"], rework, status, condition, conn))
    if not errors:
        check_graph(by_uid, [(s, t, r) for s, t, r, *_ in edges], errors, field="connections")
    if errors:
        raise ValidationError(errors)

    if pipeline.state == PipelineState.INSTALLED:
        current = pipeline_to_dataloop_json(pipeline)
        if current["nodes"] != (data.get("nodes") or []) or len(current["connections"]) != len(edges):
            raise ValidationError({"state": "Pause the pipeline before changing its nodes or connections."})

    pipeline.name = name.strip()
    for key in ("settings", "variables"):
        if data.get(key) is not None:
            setattr(pipeline, key, data[key])
    if isinstance(data.get("description"), str):
        pipeline.description = data["description"]
    pipeline.extra = {k: v for k, v in data.items() if k not in _OWN_KEYS | _SERVER_KEYS}
    pipeline.save()

    existing = {n.node_uid: n for n in pipeline.nodes.all()}
    pipeline.nodes.exclude(node_uid__in=list(by_uid)).delete()
    pipeline.connections.all().delete()
    saved = {}
    for uid, cleaned in by_uid.items():
        node = existing.get(uid) or Node(pipeline=pipeline, node_uid=uid)
        dataset = cleaned["dataset"]
        assert dataset is not None  # _parse_node refuses a node without one
        if node.task_id and (node.kind != cleaned["kind"] or node.dataset_id != dataset.pk):
            node.task = None  # a different task now: the old one stays, unlinked
        before = node_task_settings(node) if node.task_id else None
        node.raw = cleaned["raw"]
        saved[uid] = save_node(node, cleaned, raw_sync=False)
        if before is not None:
            node_task_sync(saved[uid], before, cleaned, by)
    Connection.objects.bulk_create(
        [
            Connection(
                pipeline=pipeline,
                source=saved[s],
                target=saved[t],
                status=status,
                rework=rework,
                condition=condition,
                raw=raw,
            )
            for s, t, rework, status, condition, raw in edges
        ]
    )
    # As Dataloop does, a saved task node has its task from now on, not only once installed.
    node_tasks_make(pipeline, by, installing=False)
    given.refresh_from_db()
    return given
