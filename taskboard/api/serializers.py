"""Models → the entity JSON dtlpy parses (docs/api.md). Ids are 24-hex strings,
dates are ISO 8601 (due dates: epoch milliseconds, as the SDK sends them)."""

import json
from collections import defaultdict
from typing import Any

from taskboard.annotation.models import (
    Assignment,
    AssignmentKind,
    StatusLog,
    TaskItem,
    TaskStatus,
    WorkloadEntry,
)
from taskboard.annotation.progress import assignments_progress, tasks_progress
from taskboard.api.ids import api_id, command_api_id
from taskboard.api.models import ApiCommand, ApiTaskInfo


def iso(value) -> str | None:
    if value is None:
        return None
    return value.isoformat().replace("+00:00", "Z")


def ms(value) -> float | None:
    return None if value is None else value.timestamp() * 1000


def _url(request, path: str) -> str:
    return request.build_absolute_uri(f"/api/v1/{path}") if request is not None else f"/api/v1/{path}"


def user_json(user, request=None) -> dict:
    return {
        "id": user.email,
        "_id": api_id("user", user.pk),
        "email": user.email,
        "username": user.email,
        "firstName": user.name,
        "lastName": "",
        "name": user.display_name,
        "role": "admin" if user.is_superuser else "member",
        "type": "human",
        "createdAt": iso(user.date_joined),
    }


def project_json(project, request=None, *, role=None) -> dict:
    pid = api_id("project", project.pk)
    return {
        "id": pid,
        "name": project.name,
        "description": project.description,
        "creator": project.created_by.email if project.created_by_id else None,
        "createdAt": iso(project.created_at),
        "updatedAt": iso(project.created_at),
        "url": _url(request, f"projects/{pid}"),
        "role": role,
        "org": None,
        "account": None,
        "isBlocked": False,
        "archived": False,
        "contributors": [],
        "featureConstraints": [],
        "systemProject": False,
    }


def dataset_json(dataset, request=None, *, items_count=None, recipe_ids=None) -> dict:
    did = api_id("dataset", dataset.pk)
    if recipe_ids is None:
        # The default recipe first: dtlpy uses recipes[0] when no recipe_id is given.
        recipe_ids = list(dataset.recipes.order_by("-is_default", "pk").values_list("pk", flat=True))
    if items_count is None:
        items_count = dataset.items.count()
    return {
        "id": did,
        "name": dataset.name,
        "description": dataset.description,
        "projects": [api_id("project", dataset.project_id)],
        "metadata": {"system": {"recipes": [api_id("recipe", pk) for pk in recipe_ids]}},
        "itemsCount": items_count,
        "annotated": None,
        "annotationsCount": None,
        "creator": None,
        "createdAt": iso(dataset.created_at),
        "updatedAt": iso(dataset.created_at),
        "url": _url(request, f"datasets/{did}"),
        "items": _url(request, f"datasets/{did}/items"),
        "readonly": False,
        "readableType": "default",
        "accessLevel": "write",
        "driver": None,
        "indexDriver": "v2",
        "enableSyncWithCloned": None,
        "expirationOptions": None,
        "isSyncing": False,
    }


def _ref(kind: str, pk: int, status: str | None) -> dict:
    return {"type": kind, "id": api_id(kind, pk), "metadata": {"status": status} if status else {}}


def item_refs(item_pks) -> dict[int, list[dict]]:
    """metadata.system.refs of originals, from their copy-0 task rows in one query. An original in a
    consensus task refers to the task alone: its copies are clones, with refs of their own."""
    refs: dict[int, list[dict]] = defaultdict(list)
    rows = (
        TaskItem.objects.filter(item_id__in=list(item_pks), copy=0)
        .order_by("item_id", "task_id")
        .values_list("item_id", "task_id", "assignment_id", "assignment__kind", "status")
    )
    for item_id, task_id, assignment_id, kind, status in rows:
        refs[item_id].append(_ref("task", task_id, status))
        if kind != AssignmentKind.CONSENSUS:
            refs[item_id].append(_ref("assignment", assignment_id, status))
    return refs


