"""Annotation tasks, assignments, item statuses and commands (dataloop-api.md §3, §6)."""

import datetime
import json
import math

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from taskboard.annotation.models import AnnotationTask, Assignment, TaskItem, TaskStatus, TaskType
from taskboard.annotation.selection import Selection
from taskboard.annotation.workload import WorkloadUnit
from taskboard.api import queries
from taskboard.api.http import ApiError, api_view, bad_request, json_body, not_found
from taskboard.api.ids import api_id, parse_id
from taskboard.api.models import ApiCommand, ApiTaskInfo, CommandStatus
from taskboard.api.paging import MAX_PAGE, MAX_PAGE_SIZE, page_params, paged
from taskboard.api.serializers import (
    assignment_json,
    assignments_json,
    command_json,
    item_json,
    item_refs,
    task_json,
    tasks_json,
)
from taskboard.api.simple_filter import filter_q, ops
from taskboard.datasets.models import Item, Recipe
from taskboard.projects.access import can_manage

# ------------------------------------------------------------------ parsing helpers


class _Services:
    """The core services, imported on first use (the module arrives with the core app)."""

    def __getattr__(self, name):
        from taskboard.annotation import services as module

        return getattr(module, name)


services = _Services()


def parse_query(body: dict, *, required: bool = True) -> tuple[str | None, dict | None]:
    """The task query: a JSON *string* holding a DQL body (dtlpy sends it that way)."""
    raw = body.get("query")
    if raw is None:
        if required:
            raise bad_request("query: a DQL query (a JSON string) is required.")
        return None, None
    if isinstance(raw, dict):
        parsed, raw = raw, json.dumps(raw)
    elif isinstance(raw, str):
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise bad_request("query: not valid JSON (a value with an apostrophe?).") from None
    else:
        raise bad_request("query: expected a JSON string.")
    if not isinstance(parsed, dict):
        raise bad_request("query: expected a JSON object.")
    resource = parsed.get("resource", "items")
    if resource != "items":
        raise bad_request(f"query: resource must be 'items', got {resource!r}.")
    filt = parsed.get("filter", {})
    if not isinstance(filt, dict):
        raise bad_request("query: filter must be an object.")
    return raw, parsed


def selection_of(parsed: dict) -> Selection:
    # page, pageSize and sort inside a task query are ignored: a task takes every match.
    return Selection(mode="filter", dql=parsed.get("filter") or {})


def users_by_email(emails, *, field: str) -> list:
    if not isinstance(emails, list) or not all(isinstance(e, str) and e for e in emails):
        raise bad_request(f"{field}: expected a list of emails.")
    wanted = [e.strip().lower() for e in emails]
    found = {u.email: u for u in get_user_model().objects.filter(email__in=wanted)}
    missing = [e for e in wanted if e not in found]
    if missing:
        raise bad_request(f"{field}: unknown user {', '.join(missing)}.")
    return [found[e] for e in wanted]


def parse_workload(value, *, field: str = "workload") -> list[WorkloadUnit]:
    if not isinstance(value, list):
        raise bad_request(f"{field}: expected a list of {{assigneeId, load}}.")
    emails, loads = [], []
    for unit in value:
        if not isinstance(unit, dict) or not isinstance(unit.get("assigneeId"), str):
            raise bad_request(f"{field}: each entry needs an assigneeId (an email).")
        load = unit.get("load")
        if isinstance(load, bool) or not isinstance(load, int | float) or not math.isfinite(load):
            raise bad_request(f"{field}: each load is a number from 1 to 100.")
        if load != int(load):
            raise bad_request(f"{field}: loads are whole numbers.")
        emails.append(unit["assigneeId"])
        loads.append(int(load))
    if len({e.strip().lower() for e in emails}) != len(emails):
        raise bad_request(f"{field}: an assignee is listed twice.")
    users = users_by_email(emails, field=field)
    return [WorkloadUnit(user, load) for user, load in zip(users, loads, strict=True)]


