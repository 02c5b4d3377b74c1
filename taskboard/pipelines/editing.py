"""Building pipelines: nodes on a grid, connections between them, and every rule they follow.

- A task node needs a dataset of the project, a recipe of that dataset, an owner who is a member,
  a workload over active members with working roles whose loads sum to 100, and a grid position;
  its task settings follow task creation's rules (`taskboard.annotation.spec`).
- A connection leaves a node by a status that node offers (a dataset node offers only "": every
  item) and enters a task node; a QA node is entered only from an annotation node (its parent).
- No cycles, except through a rework connection: every cycle must contain at least one connection
  flagged `rework` (a connection whose status key is "rework" is flagged automatically).
- A node keeps the JSON the Dataloop SDK sent (`raw`), updated here as it changes, so the API
  answers it back with the same port ids.
"""

import contextlib
import datetime
import json
import logging
import math
import uuid
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from typing import Any, TypedDict, cast

from django.core.exceptions import ValidationError
from django.db import transaction

from taskboard.accounts.models import User
from taskboard.annotation import services as task_services
from taskboard.annotation.models import (
    TaskType,
)
from taskboard.annotation.services import UNSET, Unset
from taskboard.annotation.spec import (
    NAME_MAX,
    description_problem,
    priority_problem,
    pulling_problems,
    statuses_from,
)
from taskboard.annotation.spec import default_statuses as spec_default_statuses
from taskboard.annotation.workload import WorkloadUnit, workload_build
from taskboard.datasets import ids
from taskboard.datasets.folders import normalize_folder
from taskboard.datasets.models import Dataset, Recipe
from taskboard.inputs import parse_pk, text_problem
from taskboard.pipelines.models import (
    TASK_KINDS,
    Connection,
    Node,
    NodeKind,
    NodeWorkload,
    Pipeline,
    PipelineState,
)
from taskboard.projects.access import role_of
from taskboard.projects.models import Project

logger = logging.getLogger(__name__)

# Bounds on what one pipeline holds (its page draws every node; its JSON lists them all).
NODES_MAX = 100
CONNECTIONS_MAX = 4 * NODES_MAX


NODE_WIDTH, NODE_HEIGHT = 200, 87  # dtlpy's NODE_SIZE: grid positions become x/y through it


REWORK_STATUS = "rework"


# Dataloop names actions by verb, tasks name statuses by result.
ACTION_TO_STATUS = {"complete": "completed", "approve": "approved"}


STATUS_TO_ACTION = {status: action for action, status in ACTION_TO_STATUS.items()}


class NodeFields(TypedDict, total=False):
    """A node's settings as the editor, the Dataloop JSON and `node_update` hand them over: values as
    given, which `clean_node` checks; a key left out is a setting not given."""

    kind: str
    name: str
    column: int
    row: int
    dataset: Dataset | None
    folder: str
    recipe: Recipe | None
    owner: User | None
    workload: list[WorkloadUnit] | None
    due_at: datetime.datetime | None
    priority: int
    batch_size: int | None
    max_batch_workload: int | None
    statuses: list[dict[str, Any]] | None


def position_to_xy(column: float, row: float) -> dict[str, float]:
    return {"x": column * 1.7 * NODE_WIDTH + NODE_WIDTH / 2, "y": row * 1.5 * NODE_HEIGHT + NODE_HEIGHT, "z": 0}


def xy_to_position(x: float, y: float) -> tuple[int, int]:
    return round((x - NODE_WIDTH / 2) / (1.7 * NODE_WIDTH)), round((y - NODE_HEIGHT) / (1.5 * NODE_HEIGHT))


def default_statuses(kind: str) -> list[dict[str, Any]]:
    return [s.to_json() for s in spec_default_statuses(TaskType.QA if kind == NodeKind.QA else TaskType.ANNOTATION)]


def node_statuses(node: Node) -> list[dict[str, Any]]:
    if node.kind == NodeKind.DATASET:
        return []
    return node.statuses or default_statuses(node.kind)


def node_status_keys(node: Node) -> list[str]:
    if node.kind == NodeKind.DATASET:
        return [""]
    return [s["key"] for s in node_statuses(node)]


def task_name_for(node: Node) -> str:
    """Dataloop's name for a node's task, "<node> (<pipeline>)": two pipelines' nodes of one name do not
    claim the same task."""
    return f"{node.name} ({node.pipeline.name})"[:NAME_MAX]