def clone_refs(row: TaskItem) -> list[dict]:
    """A clone's refs: its task and its copy's assignment, with the copy's status."""
    return [_ref("task", row.task_id, row.status), _ref("assignment", row.assignment_id, row.status)]


def _log_entry(entry: StatusLog) -> dict:
    return {
        "action": entry.action,
        "status": {
            "taskId": api_id("task", entry.task_id),
            "assignmentId": api_id("assignment", entry.assignment_pk),
            "status": entry.status,
            "creator": entry.creator,
            "timestamp": iso(entry.at),
        },
    }


def status_logs(entries) -> dict[tuple[int, int, int], list[dict]]:
    """metadata.system.taskStatusLog for originals and clones, in one query: keyed (item, 0, 0) for an
    original (its copy-0 history in every task) and (item, task, copy) for a clone."""
    item_pks = {e.item_id if isinstance(e, TaskItem) else e.pk for e in entries}
    logs: dict[tuple[int, int, int], list[dict]] = defaultdict(list)
    for entry in StatusLog.objects.filter(item_id__in=list(item_pks)).order_by("item_id", "at", "pk"):
        key = (entry.item_id, 0, 0) if entry.copy == 0 else (entry.item_id, entry.task_id, entry.copy)
        logs[key].append(_log_entry(entry))
    return logs


def item_json(item, request=None, *, refs=None, logs=None, project_pk=None, clone: TaskItem | None = None) -> dict:
    """An original item, or with `clone` the hidden clone of one consensus copy of it."""
    iid = api_id("item", item.pk)
    metadata = dict(item.metadata) if isinstance(item.metadata, dict) else {}
    system = dict(metadata.get("system") or {}) if isinstance(metadata.get("system"), dict) else {}
    if refs is None:
        refs = clone_refs(clone) if clone is not None else item_refs([item.pk])[item.pk]
    if logs is None:
        logs = status_logs([clone if clone is not None else item])
        logs = logs[(item.pk, clone.task_id, clone.copy) if clone is not None else (item.pk, 0, 0)]
    system.update({"mimetype": item.mimetype, "refs": refs, "taskStatusLog": logs})
    metadata["system"] = system
    # A stored file streams through the API's checked route (MEDIA_URL is never served).
    stream = item.url or (_url(request, f"items/{iid}/stream") if item.file else None)
    own_id = api_id("clone", clone.pk) if clone is not None else iid
    return {
        "id": own_id,
        "datasetId": api_id("dataset", item.dataset_id),
        "projectId": api_id("project", project_pk) if project_pk else None,
        "type": "file",
        "hidden": clone is not None,
        "dir": item.dir,
        "name": item.name,
        "filename": item.filename,
        "annotated": item.annotated,
        "metadata": metadata,
        "createdAt": iso(item.created_at),
        "updatedAt": iso(item.created_at),
        "url": _url(request, f"items/{own_id}"),
        "stream": stream,
        "thumbnail": stream,
        "spec": {"parentDatasetItemId": iid} if clone is not None else {},
    }


def items_json(entries, request=None, *, project_pk=None) -> list[dict]:
    """Originals (`Item`) and clones (a consensus copy's `TaskItem`, its item loaded), in order."""
    entries = list(entries)
    refs = item_refs([e.pk for e in entries if not isinstance(e, TaskItem)])
    logs = status_logs(entries)
    out = []
    for entry in entries:
        if isinstance(entry, TaskItem):
            key = (entry.item_id, entry.task_id, entry.copy)
            out.append(
                item_json(
                    entry.item, request, refs=clone_refs(entry), logs=logs[key], project_pk=project_pk, clone=entry
                )
            )
        else:
            out.append(
                item_json(
                    entry, request, refs=refs.get(entry.pk, []), logs=logs[(entry.pk, 0, 0)], project_pk=project_pk
                )
            )
    return out


