"""Distribution control: Taskboard's documented extensions to Dataloop's protocol (docs/api.md),
where Dataloop has no call: claim leases (and, as they land, priority, caps, people, operations)."""

from django.core.exceptions import ValidationError
from django.db import transaction

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.annotation import bulk_jobs, caps, leases, operations, people, skips
from taskboard.annotation.models import BulkOperation, Cap, TaskItem
from taskboard.annotation.selection import Selection
from taskboard.api import queries
from taskboard.api.http import ApiError, api_view, bad_request, json_body, not_found
from taskboard.api.ids import api_id, parse_id
from taskboard.api.serializers import command_json
from taskboard.api.services import command_record
from taskboard.api.views_tasks import users_by_email
from taskboard.dashboards.people_view import people_rows
from taskboard.projects.access import can_manage
from taskboard.work import services as work_services
from taskboard.work import stuck
from taskboard.work.models import StuckPolicy


def _ms(value) -> int:
    return int(value.timestamp() * 1000)


def _leases_json(task) -> dict:
    return {
        "taskId": api_id("task", task.pk),
        "leaseMinutes": task.lease_seconds // 60,
        "leaseSeconds": task.lease_seconds,
        "holders": [
            {
                "annotator": h.holder.email,
                "assignmentId": api_id("assignment", h.assignment_id),
                "leases": h.leases,
                "itemsHeld": h.held,
                "expiresAt": _ms(h.expires_at),
                "expired": h.expired,
            }
            for h in leases.task_holdings(task)
        ],
    }


@api_view(["GET", "PATCH"])
def task_leases(request: AuthedHttpRequest, task_id: str):
    """GET: who holds which pulled batch until when. PATCH {"leaseMinutes": n}: the lease length."""
    task = queries.task_get_managed(request.user, task_id)
    if request.method == "PATCH":
        body = json_body(request)
        if "leaseMinutes" not in body:
            raise bad_request("leaseMinutes: give the lease length in minutes.")
        task = leases.lease_length_set(task=task, minutes=body["leaseMinutes"], by=request.user)
    return _leases_json(task)


@api_view(["POST"])
def task_leases_release(request: AuthedHttpRequest, task_id: str):
    """{"annotator": email}: end every lease they hold in the task; {"itemId": id}: one held item.
    Either way the unstarted items go back to the queue."""
    task = queries.task_get_managed(request.user, task_id)
    body = json_body(request)
    if ("annotator" in body) == ("itemId" in body):
        raise bad_request("annotator or itemId: release one person's leases or one item.")
    if "annotator" in body:
        if not isinstance(body["annotator"], str):
            raise bad_request("annotator: expected an email.")
        user = users_by_email([body["annotator"]], field="annotator")[0]
        result = leases.lease_release_person(task=task, user=user, by=request.user)
    else:
        item_pk = parse_id(body["itemId"], "item")
        if item_pk is None:
            raise not_found("Item not found.")
        result = leases.lease_release_item(task=task, item_id=item_pk, by=request.user)
    return {"released": result.items, "leasesEnded": result.leases, **_leases_json(task)}


# --- Priority ------------------------------------------------------------------------------------------


@api_view(["POST"])
def task_items_priority(request: AuthedHttpRequest, task_id: str):
    """{"priority": 0..100, "filter": DQL (optional: every item of the task)}: one call, one UPDATE."""
    task = queries.task_get_managed(request.user, task_id)
    body = json_body(request)
    dql = body.get("filter")
    if dql is not None and not isinstance(dql, dict):
        raise bad_request("filter: expected a DQL object.")
    selection = Selection(mode="filter", dql=dql.get("filter", dql)) if dql else None
    started = bulk_jobs.items_priority_start(
        task=task, selection=selection, value=body.get("priority"), by=request.user
    )
    answer = {"taskId": api_id("task", task.pk), "priority": body["priority"]}
    if started.job is not None:
        return {**answer, "updatedItemsCount": None, "command": _bulk_command(request, task, started, "bulkPriority")}
    return {**answer, "updatedItemsCount": started.count}