def _editable(pipeline: Pipeline) -> None:
    # Read from the database: the caller's copy may predate an install.
    if Pipeline.objects.filter(pk=pipeline.pk, state=PipelineState.INSTALLED).exists():
        raise ValidationError({"state": "Pause the pipeline before changing its nodes or connections."})


def _clean_statuses(statuses: object, errors: dict[str, str], field: str = "statuses") -> list[dict[str, Any]]:
    """A node's own statuses by task creation's rules; "rework" does not count as done unless it says so."""
    if not statuses:
        return []
    try:
        return [s.to_json() for s in statuses_from(statuses, not_done=frozenset({REWORK_STATUS}))]
    except ValidationError as e:
        errors[field] = e.message_dict["statuses"][0]
        return []


def _clean_workload(
    *, project: Project, workload: list[WorkloadUnit] | None, errors: dict[str, str], field: str = "workload"
) -> list[WorkloadUnit]:
    try:
        return workload_build(project=project, workload=list(workload or []), assignees=None, field=field)
    except ValidationError as e:
        errors[field] = next(iter(e.message_dict.values()))[0]
        return []


def clean_node(*, pipeline: Pipeline, fields: NodeFields, errors: dict[str, str], prefix: str = "") -> NodeFields:
    """Check a node's settings; put problems in `errors` under `prefix + field`."""
    project = pipeline.project
    out = fields.copy()
    kind = fields.get("kind")
    if kind not in NodeKind.values:
        errors[prefix + "kind"] = "Choose a node kind: dataset, annotation task or QA task."
        return out
    given_name = fields.get("name") or ""
    name = given_name.strip() if isinstance(given_name, str) else given_name
    if not name:
        errors[prefix + "name"] = "A node needs a name."
    elif not isinstance(name, str) or len(name) > NAME_MAX:
        errors[prefix + "name"] = f"At most {NAME_MAX} characters."
    elif problem := text_problem(name):
        errors[prefix + "name"] = problem
    out["name"] = name
    for axis in ("column", "row"):
        value = fields.get(axis)
        if not isinstance(value, int) or isinstance(value, bool):
            errors[prefix + axis] = "A node needs a grid position: whole numbers."
        elif not -1000 <= value <= 1000:
            errors[prefix + axis] = "The position is off the grid."
    dataset = fields.get("dataset")
    if dataset is None:
        errors[prefix + "dataset"] = "Choose a dataset."
    elif dataset.project_id != project.pk:
        errors[prefix + "dataset"] = "The dataset is not in this project."
        dataset = None
    folder = (fields.get("folder") or "").strip()
    if folder:
        try:
            folder = normalize_folder(folder)
        except ValidationError:
            errors[prefix + "folder"] = "A folder is an absolute path such as /city/day (no '.' or '..')."
        if folder == "/":
            folder = ""
    out["folder"] = folder
    if kind == NodeKind.DATASET:
        return out

    recipe = fields.get("recipe")
    if recipe is None:
        errors[prefix + "recipe"] = "A task node needs a recipe."
    elif dataset is not None and recipe.dataset_id != dataset.pk:
        errors[prefix + "recipe"] = "The recipe is not one of the node's dataset."
    owner = fields.get("owner")
    if owner is None:
        errors[prefix + "owner"] = "A task node needs an owner."
    elif role_of(owner, project) is None:
        errors[prefix + "owner"] = f"{owner.email} is not a member of this project."
    out["workload"] = _clean_workload(
        project=project, workload=fields.get("workload"), errors=errors, field=prefix + "workload"
    )
    problem = priority_problem(fields.get("priority", 2))
    if problem:
        errors[prefix + "priority"] = problem
    due_at = fields.get("due_at")
    if due_at is not None and not isinstance(due_at, datetime.datetime):
        errors[prefix + "due_at"] = "Enter a date and time."
    batch, most = fields.get("batch_size"), fields.get("max_batch_workload")
    if (batch is None) != (most is None):
        errors[prefix + "batch_size"] = "Give both the batch size and the maximum batch workload, or neither."
    elif batch is not None:
        errors.update({prefix + key: message for key, message in pulling_problems(batch, most).items()})
    out["statuses"] = _clean_statuses(fields.get("statuses"), errors, field=prefix + "statuses")
    return out