def tasks_json(tasks, request=None) -> list[dict]:
    """Task JSON for many tasks with a fixed number of queries."""
    tasks = list(tasks)
    pks = [t.pk for t in tasks]
    assignments = defaultdict(list)
    for a in Assignment.objects.filter(task_id__in=pks).order_by("pk"):
        assignments[a.task_id].append(a)
    progress = tasks_progress(tasks)
    statuses = defaultdict(list)
    for s in TaskStatus.objects.filter(task_id__in=pks).order_by("task_id", "position", "key"):
        statuses[s.task_id].append(s)
    workload = defaultdict(list)
    for w in WorkloadEntry.objects.filter(task_id__in=pks).select_related("assignee").order_by("pk"):
        workload[w.task_id].append(w)
    infos = _task_infos(pks)
    return [
        _task_json(t, request, assignments[t.pk], progress[t.pk], statuses[t.pk], workload[t.pk], infos.get(t.pk))
        for t in tasks
    ]


def _task_infos(task_pks: list[int]) -> dict[int, ApiTaskInfo]:
    """What Dataloop clients sent for these tasks, to echo back. A task a job made has no row of its
    own: its echo is read from the payload its command kept (reads never write)."""
    infos = {i.task_id: i for i in ApiTaskInfo.objects.filter(task_id__in=task_pks)}
    missing = [pk for pk in task_pks if pk not in infos]
    if missing:
        for command in ApiCommand.objects.filter(
            type="CreateTask", job__result__task_id__in=missing, job__state="succeeded"
        ).select_related("job"):
            if command.job is None:
                continue  # the query asked for the job's result
            payload = command.spec.get("createTaskPayload") or {}
            due = payload.get("dueDate")
            task_pk = command.job.result["task_id"]
            infos.setdefault(
                task_pk,
                ApiTaskInfo(
                    task_id=task_pk,
                    query_text=query if isinstance(query := payload.get("query"), str) else "",
                    due_ms=float(due) if isinstance(due, int | float) and not isinstance(due, bool) else None,
                    available_actions=payload.get("availableActions") or [],
                ),
            )
    return infos


def task_json(task, request=None) -> dict:
    return tasks_json([task], request)[0]


def _task_json(task, request, assignments, progress, statuses, workload, info) -> dict:
    tid = api_id("task", task.pk)
    # An assignment a reassign emptied is gone, as in Dataloop (listed again if it gets items back).
    work = [a for a in assignments if a.kind == AssignmentKind.WORK and (not a.removed or a.item_count)]
    # Dataloop counts a consensus task's originals beside their copies.
    originals = sum(a.item_count for a in assignments if a.kind == AssignmentKind.CONSENSUS)
    system: dict = {}
    allowed = [w.assignee.email for w in workload]
    if task.is_pulling:
        system.update(
            {
                "allowedAssignees": allowed,
                "batchSize": task.batch_size,
                "maxBatchWorkload": task.max_batch_workload,
                "scoring": False,
            }
        )
    if task.is_consensus:
        system.update(
            {
                "allowedAssignees": allowed,
                "consensusPercentage": task.consensus_percentage,
                "consensusAssignees": task.consensus_assignees,
                "scoring": False,
            }
        )
        pool = next((a for a in assignments if a.kind == AssignmentKind.CONSENSUS), None)
        if pool is not None:
            system["consensusAssignmentId"] = api_id("assignment", pool.pk)
    if task.is_pulling:
        pool = next((a for a in assignments if a.kind == AssignmentKind.QUEUE), None)
        if pool is not None:
            system["queueAssignmentId"] = api_id("assignment", pool.pk)
    metadata = dict(task.metadata) if isinstance(task.metadata, dict) else {}
    metadata["system"] = (
        {**(metadata.get("system") or {}), **system} if isinstance(metadata.get("system"), dict) else system
    )
    if info is not None and info.query_text:
        query = info.query_text
    elif isinstance(task.query, str):
        query = task.query
    elif task.query is not None:
        query = json.dumps(task.query)
    else:
        query = None
    due = ms(task.due_at)
    if info is not None and info.due_ms is not None and abs(info.due_ms - due) < 1:
        due = info.due_ms
    spec = {"type": task.type}
    if task.parent_id:
        spec["parentTaskId"] = api_id("task", task.parent_id)
    return {
        "id": tid,
        "name": task.name,
        "description": {"content": task.description} if task.description else None,
        "datasetId": api_id("dataset", task.dataset_id),
        "projectId": api_id("project", task.project_id),
        "recipeId": api_id("recipe", task.recipe_id),
        "creator": task.created_by.email,
        "taskOwner": task.owner.email,
        "assignmentIds": [api_id("assignment", a.pk) for a in work],
        "status": task.state,
        "dueDate": due,
        "priority": task.priority,
        "query": query,
        "spec": spec,
        "metadata": metadata,
        "progress": round(100 * progress.done / progress.total) if progress.total else 0,
        "totalItems": progress.total + originals,
        "itemStatus": {status: n for status, n in progress.by_status.items() if n},
        "annotationStatus": {},
        "issues": progress.issues,
        "forReview": progress.rework,
        "availableActions": [{"action": s.key, "displayName": s.label, "color": s.color} for s in statuses],
        "allocation": task.allocation,
        "url": _url(request, f"annotationtasks/{tid}"),
        "createdAt": iso(task.created_at),
        "updatedAt": iso(task.updated_at),
    }


