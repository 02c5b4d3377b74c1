"""Annotation tasks, assignments, item statuses and commands."""

import datetime
import json
import math
from typing import Any, Literal, overload

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.annotation import bulk_jobs, moves
from taskboard.annotation import services as task_services
from taskboard.annotation.models import AnnotationTask, Assignment, TaskItem, TaskStatus, TaskType
from taskboard.annotation.people import WorkRefused
from taskboard.annotation.selection import Selection
from taskboard.annotation.spec import Consensus, Load, Pulling, TaskSpec, equal_people, statuses_from
from taskboard.annotation.workload import WorkloadUnit
from taskboard.api import items as api_items
from taskboard.api import queries
from taskboard.api import services as api_services
from taskboard.api.http import ApiError, api_view, bad_request, json_body, not_found
from taskboard.api.ids import api_id, parse_id
from taskboard.api.paging import MAX_PAGE, MAX_PAGE_SIZE, page_params, paged
from taskboard.api.serializers import (
    assignment_json,
    assignments_json,
    command_json,
    item_json,
    items_json,
    task_json,
    tasks_json,
)
from taskboard.api.simple_filter import filter_q, ops
from taskboard.datasets.models import Item
from taskboard.projects.access import can_manage
from taskboard.work import flow

# ------------------------------------------------------------------ parsing helpers


@overload
def parse_query(body: dict[str, Any], *, required: Literal[True] = True) -> tuple[str, dict[str, Any]]: ...
@overload
def parse_query(body: dict[str, Any], *, required: bool) -> tuple[str | None, dict[str, Any] | None]: ...
def parse_query(body: dict[str, Any], *, required: bool = True) -> tuple[str | None, dict[str, Any] | None]:
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
    found = {u.email: u for u in get_user_model().objects.filter(email__in=set(wanted))}
    missing = [e for e in wanted if e not in found]
    if missing:
        raise bad_request(f"{field}: unknown user {', '.join(missing)}.")
    return [found[e] for e in wanted]


def parse_workload(value, *, field: str = "workload") -> list[WorkloadUnit]:
    """Dataloop's workload ([{assigneeId: email, load: n}]) as people and shares; their rules (1 to 100,
    adding up to 100, no one twice, active members) are the task spec's."""
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
    users = users_by_email(emails, field=field)
    return [WorkloadUnit(user, load) for user, load in zip(users, loads, strict=True)]


def parse_due(value, *, field: str = "dueDate") -> datetime.datetime:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad_request(f"{field}: expected epoch milliseconds (a number).")
    try:
        return datetime.datetime.fromtimestamp(value / 1000, tz=datetime.UTC)
    except (OverflowError, OSError, ValueError):
        raise bad_request(f"{field}: out of range.") from None


def _int_or_none(value, field: str):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise bad_request(f"{field}: expected a whole number.")
    if value != int(value):
        raise bad_request(f"{field}: expected a whole number.")
    return int(value)