def parse_due(value, *, field: str = "dueDate") -> datetime.datetime:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad_request(f"{field}: expected epoch milliseconds (a number).")
    try:
        return datetime.datetime.fromtimestamp(value / 1000, tz=datetime.UTC)
    except (OverflowError, OSError, ValueError):
        raise bad_request(f"{field}: out of range.") from None


def parse_priority(value) -> int:
    if isinstance(value, bool) or value not in (1, 2, 3):
        raise bad_request("priority: must be 1 (low), 2 (medium) or 3 (high).")
    return int(value)


def _int_or_none(value, field: str):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad_request(f"{field}: expected a whole number.")
    if value != int(value):
        raise bad_request(f"{field}: expected a whole number.")
    return int(value)


def parse_actions(value) -> list[dict] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value:
        raise bad_request("availableActions: expected a non-empty list.")
    statuses, seen = [], set()
    for entry in value:
        if not isinstance(entry, dict):
            raise bad_request("availableActions: each entry is an object with an action.")
        key = entry.get("action")
        if not isinstance(key, str) or not key.strip():
            raise bad_request("availableActions: action must be a non-empty string.")
        if key in seen:
            raise bad_request(f"availableActions: {key!r} is listed twice.")
        seen.add(key)
        label, color = entry.get("displayName"), entry.get("color")
        label = key if label in (None, "") else label
        color = "#607d8b" if color in (None, "") else color
        if not isinstance(label, str) or len(label) > 100:
            raise bad_request("availableActions: displayName must be a string of at most 100 characters.")
        if not isinstance(color, str):
            raise bad_request("availableActions: color must be a string such as #607d8b.")
        statuses.append({"key": key, "label": label, "color": color[:7], "is_done": True})
    return statuses


def _description(body: dict) -> str | None:
    """`description` as dtlpy sends it: a string, or {"content": string}; None when absent."""
    description = body.get("description")
    if isinstance(description, dict):
        description = description.get("content")
    if description is not None and not isinstance(description, str):
        raise bad_request("description: expected a string (or {content: string}).")
    return description


def _command(request, *, type: str, project, spec: dict, job=None) -> dict:
    command = ApiCommand.objects.create(
        type=type,
        user=request.user,
        project=project,
        job=job,
        status=CommandStatus.IN_PROGRESS if job is not None else CommandStatus.SUCCESS,
        spec=spec,
    )
    return command_json(command, request)


# ------------------------------------------------------------------ tasks