def assignments_json(assignments, request=None) -> list[dict]:
    assignments = list(assignments)
    progress = assignments_progress(assignments)
    return [_assignment_json(a, request, progress[a.pk]) for a in assignments]


def assignment_json(assignment, request=None) -> dict:
    return assignments_json([assignment], request)[0]


def _assignment_json(a, request, progress) -> dict:
    aid = api_id("assignment", a.pk)
    task = a.task
    email = a.assignee.email if a.assignee_id else None
    system: dict[str, Any] = {
        "taskId": api_id("task", a.task_id),
        "datasetId": api_id("dataset", task.dataset_id),
        "projectId": api_id("project", task.project_id),
    }
    if a.removed:
        system["markForDeletion"] = True
    counts = {status: n for status, n in progress.by_status.items() if n}
    return {
        "id": aid,
        "name": f"{task.name} ({email or a.get_kind_display()})",
        "annotator": email,
        "status": "completed" if progress.total and progress.with_status >= progress.total else "open",
        "projectId": api_id("project", task.project_id),
        "datasetId": api_id("dataset", task.dataset_id),
        "metadata": {"system": system},
        "totalItems": a.item_count,
        "itemStatus": counts,
        "annotationStatus": {},
        "issues": progress.issues,
        "forReview": progress.rework,
        "url": _url(request, f"assignments/{aid}"),
        "createdAt": iso(a.created_at),
        "updatedAt": iso(a.created_at),
    }


def command_json(command, request=None) -> dict:
    status = command.status
    progress = 100 if status == "success" else 0
    spec = dict(command.spec)
    error = command.error or None
    job = command.job
    if job is not None:
        if job.state == "succeeded":
            status, progress = "success", 100
            result = job.result or {}
            task_pk = result.get("task_id")
            if task_pk and "createdTaskId" in spec:
                spec["createdTaskId"] = api_id("task", task_pk)
            # A reassign or redistribute that ran as a job names its assignments once it has made them.
            if result.get("to_assignment") and "toAssignment" in spec:
                spec["toAssignment"] = api_id("assignment", result["to_assignment"])
            if "assignments" in result and "assignments" in spec:
                spec["assignments"] = [api_id("assignment", pk) for pk in result["assignments"]]
            if "createdItemsCount" in spec:  # an items import: its job's result has the counts
                spec["createdItemsCount"] = result.get("created")
                spec["skippedItemsCount"] = result.get("skipped")
        elif job.state == "failed":
            status, error = "failed", job.error or "The job failed."
        elif job.state == "pending":
            status = "created"  # queued: no worker has it yet (the broker may be down)
        else:
            status, progress = "in-progress", job.percent
    return {
        "id": command_api_id(command.pk),
        "type": command.type,
        "status": status,
        "progress": progress,
        "spec": spec,
        "error": error,
        "createdAt": iso(command.created_at),
        "updatedAt": iso(command.updated_at),
    }