def check_graph(
    nodes: Iterable[Hashable],
    edges: Sequence[tuple[Hashable, Hashable, bool]],
    errors: dict[str, str],
    field: str = "target",
) -> None:
    """`edges` are (source key, target key, rework). Any cycle must pass a rework edge."""
    graph: defaultdict[Hashable, list[Hashable]] = defaultdict(list)
    for source, target, rework in edges:
        if not rework:
            graph[source].append(target)
    state: dict[Hashable, int] = {}

    def visit(n: Hashable) -> bool:
        state[n] = 1
        for m in graph[n]:
            if state.get(m) == 1 or (state.get(m) is None and visit(m)):
                return True
        state[n] = 2
        return False

    for n in list(nodes):
        if state.get(n) is None and visit(n):
            errors[field] = (
                "This makes a loop. Only a rework connection (status 'rework', or marked as rework) may lead back."
            )
            return


def _connection_errors(
    *, source: Node, target: Node, status: str, rework: bool, field_prefix: str = ""
) -> dict[str, str]:
    errors: dict[str, str] = {}
    if source.pipeline_id != target.pipeline_id:
        errors[field_prefix + "target"] = "Both nodes must be in the same pipeline."
        return errors
    if target.kind == NodeKind.DATASET:
        errors[field_prefix + "target"] = "Items cannot flow into a dataset node."
    if source.kind == NodeKind.DATASET:
        if status:
            errors[field_prefix + "status"] = "A dataset node sends every item; it has no statuses."
    elif status not in node_status_keys(source):
        offered = ", ".join(node_status_keys(source))
        errors[field_prefix + "status"] = (
            f"{source.name} offers the statuses {offered}; {status or '(none)'} is not one."
        )
    if target.kind == NodeKind.QA and source.kind != NodeKind.ANNOTATION:
        errors[field_prefix + "source"] = "A QA node reviews an annotation node: connect it from one."
    if source.pk == target.pk and not rework:
        errors[field_prefix + "target"] = "A node can lead back to itself only by a rework connection."
    if not errors and source.dataset_id != target.dataset_id:
        errors[field_prefix + "target"] = "Items stay in their dataset: both nodes must use the same dataset."
    return errors


@transaction.atomic
def pipeline_create(*, project: Project, name: str, by: User, description: str = "") -> Pipeline:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "A pipeline needs a name."})
    if len(name) > 200:
        raise ValidationError({"name": "At most 200 characters."})
    if Pipeline.objects.filter(project=project, name=name).exists():
        raise ValidationError({"name": f"This project already has a pipeline named {name!r}."})
    problem = description_problem(description)
    if problem:
        raise ValidationError({"description": problem})
    return Pipeline.objects.create(project=project, name=name, description=description, created_by=by)


@transaction.atomic
def pipeline_update(
    *, pipeline: Pipeline, by: User, name: str | None = None, description: str | None = None
) -> Pipeline:
    if name is not None:
        name = name.strip()
        if not name or len(name) > 200:
            raise ValidationError({"name": "A pipeline needs a name of 1 to 200 characters."})
        if Pipeline.objects.filter(project=pipeline.project_id, name=name).exclude(pk=pipeline.pk).exists():
            raise ValidationError({"name": f"This project already has a pipeline named {name!r}."})
        pipeline.name = name
    if description is not None:
        problem = description_problem(description)
        if problem:
            raise ValidationError({"description": problem})
        pipeline.description = description
    pipeline.save(update_fields=["name", "description", "updated_at"])
    return pipeline


@transaction.atomic
def pipeline_delete(*, pipeline: Pipeline, by: User) -> None:
    """The pipeline and its record of moves go; the tasks it made stay with their work."""
    _editable(pipeline)
    pipeline.delete()


def _node_defaults(given: NodeFields, by: User) -> NodeFields:
    fields = given.copy()
    fields.setdefault("priority", 2)
    if fields.get("kind") in TASK_KINDS:
        dataset = fields.get("dataset")
        if fields.get("recipe") is None and dataset is not None:
            fields["recipe"] = dataset.default_recipe
        if fields.get("owner") is None:
            fields["owner"] = by
    return fields


def save_node(node: Node, cleaned: NodeFields, *, raw_sync: bool = True) -> Node:
    for attr in ("kind", "name", "column", "row", "dataset", "folder"):
        setattr(node, attr, cleaned.get(attr, getattr(node, attr)))
    is_task = node.kind in TASK_KINDS
    node.recipe = cleaned.get("recipe") if is_task else None
    node.owner = cleaned.get("owner") if is_task else None
    node.due_at = cleaned.get("due_at") if is_task else None
    node.priority = cleaned.get("priority") or 2
    node.batch_size = cleaned.get("batch_size") if is_task else None
    node.max_batch_workload = cleaned.get("max_batch_workload") if is_task else None
    node.statuses = cleaned.get("statuses") or [] if is_task else []
    if raw_sync:
        node.raw = node_json(node, base=node.raw, workload=cleaned.get("workload") or [])
    node.save()
    node.workload.all().delete()
    if is_task:
        NodeWorkload.objects.bulk_create(
            [NodeWorkload(node=node, assignee=unit.user, load=unit.load) for unit in cleaned.get("workload") or []]
        )
    return node