def parse_actions(value) -> list[dict] | None:
    """Dataloop's availableActions ([{action, displayName, color}]) as the task's statuses; their rules
    (names, lengths, how many) are the task spec's."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise bad_request("availableActions: expected a list.")
    statuses = []
    for entry in value:
        if not isinstance(entry, dict):
            raise bad_request("availableActions: each entry is an object with an action.")
        statuses.append({"key": entry.get("action"), "label": entry.get("displayName"), "color": entry.get("color")})
    return statuses


def _description(body: dict) -> str | None:
    """`description` as dtlpy sends it: a string, or {"content": string}; None when absent."""
    description = body.get("description")
    if isinstance(description, dict):
        description = description.get("content")
    if description is not None and not isinstance(description, str):
        raise bad_request("description: expected a string (or {content: string}).")
    return description


def _command(request: AuthedHttpRequest, *, type: str, project, operation) -> dict:
    """Run the domain operation and record its command, in one transaction."""
    command = api_services.command_run(user=request.user, type=type, project=project, operation=operation)
    return command_json(command, request)


# ------------------------------------------------------------------ tasks


def _task_spec(request: AuthedHttpRequest, body: dict) -> tuple[TaskSpec, str | None, object, float]:
    """(the task spec, the query string as sent, the project, the due date in ms) for Dataloop's create
    body. This reads Dataloop's wire format (ids, emails, epoch milliseconds, metadata.system); every
    rule of the task itself is the spec's, so the API and the wizard refuse alike."""
    for key in ("datasetId", "projectId"):
        if not isinstance(body.get(key), str) or not body.get(key):
            raise bad_request(f"{key}: required.")
    dataset = queries.dataset_get(request.user, body["datasetId"])
    if parse_id(body["projectId"], "project") != dataset.project_id:
        raise bad_request("projectId: the dataset does not belong to this project.")
    project = dataset.project
    queries.require_manager(request.user, project)
    raw_query, parsed = parse_query(body)

    spec = body.get("spec")
    spec = {} if spec is None else spec
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

    recipe_id = None
    if body.get("recipeId") is not None:
        recipe_id = parse_id(body["recipeId"], "recipe")
        if recipe_id is None:
            raise bad_request("recipeId: not a recipe id.")

    if "dueDate" in body and body["dueDate"] is not None:
        due_ms = body["dueDate"]
        due_at = parse_due(due_ms)
    else:
        due_at = timezone.now() + datetime.timedelta(days=7)
        due_ms = due_at.timestamp() * 1000

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
    allowed = None
    if system.get("allowedAssignees") is not None:
        allowed = users_by_email(system["allowedAssignees"], field="allowedAssignees")
    if pulling or (allowed is not None and workload is None):
        people = equal_people(u.pk for u in (allowed if allowed is not None else [w.user for w in workload or []]))
    else:
        people = tuple(Load(user_id=w.user.pk, share=w.load) for w in workload or [])
    task_spec = TaskSpec(
        dataset_id=dataset.pk,
        name=body.get("name"),
        type=task_type,
        parent_id=parent.pk if parent is not None else None,
        selection=selection_of(parsed),
        query=parsed,
        limit=_int_or_none(body.get("limit"), "limit"),
        people=people,
        pulling=Pulling(batch_size=batch_size, max_batch_workload=max_batch) if pulling else None,
        consensus=Consensus(percentage=percentage, assignees=copies) if consensus else None,
        due_at=due_at,
        priority=body.get("priority", 2),
        recipe_id=recipe_id,
        owner_id=owner.pk if owner is not None else None,
        statuses=_statuses_or_none(parse_actions(body.get("availableActions"))),
        metadata=user_metadata,
        description=_description(body) or "",
    )
    return task_spec, raw_query, project, due_ms


def _statuses_or_none(raw):
    if raw is None:
        return None
    try:
        return statuses_from(raw)
    except ValidationError as error:
        raise bad_request(f"availableActions: {error.message_dict['statuses'][0]}") from None


def _existing_task(request: AuthedHttpRequest, body, project):
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
def task_collection(request: AuthedHttpRequest):
    body = json_body(request)
    task_spec, raw_query, project, due_ms = _task_spec(request, body)
    existing = _existing_task(request, body, project)
    if existing is not None:
        return task_json(existing, request)
    command = api_services.task_create(
        spec=task_spec, by=request.user, payload=body, query_text=raw_query, due_ms=due_ms
    )
    return command_json(command, request)


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
def task_query(request: AuthedHttpRequest):
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
        fields["name"] = body["name"]
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
        fields["priority"] = body["priority"]
    description = _description(body)
    if description is not None and description != task.description:
        fields["description"] = description
    return fields


@api_view(["GET", "PATCH", "PUT", "DELETE"])
def task_detail(request: AuthedHttpRequest, task_id: str):
    task = queries.task_get(request.user, task_id)
    if request.method == "GET":
        return task_json(task, request)
    queries.require_manager(request.user, task.project)
    if request.method == "DELETE":
        json_body(request, required=False)
        tid = api_id("task", task.pk)

        def delete():
            task_services.task_delete(task=task, by=request.user)
            return {"deleteTaskId": tid}

        return _command(request, type="DeleteTask", project=task.project, operation=delete)
    body = json_body(request)
    fields = _task_update_fields(task, body)
    with transaction.atomic():
        if fields:
            task = task_services.task_update(task=task, by=request.user, **fields)
        if "due_at" in fields:
            api_services.task_info_keep(task=task, due_ms=body["dueDate"])
        if body.get("status") in ("completed", "completed with issues") and task.state == "open":
            task_services.task_close(task=task, by=request.user)
    task = queries.task_get(request.user, api_id("task", task.pk))
    return task_json(task, request)


def _managed_task(request: AuthedHttpRequest, task_id):
    task = queries.task_get(request.user, task_id)
    queries.require_manager(request.user, task.project)
    if task.is_closed:
        raise bad_request("The task is closed.")
    return task