def _task_create_args(request, body: dict) -> tuple[dict, str, dict, float]:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad_request("name: required.")
    for key in ("datasetId", "projectId"):
        if not isinstance(body.get(key), str) or not body.get(key):
            raise bad_request(f"{key}: required.")
    dataset = queries.dataset_get(request.user, body["datasetId"])
    if parse_id(body["projectId"], "project") != dataset.project_id:
        raise bad_request("projectId: the dataset does not belong to this project.")
    project = dataset.project
    queries.require_manager(request.user, project)
    raw_query, parsed = parse_query(body)

    spec = body.get("spec") or {}
    if not isinstance(spec, dict):
        raise bad_request("spec: expected an object.")
    task_type = spec.get("type", TaskType.ANNOTATION)
    if task_type not in (TaskType.ANNOTATION, TaskType.QA):
        raise bad_request("spec.type: must be annotation or qa.")
    parent = None
    if task_type == TaskType.QA:
        parent_id = spec.get("parentTaskId")
        if not isinstance(parent_id, str):
            raise bad_request("spec.parentTaskId: a QA task needs its annotation task.")
        parent = queries.task_get(request.user, parent_id)
        if parent.dataset_id != dataset.pk:
            raise bad_request("spec.parentTaskId: the parent task is on another dataset.")

    recipe = None
    if body.get("recipeId") is not None:
        recipe_pk = parse_id(body["recipeId"], "recipe")
        recipe = Recipe.objects.filter(dataset=dataset, pk=recipe_pk).first() if recipe_pk else None
        if recipe is None:
            raise bad_request("recipeId: not a recipe of this dataset.")

    if "dueDate" in body and body["dueDate"] is not None:
        due_ms = body["dueDate"]
        due_at = parse_due(due_ms)
    else:
        due_at = timezone.now() + datetime.timedelta(days=7)
        due_ms = due_at.timestamp() * 1000
    priority = parse_priority(body.get("priority", 2))

    owner = None
    if body.get("taskOwner"):
        owner = users_by_email([body["taskOwner"]], field="taskOwner")[0]

    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise bad_request("metadata: expected an object.")
    system = metadata.get("system") or {}
    if not isinstance(system, dict):
        raise bad_request("metadata.system: expected an object.")
    user_metadata = {k: v for k, v in metadata.items() if k != "system"}

    workload = parse_workload(body["workload"]) if body.get("workload") is not None else None
    batch_size = _int_or_none(system.get("batchSize"), "batchSize")
    max_batch = _int_or_none(system.get("maxBatchWorkload"), "maxBatchWorkload")
    percentage = _int_or_none(system.get("consensusPercentage"), "consensusPercentage")
    copies = _int_or_none(system.get("consensusAssignees"), "consensusAssignees")
    pulling = batch_size is not None or max_batch is not None
    consensus = percentage is not None or copies is not None
    if pulling and consensus:
        raise bad_request("Consensus can not work as a pulling task.")
    if pulling and (batch_size is None or max_batch is None):
        raise bad_request("batchSize: pulling needs both batchSize and maxBatchWorkload.")
    assignees = None
    if system.get("allowedAssignees") is not None:
        assignees = users_by_email(system["allowedAssignees"], field="allowedAssignees")
    if pulling:
        if assignees is None:
            assignees = [unit.user for unit in workload or []]
        workload = None
    elif workload is not None:
        assignees = None
    elif assignees is None and task_type == TaskType.ANNOTATION:
        raise bad_request("workload: give assignees (workload) or pulling settings.")
    limit = _int_or_none(body.get("limit"), "limit")
    if limit is not None and limit < 1:
        raise bad_request("limit: must be at least 1.")
    description = _description(body)

    args = {
        "dataset": dataset,
        "created_by": request.user,
        "name": name.strip(),
        "selection": selection_of(parsed),
        "query": parsed,
        "task_type": task_type,
        "parent": parent,
        "workload": workload,
        "assignees": assignees,
        "due_at": due_at,
        "priority": priority,
        "recipe": recipe,
        "owner": owner,
        "allocation": "pulling" if pulling else "distribution",
        "batch_size": batch_size,
        "max_batch_workload": max_batch,
        "consensus_percentage": percentage if consensus else None,
        "consensus_assignees": copies if consensus else None,
        "statuses": parse_actions(body.get("availableActions")),
        "limit": limit,
        "metadata": user_metadata,
        "description": description or "",
    }
    return args, raw_query, project, due_ms


def _existing_task(request, body, project):
    check = body.get("checkIfExist")
    if not isinstance(check, dict):
        return None
    query = check.get("query")
    if isinstance(query, str):
        try:
            query = json.loads(query)
        except ValueError:
            raise bad_request("checkIfExist.query: not valid JSON.") from None
    if not isinstance(query, dict):
        raise bad_request("checkIfExist.query: expected a task query.")
    tasks = (
        AnnotationTask.objects.visible_to(request.user)
        .filter(project=project)
        .filter(filter_q(query.get("filter"), TASK_FIELDS))
    )
    return tasks.order_by("pk").first()


@api_view(["POST"])
def task_collection(request):
    body = json_body(request)
    args, raw_query, project, due_ms = _task_create_args(request, body)
    existing = _existing_task(request, body, project)
    if existing is not None:
        return task_json(existing, request)
    with transaction.atomic():
        creation = services.task_create_start(**args)
        task = creation.task
        if task is not None:
            ApiTaskInfo.objects.update_or_create(
                task=task,
                defaults={
                    "query_text": raw_query,
                    "due_ms": float(due_ms),
                    "available_actions": body.get("availableActions") or [],
                },
            )
        return _command(
            request,
            type="CreateTask",
            project=project,
            job=creation.job if task is None else None,
            spec={
                "createTaskPayload": body,
                "createdTaskId": api_id("task", task.pk) if task is not None else None,
            },
        )