def _cell_taken(pipeline: Pipeline, column: int, row: int, exclude: Node | None = None) -> bool:
    nodes = Node.objects.filter(pipeline=pipeline, column=column, row=row)
    if exclude is not None:
        nodes = nodes.exclude(pk=exclude.pk)
    return nodes.exists()


@transaction.atomic
def node_add(
    *,
    pipeline: Pipeline,
    by: User,
    kind: str,
    name: str,
    column: int,
    row: int,
    dataset: Dataset | None = None,
    folder: str = "",
    recipe: Recipe | None = None,
    owner: User | None = None,
    workload: list[WorkloadUnit] | None = None,
    due_at: datetime.datetime | None = None,
    priority: int = 2,
    batch_size: int | None = None,
    max_batch_workload: int | None = None,
    statuses: list[dict[str, Any]] | None = None,
) -> Node:
    _editable(pipeline)
    if pipeline.nodes.count() >= NODES_MAX:
        raise ValidationError({"kind": f"A pipeline has at most {NODES_MAX} nodes."})
    fields = _node_defaults(
        NodeFields(
            kind=kind,
            name=name,
            column=column,
            row=row,
            dataset=dataset,
            folder=folder,
            recipe=recipe,
            owner=owner,
            workload=workload,
            due_at=due_at,
            priority=priority,
            batch_size=batch_size,
            max_batch_workload=max_batch_workload,
            statuses=statuses,
        ),
        by,
    )
    errors: dict[str, str] = {}
    cleaned = clean_node(pipeline=pipeline, fields=fields, errors=errors)
    if "column" not in errors and "row" not in errors and _cell_taken(pipeline, column, row):
        errors["column"] = f"Another node sits at column {column}, row {row}."
    if errors:
        raise ValidationError(errors)
    return save_node(Node(pipeline=pipeline), cleaned)


@transaction.atomic
def node_update(
    *,
    node: Node,
    by: User,
    kind: str | Unset = UNSET,
    name: str | Unset = UNSET,
    column: int | Unset = UNSET,
    row: int | Unset = UNSET,
    dataset: Dataset | None | Unset = UNSET,
    folder: str | Unset = UNSET,
    recipe: Recipe | None | Unset = UNSET,
    owner: User | None | Unset = UNSET,
    workload: list[WorkloadUnit] | None | Unset = UNSET,
    due_at: datetime.datetime | None | Unset = UNSET,
    priority: int | Unset = UNSET,
    batch_size: int | None | Unset = UNSET,
    max_batch_workload: int | None | Unset = UNSET,
    statuses: list[dict[str, Any]] | None | Unset = UNSET,
) -> Node:
    """Change a node's settings; settings not given keep their values."""
    _editable(node.pipeline)
    given = {
        "kind": kind,
        "name": name,
        "column": column,
        "row": row,
        "dataset": dataset,
        "folder": folder,
        "recipe": recipe,
        "owner": owner,
        "workload": workload,
        "due_at": due_at,
        "priority": priority,
        "batch_size": batch_size,
        "max_batch_workload": max_batch_workload,
        "statuses": statuses,
    }
    # Each key is a NodeFields key, each value of its parameter's type.
    fields = cast(NodeFields, {key: value for key, value in given.items() if value is not UNSET})
    current: NodeFields = {
        "kind": node.kind,
        "name": node.name,
        "column": node.column,
        "row": node.row,
        "dataset": node.dataset,
        "folder": node.folder,
        "recipe": node.recipe,
        "owner": node.owner,
        "due_at": node.due_at,
        "priority": node.priority,
        "batch_size": node.batch_size,
        "max_batch_workload": node.max_batch_workload,
        "statuses": node.statuses,
        "workload": [WorkloadUnit(w.assignee, w.load) for w in node.workload.select_related("assignee")],
    }
    if node.task_id and "kind" in fields and fields["kind"] != node.kind:
        raise ValidationError({"kind": "This node already has a task; make a new node instead."})
    if node.task_id and "dataset" in fields and fields["dataset"] != node.dataset:
        raise ValidationError({"dataset": "This node already has a task on its dataset; make a new node instead."})
    merged = _node_defaults(current | fields, by)
    errors: dict[str, str] = {}
    cleaned = clean_node(pipeline=node.pipeline, fields=merged, errors=errors)
    moved = ("column" in fields or "row" in fields) and "column" not in errors and "row" not in errors
    if moved and _cell_taken(node.pipeline, merged["column"], merged["row"], exclude=node):
        errors["column"] = f"Another node sits at column {merged['column']}, row {merged['row']}."
    if "statuses" in fields and not errors:
        keys = set(s["key"] for s in cleaned["statuses"] or default_statuses(cleaned["kind"]))
        used = set(node.outgoing.values_list("status", flat=True)) - keys
        if used:
            errors["statuses"] = f"Connections leave by {', '.join(sorted(used))}; delete them first."
    if errors:
        raise ValidationError(errors)
    if node.task_id:
        node_task_sync(node, current, cleaned, by)
    return save_node(node, cleaned)