@api_view(["POST"])
def task_add_items(request: AuthedHttpRequest, task_id: str):
    task = _managed_task(request, task_id)
    body = json_body(request)
    _raw, parsed = parse_query(body)
    workload = parse_workload(body["workload"]) if body.get("workload") else None
    limit = _int_or_none(body.get("limit"), "limit")
    to_queue = workload is None and task.is_pulling
    if workload is None and not to_queue and task.type == TaskType.ANNOTATION:
        raise bad_request("workload: give assignees for the added items.")

    def add():
        try:
            result = moves.task_add_items(
                task=task,
                selection=selection_of(parsed),
                by=request.user,
                workload=workload,
                to_queue=to_queue,
                limit=limit,
            )
        except ValidationError as error:
            # Dataloop answers an add that matches nothing with a finished command, not an error.
            messages = error.message_dict if getattr(error, "error_dict", None) else {}
            if set(messages) != {"selection"} or "No items match" not in " ".join(messages["selection"]):
                raise
            result = moves.AddResult(added=0, skipped=0)
        return {
            "addToTaskPayload": body,
            "addToTaskId": api_id("task", task.pk),
            "addedItemsCount": result.added,
            "skippedItemsCount": result.skipped,
        }

    return _command(request, type="AddToTask", project=task.project, operation=add)


@api_view(["POST"])
def task_remove_items(request: AuthedHttpRequest, task_id: str):
    task = _managed_task(request, task_id)
    body = json_body(request)
    _raw, parsed = parse_query(body)

    def remove():
        result = moves.task_remove_items(task=task, selection=selection_of(parsed), by=request.user)
        return {
            "removeFromTaskId": api_id("task", task.pk),
            "removeFromTaskPayload": body,
            "removeItemsCount": result.removed,
            "totalItemsCount": result.removed + result.kept,
        }

    return _command(request, type="RemoveFromTask", project=task.project, operation=remove)


# ------------------------------------------------------------------ assignments


def _query_list(request: AuthedHttpRequest, name) -> list[str]:
    values: list[str] = []
    for raw in request.GET.getlist(name):
        values.extend(v for v in raw.split(",") if v)
    return values


@api_view(["GET"])
def assignment_list(request: AuthedHttpRequest):
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
def assignment_detail(request: AuthedHttpRequest, assignment_id: str):
    assignment = queries.assignment_get(request.user, assignment_id)
    if request.method == "GET":
        return assignment_json(assignment, request)
    queries.require_manager(request.user, assignment.task.project)
    return _assignment_update(request, assignment, json_body(request, required=False))


def _assignment_update(request: AuthedHttpRequest, assignment, body: dict) -> dict:
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
    with transaction.atomic():
        started = bulk_jobs.assignment_reassign_start(assignment=assignment, to_user=to_user, by=request.user)
        if started.job is None:
            return assignment_json(started.assignments[0], request)
        spec = {"fromAssignment": api_id("assignment", assignment.pk), "toAssignment": None}
        command = api_services.command_record(
            user=request.user, type="Reassign", project=assignment.task.project, spec=spec, job=started.job
        )
    # Large: the reassign runs as a job. The assignment is answered as it is now, with the command to
    # poll, whose toAssignment names the new one when the job is done.
    return {**assignment_json(assignment, request), "command": command_json(command, request)}


def _managed_assignment(request: AuthedHttpRequest, assignment_id, body):
    assignment = queries.assignment_get(request.user, assignment_id)
    queries.require_manager(request.user, assignment.task.project)
    if body.get("taskId") is not None and parse_id(body["taskId"], "task") != assignment.task_id:
        raise bad_request("taskId: the assignment is not in this task.")
    return assignment


@api_view(["POST"])
def assignment_reassign(request: AuthedHttpRequest, assignment_id: str):
    """Dataloop's reassign: a command, finished at once, or (when the person holds `BULK_JOB_THRESHOLD`
    undone items or more) following a job; `toAssignment` is filled in when the job has made it."""
    body = json_body(request)
    assignment = _managed_assignment(request, assignment_id, body)
    if not isinstance(body.get("annotator"), str):
        raise bad_request("annotator: the email of the new assignee is required.")
    to_user = users_by_email([body["annotator"]], field="annotator")[0]

    def spec_of(started: bulk_jobs.BulkStart) -> dict:
        new = started.assignments[0] if started.assignments else None
        return {
            "toAssignment": api_id("assignment", new.pk) if new is not None else None,
            "fromAssignment": api_id("assignment", assignment.pk),
            "itemsCount": started.count,
        }

    command = api_services.bulk_command(
        user=request.user,
        type="Reassign",
        project=assignment.task.project,
        start=lambda: bulk_jobs.assignment_reassign_start(assignment=assignment, to_user=to_user, by=request.user),
        spec_of=spec_of,
    )
    return command_json(command, request)