def _id_list(kind):
    def convert(value):
        pk = parse_id(value, kind)
        if pk is None:
            raise bad_request(f"{value!r} is not a {kind} id.")
        return pk

    return convert


def _email_value(value):
    if not isinstance(value, str):
        raise bad_request("Expected an email.")
    return value.strip().lower()


def _ms_value(value):
    return parse_due(value, field="dueDate")


def _assignment_ids(op, value):
    if op not in ("$in", "$eq"):
        raise bad_request(f"Operator '{op}' is not supported on 'assignmentIds'.")
    values = value if isinstance(value, list) else [value]
    pks = [_id_list("assignment")(v) for v in values]
    return Q(pk__in=Assignment.objects.filter(pk__in=pks).values("task_id"))


TASK_FIELDS = {
    "id": ops("pk", _id_list("task")),
    "name": ops("name", lambda v: v if isinstance(v, str) else str(v)),
    "projectId": ops("project_id", _id_list("project")),
    "datasetId": ops("dataset_id", _id_list("dataset")),
    "recipeId": ops("recipe_id", _id_list("recipe")),
    "status": ops("state", lambda v: v, allowed=("$eq", "$ne", "$in", "$nin")),
    "creator": ops("created_by__email", _email_value, allowed=("$eq", "$ne", "$in", "$nin")),
    "taskOwner": ops("owner__email", _email_value, allowed=("$eq", "$ne", "$in", "$nin")),
    "dueDate": ops("due_at", _ms_value),
    "spec.type": ops("type", lambda v: v, allowed=("$eq", "$ne", "$in", "$nin")),
    "spec.parentTaskId": ops("parent_id", _id_list("task"), allowed=("$eq", "$in")),
    "assignmentIds": _assignment_ids,
}


@api_view(["POST"])
def task_query(request):
    body = json_body(request)
    page, size = page_params(body, default_size=500)
    tasks = AnnotationTask.objects.visible_to(request.user)
    context = body.get("context") or {}
    if not isinstance(context, dict):
        raise bad_request("context must be an object.")
    project_ids = context.get("projectIds") or context.get("projects")
    if project_ids:
        if not isinstance(project_ids, list):
            raise bad_request("context.projectIds must be a list.")
        tasks = tasks.filter(project_id__in=[_id_list("project")(p) for p in project_ids])
    tasks = tasks.filter(filter_q(body.get("filter"), TASK_FIELDS)).order_by("pk").distinct()
    total = tasks.count()
    rows = list(tasks.select_related("owner", "created_by")[page * size : (page + 1) * size])
    return paged(tasks_json(rows, request), total=total, page=page, size=size)


def _task_update_fields(task, body) -> dict:
    fields = {}
    if "name" in body and body["name"] != task.name:
        if not isinstance(body["name"], str) or not body["name"].strip():
            raise bad_request("name: must be a non-empty string.")
        fields["name"] = body["name"].strip()
    owner = body.get("taskOwner")
    if owner not in (None, ""):
        if not isinstance(owner, str):
            raise bad_request("taskOwner: expected an email.")
        if task.owner is None or owner.strip().lower() != task.owner.email:
            fields["owner"] = users_by_email([owner], field="taskOwner")[0]
    if "dueDate" in body and body["dueDate"] is not None:
        due_at = parse_due(body["dueDate"])
        if abs((due_at - task.due_at).total_seconds()) >= 0.001:
            fields["due_at"] = due_at
    if "priority" in body and body["priority"] is not None and body["priority"] != task.priority:
        fields["priority"] = parse_priority(body["priority"])
    description = _description(body)
    if description is not None and description != task.description:
        fields["description"] = description
    return fields