def _bulk_command(request: AuthedHttpRequest, task, started: bulk_jobs.BulkStart, kind: str) -> dict:
    """A large bulk change runs as a job: its command, to poll at GET /commands/{id}."""
    spec = {"taskId": api_id("task", task.pk), "itemsCount": started.count}
    command = command_record(user=request.user, type=kind, project=task.project, spec=spec, job=started.job)
    return command_json(command, request)


@api_view(["POST"])
def task_items_status(request: AuthedHttpRequest, task_id: str):
    """{"status": key or null (clear), "filter": DQL (optional: every held item of the task)}: one
    call, one recorded operation (undo: POST /operations/{id}/undo)."""
    task = queries.task_get_managed(request.user, task_id)
    body = json_body(request)
    if "status" not in body:
        raise bad_request("status: expected one of the task's status keys, or null to clear.")
    status, dql = body["status"], body.get("filter")
    if status is not None and not isinstance(status, str):
        raise bad_request("status: expected one of the task's status keys, or null to clear.")
    if dql is not None and not isinstance(dql, dict):
        raise bad_request("filter: expected a DQL object.")
    selection = Selection(mode="filter", dql=dql.get("filter", dql)) if dql else None
    started = bulk_jobs.items_status_start(task=task, selection=selection, status=status, by=request.user)
    answer = {"taskId": api_id("task", task.pk), "status": status}
    if started.job is not None:
        command = _bulk_command(request, task, started, "bulkStatus")
        return {**answer, "updatedItemsCount": None, "operationId": None, "command": command}
    operation = started.operation
    return {
        **answer,
        "updatedItemsCount": started.count,
        "operationId": api_id("operation", operation.pk) if operation is not None else None,
    }


@api_view(["POST"])
def pull_next(request: AuthedHttpRequest):
    """A batch from the highest-priority task the caller may pull from ({"projectId"} narrows it)."""
    body = json_body(request, required=False)
    project = queries.project_get(request.user, body["projectId"]) if body.get("projectId") else None
    found = work_services.next_work(user=request.user, project=project)
    if found.task is None:
        return {"taskId": None, "claimed": 0}
    return {"taskId": api_id("task", found.task.pk), "claimed": found.claimed}


# --- People: caps, pauses, hand-offs, the people view ----------------------------------------------


def _optional_task(request: AuthedHttpRequest, body: dict, project):
    if body.get("taskId") in (None, ""):
        return None
    task = queries.task_get_managed(request.user, body["taskId"])
    if task.project_id != project.pk:
        raise bad_request("taskId: the task is not in this project.")
    return task


def _person(body: dict):
    if not isinstance(body.get("annotator"), str):
        raise bad_request("annotator: the person's email is required.")
    return users_by_email([body["annotator"]], field="annotator")[0]


def _managed_project(request: AuthedHttpRequest, project_id: str):
    project = queries.project_get(request.user, project_id)
    queries.require_manager(request.user, project)
    return project


def _person_json(row) -> dict:
    return {
        "annotator": row.user.email,
        "role": row.role,
        "openLoad": [
            {
                "taskId": api_id("task", load.task.pk),
                "taskName": load.task.name,
                "open": load.open,
                "held": load.held,
                "cap": load.cap,
                "paused": load.paused,
            }
            for load in row.loads
        ],
        "doneToday": row.done_today,
        "doneThisWeek": row.done_week,
        "lastActive": _ms(row.last_active) if row.last_active else None,
        "pausedEverywhere": row.paused_everywhere,
        "leases": row.leases,
        "leasedItems": row.leased_items,
    }


@api_view(["GET"])
def project_people(request: AuthedHttpRequest, project_id: str):
    project = _managed_project(request, project_id)
    return {"projectId": api_id("project", project.pk), "people": [_person_json(r) for r in people_rows(project)]}