@api_view(["POST"])
def assignment_redistribute(request: AuthedHttpRequest, assignment_id: str):
    """Dataloop's redistribute: a command, finished at once or following a job (as reassign)."""
    body = json_body(request)
    assignment = _managed_assignment(request, assignment_id, body)
    workload = parse_workload(body.get("workload"))

    def spec_of(started: bulk_jobs.BulkStart) -> dict:
        made = [api_id("assignment", a.pk) for a in started.assignments] if started.job is None else None
        return {"workload": body["workload"], "assignments": made, "itemsCount": started.count}

    command = api_services.bulk_command(
        user=request.user,
        type="Redistribute",
        project=assignment.task.project,
        start=lambda: bulk_jobs.assignment_redistribute_start(
            assignment=assignment, workload=workload, by=request.user
        ),
        spec_of=spec_of,
    )
    return command_json(command, request)


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
        return flow.item_status_set(task=task, item=item, status=status, by=by, copy=copy)
    return flow.item_status_clear(task=task, item=item, by=by, copy=copy)


@api_view(["POST"])
def task_items_status(request: AuthedHttpRequest, task_id: str):
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
    pks, clone_pks = {}, {}
    for value in item_ids:
        if api_items.is_clone_id(value):
            if (pk := parse_id(value, "clone")) is not None:
                clone_pks[pk] = value
        elif (pk := parse_id(value, "item")) is not None:
            pks[pk] = value
    # Which copy to touch: a clone's own; for an original the caller's copy, else copy 0.
    held = dict(
        TaskItem.objects.filter(task=task, item_id__in=list(pks), assignment__assignee=request.user).values_list(
            "item_id", "copy"
        )
    )
    targets: list[tuple[str, Item, int | None, TaskItem | None]] = [
        (value, item, held.get(item.pk), None)
        for item in Item.objects.filter(dataset_id=task.dataset_id, pk__in=list(pks))
        for value in [pks[item.pk]]
    ]
    for row in TaskItem.objects.filter(task=task, pk__in=list(clone_pks), copy__gt=0).select_related("item"):
        targets.append((clone_pks[row.pk], row.item, row.copy, row))
    updated: dict[str, tuple[Item, TaskItem | None]] = {}
    not_held: list[str] = []
    for value, item, copy, clone in targets:
        try:
            with transaction.atomic():
                _apply_status(task, item, operation, status, request.user, copy=copy)
        except WorkRefused as error:
            # The person's, for the whole task (a qualification, a quality pause): no further item would
            # go through. A honeypot answered wrong in this very request may have paused them: what was
            # set before stays set and is answered, the rest is missing as any refused item is.
            if not updated:
                raise ApiError(403, str(error)) from error
            break
        except PermissionDenied:
            not_held.append(value)
            continue
        except (ValidationError, ApiError):
            # One item's refusal (task locked) must not fail the others; dtlpy logs the missing ids.
            continue
        updated[value] = (item, clone)
    if not_held and not updated and can_manage(request.user, task.project):
        # Only the holder sets a status. A manager sees every item, so is told so (403); a worker
        # does not see other people's items, which stay skipped as if absent (nothing leaks).
        raise ApiError(
            403,
            "Only the assignee holding an item can set or clear its status; "
            f"{request.user.email} holds none of: {', '.join(not_held[:10])}.",
        )
    fresh = TaskItem.objects.select_related("item").in_bulk([c.pk for _i, c in updated.values() if c is not None])
    entries = [fresh[clone.pk] if clone is not None else item for item, clone in updated.values()]
    return dict(zip(updated, items_json(entries, request, project_pk=task.project_id), strict=True))


@api_view(["POST"])
def assignment_item_status(request: AuthedHttpRequest, assignment_id: str, item_id: str):
    assignment = queries.assignment_get(request.user, assignment_id)
    clone = api_items.clone_get(request.user, item_id) if api_items.is_clone_id(item_id) else None
    item = clone.item if clone is not None else queries.item_get(request.user, item_id)
    body = json_body(request)
    operation, status = _status_op(body)
    task = assignment.task
    _check_status(task, status if operation == "create" else None)
    rows = TaskItem.objects.filter(task=task, assignment=assignment, item=item)
    row = rows.filter(pk=clone.pk).first() if clone is not None else rows.first()
    if row is None:
        raise not_found("The item is not in this assignment.")
    _apply_status(task, item, operation, status, request.user, copy=row.copy)
    row.refresh_from_db()
    if row.copy and clone is not None:
        return item_json(item, request, project_pk=task.project_id, clone=row)
    return item_json(item, request, project_pk=task.project_id)


# ------------------------------------------------------------------ commands


@api_view(["GET"])
def command_detail(request: AuthedHttpRequest, command_id: str):
    return command_json(queries.command_get(request.user, command_id), request)