@api_view(["GET", "PATCH", "PUT", "DELETE"])
def task_detail(request, task_id):
    task = queries.task_get(request.user, task_id)
    if request.method == "GET":
        return task_json(task, request)
    queries.require_manager(request.user, task.project)
    if request.method == "DELETE":
        json_body(request, required=False)
        tid = api_id("task", task.pk)
        project = task.project
        services.task_delete(task=task, by=request.user)
        return _command(request, type="DeleteTask", project=project, spec={"deleteTaskId": tid})
    body = json_body(request)
    fields = _task_update_fields(task, body)
    with transaction.atomic():
        if fields:
            task = services.task_update(task=task, by=request.user, **fields)
        if "due_at" in fields:
            ApiTaskInfo.objects.update_or_create(task=task, defaults={"due_ms": float(body["dueDate"])})
        if body.get("status") in ("completed", "completed with issues") and task.state == "open":
            services.task_close(task=task, by=request.user)
    task = queries.task_get(request.user, api_id("task", task.pk))
    return task_json(task, request)


def _managed_task(request, task_id):
    task = queries.task_get(request.user, task_id)
    queries.require_manager(request.user, task.project)
    if task.is_closed:
        raise bad_request("The task is closed.")
    return task


@api_view(["POST"])
def task_add_items(request, task_id):
    task = _managed_task(request, task_id)
    body = json_body(request)
    _raw, parsed = parse_query(body)
    workload = parse_workload(body["workload"]) if body.get("workload") else None
    limit = _int_or_none(body.get("limit"), "limit")
    if limit is not None and limit < 1:
        raise bad_request("limit: must be at least 1.")
    to_queue = workload is None and task.is_pulling
    if workload is None and not to_queue and task.type == TaskType.ANNOTATION:
        raise bad_request("workload: give assignees for the added items.")
    try:
        result = services.task_add_items(
            task=task,
            selection=selection_of(parsed),
            by=request.user,
            workload=workload,
            to_queue=to_queue,
            limit=limit,
        )
    except ValidationError as error:
        # Dataloop answers an add that matches nothing with a finished command, not an error.
        if getattr(error, "error_dict", None) and set(error.message_dict) == {"selection"}:
            if "No items match" in " ".join(error.message_dict["selection"]):
                result = services.AddResult(added=0, skipped=0)
            else:
                raise
        else:
            raise
    return _command(
        request,
        type="AddToTask",
        project=task.project,
        spec={
            "addToTaskPayload": body,
            "addToTaskId": api_id("task", task.pk),
            "addedItemsCount": result.added,
            "skippedItemsCount": result.skipped,
        },
    )


@api_view(["POST"])
def task_remove_items(request, task_id):
    task = _managed_task(request, task_id)
    body = json_body(request)
    _raw, parsed = parse_query(body)
    result = services.task_remove_items(task=task, selection=selection_of(parsed), by=request.user)
    return _command(
        request,
        type="RemoveFromTask",
        project=task.project,
        spec={
            "removeFromTaskId": api_id("task", task.pk),
            "removeFromTaskPayload": body,
            "removeItemsCount": result.removed,
            "totalItemsCount": result.removed + result.kept,
        },
    )


# ------------------------------------------------------------------ assignments


def _query_list(request, name) -> list[str]:
    values = []
    for raw in request.GET.getlist(name):
        values.extend(v for v in raw.split(",") if v)
    return values


@api_view(["GET"])
def assignment_list(request):
    assignments = Assignment.objects.visible_to(request.user).select_related("task", "assignee")
    projects = _query_list(request, "projects")
    if projects:
        assignments = assignments.filter(task__project_id__in=[_id_list("project")(p) for p in projects])
    task_ids = _query_list(request, "taskId")
    if task_ids:
        assignments = assignments.filter(task_id__in=[_id_list("task")(t) for t in task_ids])
    annotators = _query_list(request, "annotator")
    if annotators:
        assignments = assignments.filter(assignee__email__in=[a.strip().lower() for a in annotators])
    try:
        size = int(request.GET.get("pageSize", 500))
        page = int(request.GET.get("pageOffset", 0))
    except ValueError:
        raise bad_request("pageSize and pageOffset must be whole numbers.") from None
    if not 1 <= size <= MAX_PAGE_SIZE or not 0 <= page <= MAX_PAGE:
        raise bad_request(f"pageSize must be 1 to {MAX_PAGE_SIZE} and pageOffset 0 to {MAX_PAGE}.")
    assignments = assignments.order_by("pk")
    total = assignments.count()
    rows = list(assignments[page * size : (page + 1) * size])
    return paged(assignments_json(rows, request), total=total, page=page, size=size)