@api_view(["POST"])
def project_people_lever(request: AuthedHttpRequest, project_id: str, lever: str):
    """pause / resume {"annotator", "taskId"?, "reason"?}; handOff {"annotator", "taskId"?}."""
    project = _managed_project(request, project_id)
    body = json_body(request)
    user = _person(body)
    task = _optional_task(request, body, project)
    if lever == "pause":
        reason = body.get("reason", "")
        if not isinstance(reason, str):
            raise bad_request("reason: expected text.")
        people.pause_person(project=project, user=user, task=task, by=request.user, reason=reason)
        result: dict = {"paused": True}
    elif lever == "resume":
        result = {"resumed": people.resume_person(project=project, user=user, task=task, by=request.user)}
    elif lever == "handOff":
        with transaction.atomic():
            started = bulk_jobs.person_hand_off_start(project=project, user=user, by=request.user, task=task)
            if started.job is not None:
                spec = {"projectId": api_id("project", project.pk), "itemsCount": started.count}
                command = command_record(
                    user=request.user, type="handOff", project=project, spec=spec, job=started.job
                )
        result = {
            "tasks": [
                {"taskId": api_id("task", h.task.pk), "moved": h.moved, "toQueue": h.to_queue, "skipped": h.skipped}
                for h in started.hand_offs
            ]
        }
        if started.job is not None:
            result = {"tasks": None, "command": command_json(command, request)}
    else:
        raise not_found("Unknown lever.")
    rows = people_rows(project, only_user_id=user.pk)
    return {**result, "person": _person_json(rows[0]) if rows else None}


@api_view(["GET", "PUT"])
def task_caps(request: AuthedHttpRequest, task_id: str):
    """GET: the task's caps. PUT {"annotator", "maxItems" | "maxShare" | neither (lifts it)}."""
    task = queries.task_get_managed(request.user, task_id)
    if request.method == "PUT":
        body = json_body(request)
        user = _person(body)
        caps.cap_set(
            task=task, user=user, by=request.user, max_items=body.get("maxItems"), max_share=body.get("maxShare")
        )
    total = caps.task_items(task)
    return {
        "taskId": api_id("task", task.pk),
        "caps": [
            {
                "annotator": c.user.email,
                "maxItems": c.max_items,
                "maxShare": c.max_share,
                "items": caps.cap_items(c, total),
            }
            for c in Cap.objects.filter(task=task).select_related("user").order_by("user__email")
        ],
    }


# --- Operations ----------------------------------------------------------------------------------------


def _operation_json(operation) -> dict:
    return {
        "id": api_id("operation", operation.pk),
        "type": operation.kind,
        "summary": operation.summary,
        "taskId": api_id("task", operation.task_id) if operation.task_id else None,
        "itemsCount": operation.count,
        "creator": operation.by.email if operation.by else None,
        "createdAt": _ms(operation.created_at),
        "undoneAt": _ms(operation.undone_at) if operation.undone_at else None,
        "undoneBy": operation.undone_by.email if operation.undone_by else None,
    }


@api_view(["GET"])
def project_operations(request: AuthedHttpRequest, project_id: str):
    """The project's bulk operations (reassign, redistribute, hand-off, bulk priority, bulk status), newest
    first."""
    project = _managed_project(request, project_id)
    return {"items": [_operation_json(op) for op in operations.operations_of(project=project)[:100]]}


@api_view(["POST"])
def operation_undo(request: AuthedHttpRequest, operation_id: str):
    """Undo a bulk operation as one (409 with the reason when any of its items moved since)."""
    pk = parse_id(operation_id, "operation")
    operation = BulkOperation.objects.filter(pk=pk).first() if pk is not None else None
    if operation is None or not can_manage(request.user, operation.project_id):
        raise not_found("Operation not found.")
    json_body(request, required=False)
    try:
        count = operations.operation_undo(operation=operation, by=request.user)
    except ValidationError as error:
        raise ApiError(409, " ".join(error.messages)) from None
    operation.refresh_from_db()
    return {**_operation_json(operation), "restoredItemsCount": count}