def node_task_settings(node: Node) -> NodeFields:
    """The settings of a node that its task follows (`node_task_sync`)."""
    return {
        "owner": node.owner,
        "priority": node.priority,
        "due_at": node.due_at,
        "statuses": node.statuses,
    }


def node_task_sync(node: Node, before: NodeFields, after: NodeFields, by: User) -> None:
    """A node that already made its task passes setting changes on to it."""
    owner = after.get("owner") if after.get("owner") != before.get("owner") else UNSET
    priority = after.get("priority") if after.get("priority") != before.get("priority") else UNSET
    new_due = after.get("due_at")
    due_at = new_due if new_due is not None and new_due != before.get("due_at") else UNSET
    statuses: list[dict[str, Any]] | Unset = UNSET
    if (after.get("statuses") or []) != (before.get("statuses") or []):
        statuses = after.get("statuses") or default_statuses(node.kind)
    changes = (owner, priority, due_at, statuses)
    if node.task is not None and any(change is not UNSET for change in changes):
        task_services.task_update(
            task=node.task, by=by, owner=owner, priority=priority, due_at=due_at, statuses=statuses
        )


@transaction.atomic
def node_move(*, node: Node, column: int, row: int, by: User) -> Node:
    return node_update(node=node, by=by, column=column, row=row)


@transaction.atomic
def node_delete(*, node: Node, by: User) -> None:
    """The node and its connections go; its task, if it made one, stays."""
    _editable(node.pipeline)
    node.delete()


@transaction.atomic
def connection_add(
    *,
    pipeline: Pipeline,
    source: Node,
    target: Node,
    status: str,
    by: User,
    rework: bool = False,
    condition: dict[str, Any] | None = None,
) -> Connection:
    _editable(pipeline)
    status = (status or "").strip()
    rework = bool(rework) or status == REWORK_STATUS
    if source.pipeline_id != pipeline.pk:
        raise ValidationError({"source": "That node is not in this pipeline."})
    if target.pipeline_id != pipeline.pk:
        raise ValidationError({"target": "That node is not in this pipeline."})
    errors = _connection_errors(source=source, target=target, status=status, rework=rework)
    if not errors and Connection.objects.filter(source=source, target=target, status=status).exists():
        errors["target"] = "These nodes are already connected by that status."
    if not errors and target.kind == NodeKind.QA and not rework:
        # The QA task is made over one annotation task: items from another could not be reviewed in it.
        other = (
            Connection.objects.filter(target=target, rework=False).exclude(source=source).select_related("source")
        ).first()
        if other is not None:
            errors["source"] = f"{target.name} already reviews {other.source.name}; a QA node reviews one node."
    if not errors:
        edges = [(c.source_id, c.target_id, c.rework) for c in pipeline.connections.all()]
        edges.append((source.pk, target.pk, rework))
        check_graph({n.pk: n for n in pipeline.nodes.all()}, edges, errors)
    if errors:
        raise ValidationError(errors)
    return Connection.objects.create(
        pipeline=pipeline, source=source, target=target, status=status, rework=rework, condition=condition
    )


@transaction.atomic
def connection_delete(*, connection: Connection, by: User) -> None:
    _editable(connection.pipeline)
    connection.delete()


def ms_to_datetime(value: object) -> datetime.datetime | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError
    return datetime.datetime.fromtimestamp(value / 1000, tz=datetime.UTC)


def _datetime_to_ms(value: datetime.datetime | None) -> float | None:
    return value.timestamp() * 1000 if value else None