@api_view(["GET", "PATCH", "PUT"])
def assignment_detail(request, assignment_id):
    assignment = queries.assignment_get(request.user, assignment_id)
    if request.method == "GET":
        return assignment_json(assignment, request)
    queries.require_manager(request.user, assignment.task.project)
    return _assignment_update(request, assignment, json_body(request, required=False))


def _assignment_update(request, assignment, body: dict) -> dict:
    """dtlpy's Assignment.update() sends the whole entity (to_json: name, annotator, status, metadata,
    id, url, task_id, dataset_id, projectId, _datasets). Values equal to what Taskboard answers are
    accepted as they are; a new `annotator` is a reassign (its undone items go to that person, whose
    assignment is answered); changing anything else is refused with 400 naming the fields."""
    current = assignment_json(assignment, request)
    known = {**current, "task_id": current["metadata"]["system"]["taskId"], "dataset_id": current["datasetId"]}
    unsupported = []
    for key, value in body.items():
        if key == "annotator":
            continue
        if key in known:
            if value != known[key]:
                unsupported.append(key)
        elif value not in (None, {}, []):  # dtlpy sends "_datasets": null
            unsupported.append(key)
    if unsupported:
        raise bad_request(
            f"{', '.join(sorted(unsupported))}: Taskboard cannot change this on an assignment "
            "(its name, status and counts follow its task, person and items; it keeps no metadata). "
            "Only annotator can be changed: it reassigns the undone items."
        )
    annotator = body.get("annotator", current["annotator"])
    if not isinstance(annotator, str) or not annotator.strip():
        raise bad_request("annotator: the email of the new assignee is required.")
    if annotator.strip().lower() == current["annotator"]:
        return current
    to_user = users_by_email([annotator], field="annotator")[0]
    new = services.assignment_reassign(assignment=assignment, to_user=to_user, by=request.user)
    return assignment_json(new, request)


def _managed_assignment(request, assignment_id, body):
    assignment = queries.assignment_get(request.user, assignment_id)
    queries.require_manager(request.user, assignment.task.project)
    if body.get("taskId") is not None and parse_id(body["taskId"], "task") != assignment.task_id:
        raise bad_request("taskId: the assignment is not in this task.")
    return assignment


@api_view(["POST"])
def assignment_reassign(request, assignment_id):
    body = json_body(request)
    assignment = _managed_assignment(request, assignment_id, body)
    if not isinstance(body.get("annotator"), str):
        raise bad_request("annotator: the email of the new assignee is required.")
    to_user = users_by_email([body["annotator"]], field="annotator")[0]
    new = services.assignment_reassign(assignment=assignment, to_user=to_user, by=request.user)
    return _command(
        request,
        type="Reassign",
        project=assignment.task.project,
        spec={"toAssignment": api_id("assignment", new.pk), "fromAssignment": api_id("assignment", assignment.pk)},
    )


@api_view(["POST"])
def assignment_redistribute(request, assignment_id):
    body = json_body(request)
    assignment = _managed_assignment(request, assignment_id, body)
    workload = parse_workload(body.get("workload"))
    result = services.assignment_redistribute(assignment=assignment, workload=workload, by=request.user)
    return _command(
        request,
        type="Redistribute",
        project=assignment.task.project,
        spec={"workload": body["workload"], "assignments": [api_id("assignment", a.pk) for a in result]},
    )


# ------------------------------------------------------------------ statuses


def _status_op(payload: dict) -> tuple[str, str | None]:
    operation = payload.get("operation", "create")
    if operation not in ("create", "delete"):
        raise bad_request("operation: must be create or delete.")
    status = payload.get("status")
    if operation == "create" and (not isinstance(status, str) or not status):
        raise bad_request("status: required.")
    return operation, status


