"""Pipelines: building them, installing them, and moving items along their connections.

Rules (documented here because the editor, the API and the tests all lean on them):
- A task node needs a dataset of the project, a recipe of that dataset, an owner who is a member,
  a workload over members with working roles whose loads sum to 100, and a grid position.
- A connection leaves a node by a status that node offers (a dataset node offers only "": every
  item) and enters a task node; a QA node is entered only from an annotation node (its parent).
- No cycles, except through a rework connection: every cycle must contain at least one connection
  flagged `rework` (a connection whose status key is "rework" is flagged automatically). Routing an
  item back into a task that already holds it clears its status there, so it is to do again.
- Items move only while the pipeline is installed. Each step is recorded as a Move, unique per
  (from node, to node, item, status, time the status was set): replaying a routing job, or the
  catch-up after a pause, moves nothing twice.
- Routed items are split by the target node's workload, balanced against what each person already
  holds in that task, so items arriving one at a time still follow the loads.
"""

import contextlib
import datetime
import json
import logging
import math
import uuid
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, InterfaceError, OperationalError, transaction
from django.db import connection as db_connection
from django.db.models import Exists, F, Max, OuterRef, Q
from django.utils import timezone
from kombu.exceptions import KombuError

from taskboard.annotation.models import (
    DEFAULT_ANNOTATION_STATUSES,
    DEFAULT_QA_STATUSES,
    AnnotationTask,
    Assignment,
    AssignmentKind,
    TaskItem,
)
from taskboard.annotation.selection import Selection
from taskboard.annotation.workload import WorkloadUnit, split_counts, workload_build
from taskboard.datasets import ids
from taskboard.datasets.folders import folder_q, normalize_folder
from taskboard.datasets.models import Dataset, Item, Recipe
from taskboard.inputs import parse_pk
from taskboard.jobs.models import Job
from taskboard.pipelines.models import (
    TASK_KINDS,
    Connection,
    FailedStep,
    Move,
    Node,
    NodeKind,
    NodeWorkload,
    Pipeline,
    PipelineState,
)
from taskboard.projects.access import role_of

logger = logging.getLogger(__name__)

NODE_WIDTH, NODE_HEIGHT = 200, 87  # dtlpy's NODE_SIZE: grid positions become x/y through it
ROUTE_BATCH = 2000
BATCH_SIZE_MIN, BATCH_SIZE_MAX = 3, 100
# Dataloop names actions by verb, tasks name statuses by result.
ACTION_TO_STATUS = {"complete": "completed", "approve": "approved"}
STATUS_TO_ACTION = {status: action for action, status in ACTION_TO_STATUS.items()}
REWORK_STATUS = "rework"


# ---------------------------------------------------------------- positions and statuses


def position_to_xy(column: float, row: float) -> dict:
    return {"x": column * 1.7 * NODE_WIDTH + NODE_WIDTH / 2, "y": row * 1.5 * NODE_HEIGHT + NODE_HEIGHT, "z": 0}


def xy_to_position(x: float, y: float) -> tuple[int, int]:
    return round((x - NODE_WIDTH / 2) / (1.7 * NODE_WIDTH)), round((y - NODE_HEIGHT) / (1.5 * NODE_HEIGHT))


def default_statuses(kind: str) -> list[dict]:
    rows = DEFAULT_QA_STATUSES if kind == NodeKind.QA else DEFAULT_ANNOTATION_STATUSES
    return [{"key": key, "label": label, "color": color, "is_done": done} for key, label, color, done in rows]


def node_statuses(node: Node) -> list[dict]:
    if node.kind == NodeKind.DATASET:
        return []
    return node.statuses or default_statuses(node.kind)


def node_status_keys(node: Node) -> list[str]:
    if node.kind == NodeKind.DATASET:
        return [""]
    return [s["key"] for s in node_statuses(node)]


def task_name_for(node: Node) -> str:
    # Prefixed so two pipelines' nodes of one name do not claim the same task name.
    return f"{node.pipeline.name} · {node.name}"[:200]


# ---------------------------------------------------------------- validation


def _editable(pipeline: Pipeline) -> None:
    # Read from the database: the caller's copy may predate an install.
    if Pipeline.objects.filter(pk=pipeline.pk, state=PipelineState.INSTALLED).exists():
        raise ValidationError({"state": "Pause the pipeline before changing its nodes or connections."})


def _clean_statuses(statuses, errors: dict, field: str = "statuses") -> list[dict]:
    if not statuses:
        return []
    if not isinstance(statuses, list):
        errors[field] = "Statuses are a list."
        return []
    cleaned, seen = [], set()
    for s in statuses:
        key = (s.get("key") if isinstance(s, dict) else s) or ""
        key = str(key).strip()
        if not key or len(key) > 50:
            errors[field] = "Each status needs a name of 1 to 50 characters."
            return []
        if key in seen:
            errors[field] = f"The status {key!r} is listed twice."
            return []
        seen.add(key)
        s = s if isinstance(s, dict) else {}
        cleaned.append(
            {
                "key": key,
                "label": str(s.get("label") or key)[:100],
                "color": str(s.get("color") or "#607d8b")[:7],
                "is_done": bool(s.get("is_done", key != REWORK_STATUS)),
            }
        )
    return cleaned


def _clean_workload(*, project, workload, errors: dict, field: str = "workload") -> list[WorkloadUnit]:
    try:
        return workload_build(project=project, workload=list(workload or []), assignees=None, field=field)
    except ValidationError as e:
        errors[field] = next(iter(e.message_dict.values()))[0]
        return []


def _clean_node(*, pipeline: Pipeline, fields: dict, errors: dict, prefix: str = "") -> dict:
    """Check a node's settings; put problems in `errors` under `prefix + field`."""
    project = pipeline.project
    out = dict(fields)
    kind = fields.get("kind")
    if kind not in NodeKind.values:
        errors[prefix + "kind"] = "Choose a node kind: dataset, annotation task or QA task."
        return out
    name = (fields.get("name") or "").strip()
    if not name:
        errors[prefix + "name"] = "A node needs a name."
    elif len(name) > 200:
        errors[prefix + "name"] = "At most 200 characters."
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
    priority = fields.get("priority", 2)
    if priority not in (1, 2, 3) or isinstance(priority, bool):
        errors[prefix + "priority"] = "Priority is 1 (low), 2 (medium) or 3 (high)."
    due_at = fields.get("due_at")
    if due_at is not None and not isinstance(due_at, datetime.datetime):
        errors[prefix + "due_at"] = "Enter a date and time."
    batch, most = fields.get("batch_size"), fields.get("max_batch_workload")
    if (batch is None) != (most is None):
        errors[prefix + "batch_size"] = "Give both the batch size and the maximum batch workload, or neither."
    elif batch is not None:
        if not isinstance(batch, int) or not BATCH_SIZE_MIN <= batch <= BATCH_SIZE_MAX:
            errors[prefix + "batch_size"] = f"Batch size is from {BATCH_SIZE_MIN} to {BATCH_SIZE_MAX}."
        elif not isinstance(most, int) or not batch + 2 <= most <= 2 * batch:
            errors[prefix + "max_batch_workload"] = (
                f"Maximum batch workload is from {batch + 2} to {2 * batch} for a batch of {batch}."
            )
    out["statuses"] = _clean_statuses(fields.get("statuses"), errors, field=prefix + "statuses")
    return out