def parse_ref(value: object, kind: str) -> int | None:
    pk = parse_pk(value)  # a plain id: "42" or 42
    if pk is not None:
        return pk
    if not isinstance(value, str):
        return None
    try:
        return ids.parse_api_id(value, kind)
    except (ValueError, KeyError):
        return None


def node_json(
    node: Node, *, base: dict[str, Any] | None = None, workload: list[WorkloadUnit] | None = None
) -> dict[str, Any]:
    """The node as Dataloop's SDK shapes it; keys in `base` the server does not own are kept."""
    data: dict[str, Any] = json.loads(json.dumps(base or {}))
    data["id"] = node.node_uid
    data["name"] = node.name
    data.setdefault("projectId", ids.api_id("project", node.pipeline.project_id))
    metadata = data.setdefault("metadata", {})
    old = metadata.get("position")
    if not (
        isinstance(old, dict)
        and isinstance(old.get("x"), int | float)
        and isinstance(old.get("y"), int | float)
        and xy_to_position(old["x"], old["y"]) == (node.column, node.row)
    ):
        metadata["position"] = position_to_xy(node.column, node.row)
    if node.dataset_id:
        old_id = metadata.get("datasetId")
        if parse_ref(old_id, "dataset") != node.dataset_id:
            metadata["datasetId"] = ids.api_id("dataset", node.dataset_id)
    if node.kind == NodeKind.DATASET:
        data["type"] = "storage"
        data.setdefault(
            "namespace",
            {"functionName": "dataset_handler", "projectName": "DataloopTasks", "serviceName": "pipeline-utils"},
        )
        if node.folder:
            metadata["dir"] = node.folder
        else:
            metadata.pop("dir", None)
        ports: list[str | None] = [None]
    else:
        data["type"] = "task"
        data.setdefault(
            "namespace",
            {"functionName": "move_to_task", "projectName": "DataloopTasks", "serviceName": "pipeline-utils"},
        )
        metadata["taskType"] = node.task_type
        if node.recipe is not None:
            if parse_ref(metadata.get("recipeId"), "recipe") != node.recipe_id:
                metadata["recipeId"] = ids.api_id("recipe", node.recipe.pk)
            metadata["recipeTitle"] = node.recipe.name
        if node.owner is not None:
            metadata["taskOwner"] = node.owner.email
        if workload is None:
            workload = [WorkloadUnit(w.assignee, w.load) for w in node.workload.select_related("assignee")]
        metadata["workload"] = [{"assigneeId": u.user.email, "load": u.load} for u in workload]
        metadata["priority"] = node.priority
        if node.due_at is not None:
            old_ms = metadata.get("dueDate")
            old_at = None
            with contextlib.suppress(ValueError):
                old_at = ms_to_datetime(old_ms)
            if old_at is None or abs((old_at - node.due_at).total_seconds()) >= 0.001:
                metadata["dueDate"] = _datetime_to_ms(node.due_at)
        metadata.setdefault("repeatable", True)
        for key, value in (("batchSize", node.batch_size), ("maxBatchWorkload", node.max_batch_workload)):
            if value is None:
                metadata.pop(key, None)
            else:
                metadata[key] = value
        ports = [STATUS_TO_ACTION.get(key, key) for key in node_status_keys(node)]
    if not data.get("inputs"):
        data["inputs"] = [_port("item")]
    outputs = data.get("outputs")
    if not outputs or not isinstance(outputs, list) or not isinstance(outputs[0], dict):
        data["outputs"] = [_port(ports[0] or "item", actions=ports if ports != [None] else None)]
    elif ports != [None] and outputs[0].get("actions") != ports:
        outputs[0]["actions"] = ports
        outputs[0]["displayName"] = ports[0]
    return data


def _port(display_name: str, actions: list[str | None] | None = None) -> dict[str, Any]:
    port: dict[str, Any] = {
        "portId": str(uuid.uuid4()),
        "type": "Item",
        "name": "item",
        "displayName": display_name,
        "color": None,
        "variableName": None,
        "portPercentage": None,
    }
    if actions:
        port["actions"] = actions
    return port


def output_port_id(node: Node) -> str | None:
    outputs = (node.raw or {}).get("outputs") or []
    return outputs[0].get("portId") if outputs and isinstance(outputs[0], dict) else None


def input_port_id(node: Node) -> str | None:
    inputs = (node.raw or {}).get("inputs") or []
    return inputs[0].get("portId") if inputs and isinstance(inputs[0], dict) else None