def _check_status(task, status):
    if status is not None and not TaskStatus.objects.filter(task=task, key=status).exists():
        raise bad_request(f"status: {status!r} is not one of this task's statuses.")


def _apply_status(task, item, operation, status, by, copy=None):
    if operation == "create":
        return services.item_status_set(task=task, item=item, status=status, by=by, copy=copy)
    return services.item_status_clear(task=task, item=item, by=by, copy=copy)


@api_view(["POST"])
def task_items_status(request, task_id):
    task = queries.task_get(request.user, task_id)
    body = json_body(request)
    payload = body.get("statusPayload") or {}
    if not isinstance(payload, dict):
        raise bad_request("statusPayload: expected an object.")
    operation, status = _status_op(payload)
    _check_status(task, status if operation == "create" else None)
    item_ids = body.get("itemIds")
    if not isinstance(item_ids, list) or not item_ids:
        raise bad_request("itemIds: a non-empty list is required.")
    pks = {}
    for value in item_ids:
        pk = parse_id(value, "item")
        if pk is not None:
            pks[pk] = value
    items = Item.objects.filter(dataset_id=task.dataset_id, pk__in=list(pks))
    # Which copy to touch: the caller's own, else the original (copy 0).
    held = dict(
        TaskItem.objects.filter(task=task, item_id__in=list(pks), assignment__assignee=request.user).values_list(
            "item_id", "copy"
        )
    )
    updated, not_held = {}, []
    for item in items:
        try:
            with transaction.atomic():
                _apply_status(task, item, operation, status, request.user, copy=held.get(item.pk))
        except PermissionDenied:
            not_held.append(pks[item.pk])
            continue
        except (ValidationError, ApiError):
            # One item's refusal (task locked) must not fail the others; dtlpy logs the missing ids.
            continue
        updated[pks[item.pk]] = item
    if not_held and not updated and can_manage(request.user, task.project):
        # Only the holder sets a status. A manager sees every item, so is told so (403); a worker
        # does not see other people's items, which stay skipped as if absent (nothing leaks).
        raise ApiError(
            403,
            "Only the assignee holding an item can set or clear its status; "
            f"{request.user.email} holds none of: {', '.join(not_held[:10])}.",
        )
    refs = item_refs([i.pk for i in updated.values()])
    return {
        iid: item_json(item, request, refs=refs.get(item.pk, []), project_pk=task.project_id)
        for iid, item in updated.items()
    }


@api_view(["POST"])
def assignment_item_status(request, assignment_id, item_id):
    assignment = queries.assignment_get(request.user, assignment_id)
    item = queries.item_get(request.user, item_id)
    body = json_body(request)
    operation, status = _status_op(body)
    task = assignment.task
    _check_status(task, status if operation == "create" else None)
    row = TaskItem.objects.filter(task=task, assignment=assignment, item=item).first()
    if row is None:
        raise not_found("The item is not in this assignment.")
    _apply_status(task, item, operation, status, request.user, copy=row.copy)
    return item_json(item, request, project_pk=task.project_id)


# ------------------------------------------------------------------ commands


@api_view(["GET"])
def command_detail(request, command_id):
    command = queries.command_get(request.user, command_id)
    data = command_json(command, request)
    if command.job_id and data["status"] == "success" and data["spec"].get("createdTaskId"):
        _remember_payload(command, data["spec"]["createdTaskId"])
    return data


def _remember_payload(command, task_api_id):
    """A task made by a job echoes the SDK's query string and due date too, like one made in the request."""
    payload = command.spec.get("createTaskPayload") or {}
    task_pk = parse_id(task_api_id, "task")
    due = payload.get("dueDate")
    if task_pk is None or ApiTaskInfo.objects.filter(task_id=task_pk).exists():
        return
    ApiTaskInfo.objects.get_or_create(
        task_id=task_pk,
        defaults={
            "query_text": payload.get("query") if isinstance(payload.get("query"), str) else "",
            "due_ms": float(due) if isinstance(due, int | float) and not isinstance(due, bool) else None,
            "available_actions": payload.get("availableActions") or [],
        },
    )