def _check_graph(nodes: dict, edges: list[tuple], errors: dict, field: str = "target") -> None:
    """`edges` are (source key, target key, rework). Any cycle must pass a rework edge."""
    graph = defaultdict(list)
    for source, target, rework in edges:
        if not rework:
            graph[source].append(target)
    state: dict = {}

    def visit(n) -> bool:
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


def _connection_errors(*, source: Node, target: Node, status: str, rework: bool, field_prefix: str = "") -> dict:
    errors = {}
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


# ---------------------------------------------------------------- building


@transaction.atomic
def pipeline_create(*, project, name: str, by, description: str = "") -> Pipeline:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "A pipeline needs a name."})
    if len(name) > 200:
        raise ValidationError({"name": "At most 200 characters."})
    if Pipeline.objects.filter(project=project, name=name).exists():
        raise ValidationError({"name": f"This project already has a pipeline named {name!r}."})
    return Pipeline.objects.create(project=project, name=name, description=description, created_by=by)


@transaction.atomic
def pipeline_update(*, pipeline: Pipeline, by, name: str | None = None, description: str | None = None) -> Pipeline:
    if name is not None:
        name = name.strip()
        if not name or len(name) > 200:
            raise ValidationError({"name": "A pipeline needs a name of 1 to 200 characters."})
        if Pipeline.objects.filter(project=pipeline.project_id, name=name).exclude(pk=pipeline.pk).exists():
            raise ValidationError({"name": f"This project already has a pipeline named {name!r}."})
        pipeline.name = name
    if description is not None:
        pipeline.description = description
    pipeline.save(update_fields=["name", "description", "updated_at"])
    return pipeline


@transaction.atomic
def pipeline_delete(*, pipeline: Pipeline, by) -> None:
    """The pipeline and its record of moves go; the tasks it made stay with their work."""
    _editable(pipeline)
    pipeline.delete()


def _node_defaults(fields: dict, by) -> dict:
    fields = dict(fields)
    fields.setdefault("priority", 2)
    if fields.get("kind") in TASK_KINDS:
        if fields.get("recipe") is None and fields.get("dataset") is not None:
            fields["recipe"] = fields["dataset"].default_recipe
        if fields.get("owner") is None:
            fields["owner"] = by
    return fields