# --- Skips ---------------------------------------------------------------------------------------------


def _skip_policy_json(task) -> dict:
    return {
        "taskId": api_id("task", task.pk),
        "allowed": task.skip_allowed,
        "reasonRequired": task.skip_reason_required,
        "skipTo": task.skip_to,
        "skips": [
            {
                "itemId": api_id("item", s.item_id),
                "by": s.by.email if s.by else None,
                "reason": s.reason,
                "wentTo": s.went_to,
                "at": _ms(s.at),
            }
            for s in skips.skips_of(task)[:100]
        ],
    }


@api_view(["GET", "PATCH"])
def task_skips(request: AuthedHttpRequest, task_id: str):
    """GET: the skip policy and the latest skips. PATCH {"allowed", "reasonRequired", "skipTo"}."""
    task = queries.task_get_managed(request.user, task_id)
    if request.method == "PATCH":
        body = json_body(request)
        for key in ("allowed", "reasonRequired"):
            if key in body and not isinstance(body[key], bool):
                raise bad_request(f"{key}: expected true or false.")
        task = skips.skip_policy_set(
            task=task,
            by=request.user,
            allowed=body.get("allowed", task.skip_allowed),
            reason_required=body.get("reasonRequired", task.skip_reason_required),
            skip_to=body.get("skipTo", task.skip_to),
        )
    return _skip_policy_json(task)


@api_view(["POST"])
def assignment_item_skip(request: AuthedHttpRequest, assignment_id: str, item_id: str):
    """The holder skips the item ({"reason"}): it goes where the task's skip rule says."""
    assignment = queries.assignment_get(request.user, assignment_id)
    item = queries.item_get(request.user, item_id)
    body = json_body(request, required=False)
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise bad_request("reason: expected text.")
    row = TaskItem.objects.filter(task=assignment.task, assignment=assignment, item=item).first()
    if row is None:
        raise not_found("The item is not in this assignment.")
    skip = skips.item_skip(task_item=row, by=request.user, reason=reason)
    return {"itemId": api_id("item", item.pk), "skipped": True, "wentTo": skip.went_to, "reason": skip.reason}


# --- Stuck work ----------------------------------------------------------------------------------------


def _stuck_json(task) -> dict:
    policy = StuckPolicy.objects.filter(task=task).first()
    return {
        "taskId": api_id("task", task.pk),
        # A pulling task has no rule: its leases send untouched batches back (GET …/leases).
        "recoveredBy": "leases" if task.is_pulling else "rule" if policy else None,
        "leaseMinutes": task.lease_seconds // 60 if task.is_pulling else None,
        "afterHours": policy.after_hours if policy else None,
        "action": policy.action if policy else None,
        "items": [
            {
                "itemId": api_id("item", s.item_id),
                "holder": s.holder.email if s.holder else None,
                "idleSince": _ms(s.idle_since),
                "flaggedAt": _ms(s.flagged_at),
            }
            for s in stuck.stuck_items(task=task)[:500]
        ],
    }


@api_view(["GET", "PUT"])
def task_stuck(request: AuthedHttpRequest, task_id: str):
    """GET: the stuck rule and the open stuck items. PUT {"afterHours": n | null, "action"}."""
    task = queries.task_get_managed(request.user, task_id)
    if request.method == "PUT":
        body = json_body(request)
        stuck.stuck_policy_set(
            task=task, after_hours=body.get("afterHours"), action=body.get("action", "flag"), by=request.user
        )
    return _stuck_json(task)


@api_view(["POST"])
def task_stuck_sweep(request: AuthedHttpRequest, task_id: str):
    """Look for stuck work in the task now; answers what was found and handed on."""
    task = queries.task_get_managed(request.user, task_id)
    json_body(request, required=False)
    stuck.stuck_resolve_touched()
    swept = stuck.stuck_sweep_task(task=task)
    return {"flagged": swept.flagged, "handedOn": swept.moved, **_stuck_json(task)}