def _save_node(node: Node, cleaned: dict, *, raw_sync: bool = True) -> Node:
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
    by,
    kind: str,
    name: str,
    column: int,
    row: int,
    dataset=None,
    folder="",
    recipe=None,
    owner=None,
    workload: list[WorkloadUnit] | None = None,
    due_at=None,
    priority=2,
    batch_size=None,
    max_batch_workload=None,
    statuses: list[dict] | None = None,
) -> Node:
    _editable(pipeline)
    fields = _node_defaults(
        dict(
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
    errors: dict = {}
    cleaned = _clean_node(pipeline=pipeline, fields=fields, errors=errors)
    if "column" not in errors and "row" not in errors and _cell_taken(pipeline, column, row):
        errors["column"] = f"Another node sits at column {column}, row {row}."
    if errors:
        raise ValidationError(errors)
    return _save_node(Node(pipeline=pipeline), cleaned)


@transaction.atomic
def node_update(*, node: Node, by, **fields) -> Node:
    """Change a node's settings; fields not given keep their values."""
    _editable(node.pipeline)
    current = {
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
    unknown = set(fields) - set(current)
    if unknown:
        raise ValidationError({sorted(unknown)[0]: "Not a node setting."})
    if node.task_id and "kind" in fields and fields["kind"] != node.kind:
        raise ValidationError({"kind": "This node already has a task; make a new node instead."})
    if node.task_id and "dataset" in fields and fields["dataset"] != node.dataset:
        raise ValidationError({"dataset": "This node already has a task on its dataset; make a new node instead."})
    merged = _node_defaults({**current, **fields}, by)
    errors: dict = {}
    cleaned = _clean_node(pipeline=node.pipeline, fields=merged, errors=errors)
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
        _task_sync(node, current, cleaned, by)
    return _save_node(node, cleaned)


def _task_sync(node: Node, before: dict, after: dict, by) -> None:
    """A node that already made its task passes setting changes on to it."""
    from taskboard.annotation import services as core

    changes = {}
    for key in ("owner", "priority"):
        if after.get(key) != before.get(key):
            changes[key] = after.get(key)
    if after.get("due_at") is not None and after["due_at"] != before.get("due_at"):
        changes["due_at"] = after["due_at"]
    if (after.get("statuses") or []) != (before.get("statuses") or []):
        changes["statuses"] = after.get("statuses") or default_statuses(node.kind)
    if changes:
        core.task_update(task=node.task, by=by, **changes)


@transaction.atomic
def node_move(*, node: Node, column: int, row: int, by) -> Node:
    return node_update(node=node, by=by, column=column, row=row)


@transaction.atomic
def node_delete(*, node: Node, by) -> None:
    """The node and its connections go; its task, if it made one, stays."""
    _editable(node.pipeline)
    node.delete()


@transaction.atomic
def connection_add(
    *, pipeline: Pipeline, source: Node, target: Node, status: str, by, rework: bool = False, condition=None
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
        _check_graph({n.pk: n for n in pipeline.nodes.all()}, edges, errors)
    if errors:
        raise ValidationError(errors)
    return Connection.objects.create(
        pipeline=pipeline, source=source, target=target, status=status, rework=rework, condition=condition
    )


@transaction.atomic
def connection_delete(*, connection: Connection, by) -> None:
    _editable(connection.pipeline)
    connection.delete()


# ---------------------------------------------------------------- install, pause, run


def _upstream(node: Node) -> Node | None:
    """The annotation node a QA node reviews: the first one connected into it."""
    conn = (
        Connection.objects.filter(target=node, source__kind=NodeKind.ANNOTATION, rework=False)
        .select_related("source")
        .order_by("id")
        .first()
    )
    return conn.source if conn else None


def _existing_task(node: Node) -> AnnotationTask | None:
    """A task this node may reuse: the one of its name, if it fits the node."""
    name = task_name_for(node)
    existing = AnnotationTask.objects.filter(project_id=node.pipeline.project_id, name=name).first()
    if existing is not None and (existing.dataset_id != node.dataset_id or existing.type != node.task_type):
        raise ValidationError(
            {"name": f"A task named {name!r} exists on another dataset or of another type; rename the node."}
        )
    return existing


def _task_for_node(node: Node, by) -> AnnotationTask:
    """Make the node's task, empty: routing fills it. Every rule of task creation is checked here."""
    from taskboard.annotation import services as core

    parent = None
    if node.kind == NodeKind.QA:
        upstream = _upstream(node)
        if upstream is None or upstream.task_id is None:
            raise ValidationError({"source": "A QA node needs an annotation node connected into it."})
        parent = upstream.task
    workload = [WorkloadUnit(w.assignee, w.load) for w in node.workload.select_related("assignee")]
    due_at = node.due_at or timezone.now() + datetime.timedelta(days=7)
    pulling = node.batch_size is not None
    return core.task_create(
        dataset=node.dataset,
        created_by=by,
        name=task_name_for(node),
        # Routing decides what enters, never the task's own query.
        empty=True,
        task_type=node.task_type,
        parent=parent,
        workload=None if pulling else workload,
        assignees=[unit.user for unit in workload] if pulling else None,
        due_at=due_at,
        priority=node.priority,
        recipe=node.recipe,
        owner=node.owner,
        allocation="pulling" if pulling else "distribution",
        batch_size=node.batch_size,
        max_batch_workload=node.max_batch_workload,
        statuses=node.statuses or None,
        # Routing decides what enters the QA task, so the task does not take parent items itself.
        qa_intake=False,
        metadata={"pipeline": node.pipeline_id, "node": node.node_uid},
        description=f"Made by pipeline {node.pipeline.name!r}.",
    )


# Task creation's fields, as the node names them.
_TASK_FIELD_TO_NODE = {"assignees": "workload", "allowed_assignees": "workload", "parent": "source"}


def _install_tasks(pipeline: Pipeline, by) -> None:
    """Make or reuse each task node's task; refuse, naming the node, what a task cannot be made of."""
    errors: dict = {}
    for node in _ordered_task_nodes(pipeline):
        node.pipeline = pipeline
        task = node.task if node.task_id else None
        try:
            if task is None:
                with transaction.atomic():
                    task = _existing_task(node) or _task_for_node(node, by)
                node.task = task
                node.save(update_fields=["task"])
        except ValidationError as e:
            for field, messages in e.message_dict.items():
                errors.setdefault(_TASK_FIELD_TO_NODE.get(field, field), f"{node.name}: {' '.join(messages)}")
            continue
        if task.is_closed:
            errors.setdefault("task", f"{node.name}: its task {task.name!r} is closed; it takes no more items.")
    if errors:
        raise ValidationError(errors)


def pipeline_problems(pipeline: Pipeline) -> dict:
    """What stops this pipeline from being installed, by field; {} when it can be."""
    errors: dict = {}
    nodes = list(pipeline.nodes.select_related("dataset", "recipe", "owner", "pipeline__project"))
    if not any(n.is_task for n in nodes):
        errors["nodes"] = "Add at least one task node."
    for node in nodes:
        fields = {
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
        node_errors: dict = {}
        _clean_node(pipeline=pipeline, fields=fields, errors=node_errors)
        if node.is_task and node.due_at is not None and node.due_at <= timezone.now():
            node_errors["due_at"] = "The due date has passed."
        if node.kind == NodeKind.QA and _upstream(node) is None:
            node_errors["source"] = "A QA node needs an annotation node connected into it."
        if node.is_task and not node_errors:
            try:
                _existing_task(node)
            except ValidationError as e:
                node_errors.update({k: v[0] for k, v in e.message_dict.items()})
        for field, message in node_errors.items():
            errors.setdefault(field, f"{node.name}: {message}")
    return errors


def _ordered_task_nodes(pipeline: Pipeline) -> list[Node]:
    # Annotation nodes first: a QA node's task is made over its upstream's task.
    nodes = list(pipeline.nodes.filter(kind__in=TASK_KINDS).select_related("dataset", "recipe", "owner", "task"))
    return sorted(nodes, key=lambda n: (n.kind == NodeKind.QA, n.column, n.row, n.pk))


@transaction.atomic
def pipeline_install(*, pipeline: Pipeline, by) -> Pipeline:
    """Make or reuse each task node's task, start routing, and catch up on what waited."""
    from taskboard.pipelines import tasks

    given, pipeline = pipeline, Pipeline.objects.select_for_update().select_related("project").get(pk=pipeline.pk)
    if pipeline.state == PipelineState.INSTALLED:
        return pipeline
    problems = pipeline_problems(pipeline)
    if problems:
        raise ValidationError(problems)
    # Each task node's task now, with its rules checked: not at the first item that arrives.
    _install_tasks(pipeline, by)
    pipeline.state = PipelineState.INSTALLED
    pipeline.installed_by = by
    pipeline.installed_at = timezone.now()
    # Uploads enter from the first install on (those made while paused enter at the next install).
    pipeline.intake_since = pipeline.intake_since or pipeline.installed_at
    pipeline.save(update_fields=["state", "installed_by", "installed_at", "intake_since", "updated_at"])
    pipeline_id = pipeline.pk
    transaction.on_commit(lambda: send_routing(tasks.pipeline_catch_up, kind="catch_up", pipeline_id=pipeline_id))
    given.refresh_from_db()
    return given


@transaction.atomic
def pipeline_pause(*, pipeline: Pipeline, by) -> Pipeline:
    given, pipeline = pipeline, Pipeline.objects.select_for_update().get(pk=pipeline.pk)
    if pipeline.state != PipelineState.INSTALLED:
        raise ValidationError({"state": "Only an installed pipeline can be paused."})
    pipeline.state = PipelineState.PAUSED
    pipeline.save(update_fields=["state", "updated_at"])
    given.refresh_from_db()
    return given


@dataclass(frozen=True)
class RunResult:
    added: int
    skipped: int
    # A big run goes through a job: nothing is added yet, `entering` items will be.
    job: Job | None = None
    entering: int = 0


def _entry_nodes(pipeline: Pipeline) -> list[tuple[Node | None, Node]]:
    """(dataset node or None, task node) pairs where items enter the pipeline."""
    conns = list(
        Connection.objects.filter(pipeline=pipeline, source__kind=NodeKind.DATASET)
        .select_related("source", "target", "target__task")
        .order_by("id")
    )
    if conns:
        return [(c.source, c.target) for c in conns]
    # No dataset node (the SDK's TaskNode alone): the start node, or the first task node.
    start = [s.get("nodeId") for s in (pipeline.extra.get("startNodes") or []) if isinstance(s, dict)]
    nodes = list(pipeline.nodes.filter(kind=NodeKind.ANNOTATION).select_related("task").order_by("column", "row"))
    nodes.sort(key=lambda n: n.node_uid not in start)
    return [(None, nodes[0])] if nodes else []


def _entry_q(source: Node | None) -> Q:
    """The items a dataset node lets in: its folder and subfolders ("/city" is not "/cityscape")."""
    if source is None or not source.folder:
        return Q()
    return folder_q(source.folder, include_subfolders=True)


@dataclass
class _Entry:
    source: Node | None
    target: Node
    within: Q
    new: int
    skipped: int


def _entries_planned(pipeline: Pipeline, selection: Selection) -> list[_Entry]:
    """What a run would add at each entry: counts only, in two COUNT queries per entry."""
    from taskboard.annotation.selection import select_items

    planned, refusal = [], None
    for source, target in _entry_nodes(pipeline):
        dataset = source.dataset if source is not None else target.dataset
        if target.dataset_id != dataset.pk:
            continue
        if target.task_id is None:
            raise ValidationError(
                {"nodes": f"{target.name} has no task (was it deleted?); pause and install the pipeline again."}
            )
        try:
            items = select_items(dataset=dataset, selection=selection)
        except ValidationError as e:
            # Listed items of another dataset belong to another entry.
            if selection.mode != "list":
                raise
            refusal = refusal or e
            continue
        within = _entry_q(source)
        items = items.filter(within)
        in_task = TaskItem.objects.filter(task_id=target.task_id).values("item_id")
        skipped = items.filter(id__in=in_task).count()
        new = items.exclude(id__in=in_task).count()
        planned.append(_Entry(source=source, target=target, within=within, new=new, skipped=skipped))
    if not planned and refusal is not None:
        raise refusal
    return planned


@transaction.atomic
def pipeline_run(
    *, pipeline: Pipeline, selection: Selection, by, job_id: str = "", progress=None, in_job: bool = False
) -> RunResult:
    """Items of the selection enter at the dataset node: into the first task node's task, by its workload.

    Set-based (INSERT … SELECT, never a list of ids); a run of TASK_JOB_THRESHOLD items or more is
    handed to a job with progress unless this is that job (`in_job`)."""
    from taskboard.jobs import services as job_services

    pipeline = Pipeline.objects.select_for_update().get(pk=pipeline.pk)
    if pipeline.state != PipelineState.INSTALLED:
        raise ValidationError({"state": "Install the pipeline before running items through it."})
    if not _entry_nodes(pipeline):
        raise ValidationError({"nodes": "The pipeline has no task node for items to enter."})
    planned = _entries_planned(pipeline, selection)
    total = sum(e.new for e in planned)
    skipped = sum(e.skipped for e in planned)
    if not total and not skipped:
        raise ValidationError({"selection": "No items match."})
    if total >= settings.TASK_JOB_THRESHOLD and not in_job:
        job = job_services.job_create(
            kind="pipeline_run",
            params={"pipeline": pipeline.pk, "selection": selection.to_json(), "by": getattr(by, "pk", None)},
            project=pipeline.project,
            created_by=by,
            total=total,
        )
        job_services.job_enqueue(job=job)
        return RunResult(added=0, skipped=skipped, job=job, entering=total)
    added = 0
    if progress:
        progress(0, total)
    for entry in planned:
        if not entry.new:
            continue
        added += _enter(
            pipeline,
            entry,
            selection=selection,
            by=by,
            job_id=job_id,
            progress=(lambda n, base=added: progress(base + n, total)) if progress else None,
        )
    return RunResult(added=added, skipped=skipped)


def _enter(pipeline: Pipeline, entry: _Entry, *, selection: Selection, by, job_id: str, progress=None) -> int:
    """Add an entry's new items to its task by the node's workload and record a move for each, set-based."""
    target = entry.target
    # Locked before the rank is read: the rows above it are this entry's, whoever else adds items.
    task = AnnotationTask.objects.select_for_update().get(pk=target.task_id)
    offset = TaskItem.objects.filter(task=task).aggregate(m=Max("rank"))["m"] or 0
    _add_by_workload(
        target, selection=selection, within=entry.within, count=entry.new, by=by, progress=progress, task=task
    )
    return _record_moves(
        pipeline=pipeline, source=entry.source, target=target, task=task, after_rank=offset, job_id=job_id, by=by
    )


def _record_moves(*, pipeline, source, target, task, after_rank: int, job_id: str, by) -> int:
    """One entry move per item added to `task` above `after_rank`: INSERT … SELECT, replays ignored."""
    ops = db_connection.ops
    now = ops.adapt_datetimefield_value(timezone.now())
    sql = (
        f"INSERT INTO {Move._meta.db_table} "
        "(pipeline_id, item_id, from_node_id, to_node_id, status, status_at, at, job_id, by_id) "
        f"SELECT %s, ti.item_id, %s, %s, '', %s, %s, %s, %s FROM {TaskItem._meta.db_table} ti "
        "WHERE ti.task_id = %s AND ti.rank > %s AND ti.copy = 0 "
        "ON CONFLICT DO NOTHING"
    )
    params = [
        pipeline.pk,
        source.pk if source is not None else None,
        target.pk,
        now,
        now,
        job_id[:64],
        getattr(by, "pk", None),
        task.pk,
        after_rank,
    ]
    with db_connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


# ---------------------------------------------------------------- uploads


def pipelines_watching(dataset: Dataset):
    """Installed pipelines with a dataset node on `dataset`: where its new items enter."""
    return Pipeline.objects.filter(
        state=PipelineState.INSTALLED, nodes__kind=NodeKind.DATASET, nodes__dataset=dataset
    ).distinct()


def intake_enqueue(*, pipeline: Pipeline, count: int, by=None) -> Job | None:
    """After the commit, take a dataset's new items into `pipeline`: a job with progress for a big
    import, else a routing task. Either runs `pipeline_intake`, which is safe to run twice."""
    from taskboard.jobs import services as job_services
    from taskboard.pipelines import tasks

    if count >= settings.TASK_JOB_THRESHOLD:
        job = job_services.job_create(
            kind="pipeline_intake",
            params={"pipeline": pipeline.pk},
            project=pipeline.project,
            created_by=by,
            total=count,
        )
        job_services.job_enqueue(job=job)
        return job
    pipeline_id = pipeline.pk
    transaction.on_commit(lambda: send_routing(tasks.pipeline_intake, kind="intake", pipeline_id=pipeline_id))
    return None


def _intake_entries(pipeline: Pipeline, *, count: bool = True) -> list[_Entry]:
    """Per dataset node: the items uploaded into its folder since the pipeline was first installed
    (and the node made) that have not entered yet, and how many of them are new to the task."""
    planned = []
    if pipeline.intake_since is None:
        return planned
    for source, target in _entry_nodes(pipeline):
        if source is None or source.dataset_id != target.dataset_id or target.task_id is None:
            continue
        since = max(pipeline.intake_since, source.created_at)
        entered = Move.objects.filter(from_node=source, to_node=target, status="", item_id=OuterRef("pk"))
        within = _entry_q(source) & Q(created_at__gte=since) & ~Q(Exists(entered))
        new = 0
        if count:
            items = Item.objects.filter(dataset_id=source.dataset_id).filter(within)
            in_task = TaskItem.objects.filter(task_id=target.task_id).values("item_id")
            new = items.exclude(id__in=in_task).count()
        planned.append(_Entry(source=source, target=target, within=within, new=new, skipped=0))
    return planned


@transaction.atomic
def pipeline_intake(*, pipeline: Pipeline, job_id: str = "", progress=None) -> int:
    """New uploads (and those that arrived while paused) enter at the dataset nodes, set-based.
    Nothing enters twice: an item with an entry move, or already in the task, is left alone."""
    pipeline = Pipeline.objects.select_for_update().filter(pk=pipeline.pk, state=PipelineState.INSTALLED).first()
    if pipeline is None or pipeline.intake_since is None:
        return 0
    planned = _intake_entries(pipeline)
    total = sum(e.new for e in planned)
    if progress:
        progress(0, total)
    added = 0
    for entry in planned:
        if entry.new:
            try:
                with transaction.atomic():
                    added += _enter(
                        pipeline,
                        entry,
                        selection=Selection(mode="all"),
                        by=pipeline.installed_by,
                        job_id=job_id,
                        progress=(lambda n, base=added: progress(base + n, total)) if progress else None,
                    )
            except TRANSIENT_ERRORS:
                raise
            except Exception as exc:
                if not isinstance(exc, ValidationError):
                    logger.exception("pipeline %s: new items could not enter %s", pipeline.pk, entry.target.pk)
                step_failed(
                    pipeline_id=pipeline.pk,
                    from_node_id=entry.source.pk,
                    to_node_id=entry.target.pk,
                    status="",
                    error=f"New items could not enter {entry.target.name}: {failure_reason(exc)}",
                    job_id=job_id,
                )
                continue
        # Everything new entered (or nothing was waiting): an earlier failure here is over.
        FailedStep.objects.filter(pipeline=pipeline, from_node=entry.source, to_node=entry.target, status="").delete()
    return added


# ---------------------------------------------------------------- routing


def _add_by_workload(
    node: Node, *, selection: Selection, count: int, by, within: Q | None = None, progress=None, task=None
) -> None:
    """Add `count` new items (the selection, narrowed by `within`, not yet in the node's task): to
    the pulling queue, or split by the node's workload balanced against what each person already
    holds there, in (dir, name, id) order. One INSERT … SELECT per person."""
    from taskboard.annotation import services as core

    if count <= 0:
        return
    if node.task_id is None:
        raise ValidationError(
            {"task": f"{node.name} has no task (was it deleted?); pause and install the pipeline again to make one."}
        )
    task = task or node.task
    units = list(node.workload.select_related("assignee").order_by("id"))
    if task.is_pulling or not units:
        core.task_add_items(task=task, selection=selection, within=within, by=by, to_queue=task.is_pulling)
        _hand_out_batches(task)
        if progress:
            progress(count)
        return
    held = dict(
        Assignment.objects.filter(
            task=task, kind=AssignmentKind.WORK, assignee__in=[u.assignee_id for u in units]
        ).values_list("assignee_id", "item_count")
    )
    current = [held.get(u.assignee_id, 0) for u in units]
    targets = split_counts(sum(current) + count, [u.load for u in units])
    deficits = [max(0, t - c) for t, c in zip(targets, current, strict=True)]
    counts = split_counts(count, deficits if sum(deficits) else [u.load for u in units])
    done = 0
    for unit, n in zip(units, counts, strict=True):
        if not n:
            continue
        # Each call takes the first `n` items not in the task yet: the next contiguous run.
        core.task_add_items(
            task=task,
            selection=selection,
            within=within,
            by=by,
            workload=[WorkloadUnit(unit.assignee, 100)],
            limit=n,
        )
        done += n
        if progress:
            progress(done)


def _hand_out_batches(task: AnnotationTask) -> None:
    """A pulling task hands each of its people a batch when their undone items are low, as at creation."""
    from taskboard.annotation import services as core

    if not task.is_pulling:
        return
    for entry in task.workload.select_related("assignee").order_by("id"):
        core.pulling_claim(task=task, user=entry.assignee)


def _reopen(task: AnnotationTask, item_ids: list[int]) -> None:
    """Rework: items routed back into a task that holds them become to do again."""
    from taskboard.annotation import services as core

    rows = TaskItem.objects.filter(task=task, item_id__in=item_ids, status__isnull=False).select_related(
        "assignment__assignee", "item"
    )
    for row in rows:
        holder = row.assignment.assignee
        core.item_status_clear(task=task, item=row.item, by=holder, copy=row.copy)


def _route(connection: Connection, rows: list[tuple[int, datetime.datetime]], *, by, job_id: str) -> int:
    """Move (item id, status time) pairs along one connection; pairs already moved are skipped."""
    source, target = connection.source, connection.target
    if not rows:
        return 0
    ids_ = [item_id for item_id, _ in rows]
    done = set(
        Move.objects.filter(from_node=source, to_node=target, status=connection.status, item_id__in=ids_).values_list(
            "item_id", "status_at"
        )
    )
    todo = {}
    for item_id, at in rows:
        if (item_id, at) not in done:
            todo.setdefault(item_id, at)
    if not todo:
        return 0
    in_task = set(
        TaskItem.objects.filter(task_id=target.task_id, item_id__in=list(todo)).values_list("item_id", flat=True)
    )
    new_ids = [pk for pk in todo if pk not in in_task]
    if new_ids:
        _add_by_workload(target, selection=Selection(mode="list", item_ids=tuple(new_ids)), count=len(new_ids), by=by)
    if in_task and connection.rework:
        _reopen(target.task, list(in_task))
    Move.objects.bulk_create(
        [
            Move(
                pipeline_id=connection.pipeline_id,
                item_id=pk,
                from_node=source,
                to_node=target,
                status=connection.status,
                status_at=at,
                job_id=job_id,
                by=by,
            )
            for pk, at in todo.items()
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )
    return len(todo)


@transaction.atomic
def item_route(*, task_item_id: int, status: str, status_at: datetime.datetime, job_id: str = "") -> int:
    """The routing job for one status change. Safe to run twice; a superseded change moves nothing.

    A step that cannot be made (a workload person left, the next task was closed) is recorded as
    a FailedStep with its reason and the other connections still route; the database being busy
    is raised, for the Celery task to retry."""
    row = TaskItem.objects.filter(pk=task_item_id).first()
    if row is None or row.status != status or row.status_at != status_at:
        return 0
    pipeline_ids = list(
        Connection.objects.filter(source__task_id=row.task_id, status=status)
        .values_list("pipeline_id", flat=True)
        .distinct()
    )
    moved = 0
    # Locked so a concurrent pause or a second copy of this job waits for this one.
    for pipeline in Pipeline.objects.select_for_update().filter(pk__in=pipeline_ids, state=PipelineState.INSTALLED):
        connections = Connection.objects.filter(
            pipeline=pipeline, source__task_id=row.task_id, status=status
        ).select_related("source", "target", "target__task")
        for connection in connections:
            rows = [(row.item_id, row.status_at)]
            moved += _route_step(connection, rows, by=pipeline.installed_by, job_id=job_id, item_id=row.item_id) or 0
    return moved


def _waiting_rows(connection: Connection):
    """The source task's rows with the connection's status and no move along it yet."""
    return TaskItem.objects.filter(task_id=connection.source.task_id, status=connection.status).exclude(
        Exists(
            Move.objects.filter(
                from_node_id=connection.source_id,
                to_node_id=connection.target_id,
                status=connection.status,
                item_id=OuterRef("item_id"),
                status_at=OuterRef("status_at"),
            )
        )
    )


@transaction.atomic
def pipeline_catch_up(*, pipeline: Pipeline, job_id: str = "") -> int:
    """After an install or a retry: take in the uploads that arrived while paused, then route every
    item whose status has an outgoing connection and no move yet. A step that fails is recorded and
    the others go on."""
    pipeline = Pipeline.objects.select_for_update().filter(pk=pipeline.pk, state=PipelineState.INSTALLED).first()
    if pipeline is None:
        return 0
    moved = pipeline_intake(pipeline=pipeline, job_id=job_id)
    connections = (
        Connection.objects.filter(pipeline=pipeline, source__task__isnull=False)
        .exclude(source__kind=NodeKind.DATASET)
        .select_related("source", "target", "target__task")
        .order_by("id")
    )
    for connection in connections:
        pending = _waiting_rows(connection).order_by("item_id").values_list("item_id", "status_at")
        rows = list(pending[:ROUTE_BATCH])
        while rows:
            routed = _route_step(connection, rows, by=pipeline.installed_by, job_id=job_id)
            if routed is None:
                break  # recorded; the next retry starts again from the first waiting item
            moved += routed
            if len(rows) < ROUTE_BATCH:
                break
            rows = list(pending.filter(item_id__gt=rows[-1][0])[:ROUTE_BATCH])
    # Steps whose items all moved (or no longer wait: a status changed, a connection went) are done.
    for step in FailedStep.objects.filter(pipeline=pipeline).select_related("from_node", "to_node"):
        if not step_waiting(step, cap=1):
            step.delete()
    return moved


# ---------------------------------------------------------------- failed steps

# The database was busy (a lock, a deadlock, a serialization failure) or away: worth retrying.
TRANSIENT_ERRORS = (OperationalError, InterfaceError)
WAITING_CAP = 10_000


def failure_reason(exc: BaseException, *, tries: int | None = None) -> str:
    """What a manager can act on: the rule that refused the move, or what went wrong."""
    if isinstance(exc, ValidationError):
        return " ".join(exc.messages)
    if isinstance(exc, RoutingNotQueued):
        return f"{exc} Nothing moved; press Retry once the queue is back."
    if isinstance(exc, TRANSIENT_ERRORS):
        tried = f" after {tries} tries" if tries else ""
        return (
            f"The database was busy or unreachable ({exc.__class__.__name__}){tried}. "
            "Press Retry, or install the pipeline again."
        )
    return f"Something went wrong ({exc.__class__.__name__}); the log has the details. Press Retry once it is fixed."


def step_failed(
    *,
    pipeline_id: int,
    from_node_id: int | None,
    to_node_id: int,
    status: str,
    error: str,
    item_id: int | None = None,
    job_id: str = "",
    transient: bool = False,
) -> None:
    """Record (or count again) a failed routing step. Never raises: recording must not hide the cause."""
    now = timezone.now()
    key = {"pipeline_id": pipeline_id, "from_node_id": from_node_id, "to_node_id": to_node_id, "status": status}
    fields = {"error": error[:2000], "job_id": (job_id or "")[:64], "transient": transient, "last_failed_at": now}
    if item_id is not None:
        fields["item_id"] = item_id
    try:
        with transaction.atomic():
            if not FailedStep.objects.filter(**key).update(attempts=F("attempts") + 1, **fields):
                try:
                    with transaction.atomic():
                        FailedStep.objects.create(**key, first_failed_at=now, **fields)
                except IntegrityError:
                    # Recorded meanwhile by another worker, or a node was deleted.
                    FailedStep.objects.filter(**key).update(attempts=F("attempts") + 1, **fields)
    except Exception:
        logger.exception("pipeline %s: the failed step %s could not be recorded", pipeline_id, key)


def step_waiting(step: FailedStep, *, cap: int = WAITING_CAP) -> int:
    """How many items the step holds up now (at most `cap`)."""
    source, target = step.from_node, step.to_node
    if target is None:
        return 0
    if source is None:
        return 0
    if source.kind == NodeKind.DATASET:
        entries = _intake_entries(step.pipeline, count=False)
        entry = next((e for e in entries if e.target.pk == target.pk and e.source.pk == source.pk), None)
        if entry is None:
            return 0
        waiting = Item.objects.filter(dataset_id=target.dataset_id).filter(entry.within)
        waiting = waiting.exclude(id__in=TaskItem.objects.filter(task_id=target.task_id).values("item_id"))
        return waiting.values("pk")[:cap].count()
    connection = Connection.objects.filter(source=source, target=target, status=step.status).first()
    if connection is None or source.task_id is None:
        return 0
    return _waiting_rows(connection).values("pk")[:cap].count()


def _clear_if_done(*, pipeline_id: int, source: Node | None, target: Node, status: str, waiting) -> None:
    steps = FailedStep.objects.filter(pipeline_id=pipeline_id, from_node=source, to_node=target, status=status)
    if steps.exists() and not waiting().exists():
        steps.delete()


def _route_step(connection: Connection, rows, *, by, job_id: str, item_id: int | None = None) -> int | None:
    """One connection's moves in a savepoint: a refusal is recorded as a failed step (None is
    returned) and the rest of the routing goes on; the database being busy is raised, to retry."""
    try:
        with transaction.atomic():
            moved = _route(connection, rows, by=by, job_id=job_id)
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        if not isinstance(exc, ValidationError):
            logger.exception("pipeline %s: routing along connection %s failed", connection.pipeline_id, connection.pk)
        step_failed(
            pipeline_id=connection.pipeline_id,
            from_node_id=connection.source_id,
            to_node_id=connection.target_id,
            status=connection.status,
            error=f"Could not move into {connection.target.name}: {failure_reason(exc)}",
            item_id=item_id,
            job_id=job_id,
        )
        return None
    _clear_if_done(
        pipeline_id=connection.pipeline_id,
        source=connection.source,
        target=connection.target,
        status=connection.status,
        waiting=lambda: _waiting_rows(connection),
    )
    return moved


def routing_job_failed(*, kind: str, kwargs: dict, exc: BaseException, tries: int | None = None, job_id: str = ""):
    """A routing task gave up (the retries ran out, or the broker could not take it): record the
    steps it was to make, so the manager sees them and can retry."""
    error = failure_reason(exc, tries=tries)
    transient = isinstance(exc, (*TRANSIENT_ERRORS, RoutingNotQueued))
    steps: list[tuple[int, int | None, int, str, int | None]] = []
    if kind == "route":
        row = TaskItem.objects.filter(pk=kwargs.get("task_item_id")).first()
        if row is not None:
            for c in Connection.objects.filter(
                source__task_id=row.task_id, status=kwargs.get("status"), pipeline__state=PipelineState.INSTALLED
            ):
                steps.append((c.pipeline_id, c.source_id, c.target_id, c.status, row.item_id))
    else:
        pipeline = Pipeline.objects.filter(pk=kwargs.get("pipeline_id")).first()
        if pipeline is not None:
            for source, target in _entry_nodes(pipeline):
                if source is not None:
                    steps.append((pipeline.pk, source.pk, target.pk, "", None))
            if kind == "catch_up":
                for c in pipeline.connections.exclude(source__kind=NodeKind.DATASET):
                    steps.append((pipeline.pk, c.source_id, c.target_id, c.status, None))
    for pipeline_id, from_id, to_id, status, item_id in steps:
        step_failed(
            pipeline_id=pipeline_id,
            from_node_id=from_id,
            to_node_id=to_id,
            status=status,
            error=error,
            item_id=item_id,
            job_id=job_id,
            transient=transient,
        )


def send_routing(task, *, kind: str, **kwargs) -> None:
    """Hand a routing task to Celery (after the commit). A broker that cannot be reached does not
    fail the request that made the change: the steps are recorded as failed, for a retry."""
    try:
        task.delay(**kwargs)
    except (KombuError, OSError) as exc:
        logger.warning("pipelines: the broker is unreachable; %s %s recorded as failed", kind, kwargs)
        routing_job_failed(kind=kind, kwargs=kwargs, exc=RoutingNotQueued(exc))


class RoutingNotQueued(Exception):
    def __init__(self, cause: BaseException):
        super().__init__(f"The job queue could not be reached ({cause.__class__.__name__}).")


@transaction.atomic
def pipeline_retry(*, pipeline: Pipeline, by) -> int:
    """Re-run what is stuck, after the cause is fixed: the catch-up moves every waiting item once
    (moves are unique per routing step). Returns how many failed steps there were."""
    from taskboard.pipelines import tasks

    pipeline = Pipeline.objects.select_for_update().get(pk=pipeline.pk)
    if pipeline.state != PipelineState.INSTALLED:
        raise ValidationError({"state": "Install the pipeline to retry: installing moves everything that waits."})
    failed = FailedStep.objects.filter(pipeline=pipeline).count()
    pipeline_id = pipeline.pk
    transaction.on_commit(lambda: send_routing(tasks.pipeline_catch_up, kind="catch_up", pipeline_id=pipeline_id))
    return failed


# ---------------------------------------------------------------- Dataloop JSON


def _ms_to_datetime(value) -> datetime.datetime | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError
    return datetime.datetime.fromtimestamp(value / 1000, tz=datetime.UTC)


def _datetime_to_ms(value: datetime.datetime | None) -> float | None:
    return value.timestamp() * 1000 if value else None


def _parse_pk(value, kind: str) -> int | None:
    pk = parse_pk(value)  # a plain id: "42" or 42
    if pk is not None:
        return pk
    if not isinstance(value, str):
        return None
    try:
        return ids.parse_api_id(value, kind)
    except (ValueError, KeyError):
        return None


def _user_by_ref(value):
    if not isinstance(value, str) or not value.strip():
        return None
    User = get_user_model()
    user = User.objects.filter(email__iexact=value.strip()).first()
    if user is None:
        pk = _parse_pk(value, "user")
        user = User.objects.filter(pk=pk).first() if pk else None
    return user


def node_json(node: Node, *, base: dict | None = None, workload: list[WorkloadUnit] | None = None) -> dict:
    """The node as Dataloop's SDK shapes it; keys in `base` the server does not own are kept."""
    data = json.loads(json.dumps(base or {}))
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
        if _parse_pk(old_id, "dataset") != node.dataset_id:
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
        ports = [None]
    else:
        data["type"] = "task"
        data.setdefault(
            "namespace",
            {"functionName": "move_to_task", "projectName": "DataloopTasks", "serviceName": "pipeline-utils"},
        )
        metadata["taskType"] = node.task_type
        if node.recipe_id:
            if _parse_pk(metadata.get("recipeId"), "recipe") != node.recipe_id:
                metadata["recipeId"] = ids.api_id("recipe", node.recipe_id)
            metadata["recipeTitle"] = node.recipe.name
        if node.owner_id:
            metadata["taskOwner"] = node.owner.email
        if workload is None:
            workload = [WorkloadUnit(w.assignee, w.load) for w in node.workload.select_related("assignee")]
        metadata["workload"] = [{"assigneeId": u.user.email, "load": u.load} for u in workload]
        metadata["priority"] = node.priority
        if node.due_at is not None:
            old_ms = metadata.get("dueDate")
            old_at = None
            with contextlib.suppress(ValueError):
                old_at = _ms_to_datetime(old_ms)
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


def _port(display_name: str, actions: list | None = None) -> dict:
    port = {
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


def _output_port_id(node: Node) -> str | None:
    outputs = (node.raw or {}).get("outputs") or []
    return outputs[0].get("portId") if outputs and isinstance(outputs[0], dict) else None


def _input_port_id(node: Node) -> str | None:
    inputs = (node.raw or {}).get("inputs") or []
    return inputs[0].get("portId") if inputs and isinstance(inputs[0], dict) else None


def connection_json(connection: Connection) -> dict:
    data = json.loads(json.dumps(connection.raw or {}))
    data["src"] = {"nodeId": connection.source.node_uid, "portId": _output_port_id(connection.source)}
    data["tgt"] = {"nodeId": connection.target.node_uid, "portId": _input_port_id(connection.target)}
    if connection.status:
        data["action"] = STATUS_TO_ACTION.get(connection.status, connection.status)
    else:
        data.pop("action", None)
    if connection.condition is not None and not isinstance(data.get("condition"), str):
        data["condition"] = json.dumps(connection.condition)
    return data


DATALOOP_STATES = {
    PipelineState.CREATED: "Created",
    PipelineState.INSTALLED: "Installed",
    PipelineState.PAUSED: "Uninstalled",
}
_OWN_KEYS = {"name", "description", "settings", "variables", "nodes", "connections", "status"}
# Made by the server or the API, never stored from a request.
_SERVER_KEYS = {"id", "projectId", "creator", "createdAt", "updatedAt", "updatedBy", "url", "orgId"}


def pipeline_to_dataloop_json(pipeline: Pipeline) -> dict:
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
            "creator": pipeline.created_by.email if pipeline.created_by_id else None,
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


def _parse_node(*, pipeline: Pipeline, i: int, data, errors: dict, by) -> dict | None:
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
    dataset_pk = _parse_pk(metadata.get("datasetId"), "dataset")
    dataset = Dataset.objects.filter(pk=dataset_pk, project=pipeline.project).first() if dataset_pk else None
    if dataset is None:
        errors[prefix + "metadata.datasetId"] = "Unknown dataset in this project."
        return None
    fields = {
        "uid": uid,
        "kind": kind,
        "name": name or "",
        "column": column,
        "row": row,
        "dataset": dataset,
        "raw": data,
    }
    if kind == NodeKind.DATASET:
        folder = metadata.get("dir")
        if folder is not None and not isinstance(folder, str):
            errors[prefix + "metadata.dir"] = "dir is a folder path such as /city."
            return None
        fields["folder"] = folder or ""
    else:
        recipe_pk = _parse_pk(metadata.get("recipeId"), "recipe")
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
        units = []
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
            fields["due_at"] = _ms_to_datetime(metadata.get("dueDate"))
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
    node_errors: dict = {}
    cleaned = _clean_node(pipeline=pipeline, fields=fields, errors=node_errors, prefix=prefix)
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
    cleaned["uid"], cleaned["raw"] = uid, data
    return cleaned


@transaction.atomic
def pipeline_save_from_dataloop_json(*, pipeline: Pipeline, data: dict, by) -> Pipeline:
    """Store the SDK's `pipeline.to_json()` (a PATCH /pipelines/{id} body): validated, node JSON kept verbatim.

    Nodes are matched by their Dataloop id, so a node keeps its task across saves. Errors name
    the JSON field (`nodes[0].metadata.workload`, `connections[1].action`).
    """
    given, pipeline = pipeline, Pipeline.objects.select_for_update().select_related("project").get(pk=pipeline.pk)
    if not isinstance(data, dict):
        raise ValidationError({"pipeline": "A pipeline is a JSON object."})
    errors: dict = {}
    name = data.get("name", pipeline.name)
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > 200:
        errors["name"] = "A pipeline needs a name of 1 to 200 characters."
    elif Pipeline.objects.filter(project=pipeline.project, name=name.strip()).exclude(pk=pipeline.pk).exists():
        errors["name"] = f"This project already has a pipeline named {name.strip()!r}."
    for key, kind in (("settings", dict), ("variables", list), ("nodes", list), ("connections", list)):
        if key in data and data[key] is not None and not isinstance(data[key], kind):
            errors[key] = f"{key} is a JSON {'object' if kind is dict else 'list'}."
    if data.get("description") is not None and not isinstance(data["description"], str):
        errors["description"] = "description is a string."
    start = data.get("startNodes")
    if start is not None and not (
        isinstance(start, list) and all(isinstance(s, dict) and isinstance(s.get("nodeId"), str) for s in start)
    ):
        errors["startNodes"] = 'startNodes is a list of {"nodeId": "<node id>", "type": "root"}.'
    if errors:
        raise ValidationError(errors)

    parsed = []
    for i, node_data in enumerate(data.get("nodes") or []):
        node = _parse_node(pipeline=pipeline, i=i, data=node_data, errors=errors, by=by)
        if node is not None:
            parsed.append(node)
    by_uid = {}
    for i, node in enumerate(parsed):
        if node["uid"] in by_uid:
            errors[f"nodes[{i}].id"] = f"Two nodes have the id {node['uid']!r}."
        by_uid[node["uid"]] = node
    if errors:
        raise ValidationError(errors)

    edges = []
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
        _check_graph(by_uid, [(s, t, r) for s, t, r, *_ in edges], errors, field="connections")
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
        if node.task_id and (node.kind != cleaned["kind"] or node.dataset_id != cleaned["dataset"].pk):
            node.task = None  # a different task now: the old one stays, unlinked
        node.raw = cleaned["raw"]
        saved[uid] = _save_node(node, cleaned, raw_sync=False)
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
    given.refresh_from_db()
    return given
