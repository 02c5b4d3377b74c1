"""Pipelines: create, update (the SDK PATCHes its whole to_json()), get, install, pause.

The pipelines app owns the JSON ⇄ model mapping; these views authenticate, scope and answer.
"""

import json

from django.core.exceptions import ValidationError
from django.db import transaction

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.annotation.selection import Selection
from taskboard.api import queries
from taskboard.api import services as api_services
from taskboard.api.http import ApiError, api_view, bad_request, json_body
from taskboard.api.ids import api_id, command_api_id, parse_id
from taskboard.api.models import ApiCommand
from taskboard.api.paging import page_params, paged
from taskboard.api.serializers import command_json, iso
from taskboard.api.simple_filter import filter_q, ops
from taskboard.pipelines import dataloop, editing, running
from taskboard.pipelines.models import Pipeline

EXECUTION = "PipelineExecution"


def _json(pipeline, request):
    data = dataloop.pipeline_to_dataloop_json(pipeline)
    data.setdefault("id", api_id("pipeline", pipeline.pk))
    data.setdefault("url", request.build_absolute_uri(f"/api/v1/pipelines/{data['id']}"))
    return data


@api_view(["POST"])
def pipeline_collection(request: AuthedHttpRequest):
    body = json_body(request)
    if not isinstance(body.get("name"), str) or not body["name"].strip():
        raise bad_request("name: required.")
    if not isinstance(body.get("projectId"), str):
        raise bad_request("projectId: required.")
    project = queries.project_get(request.user, body["projectId"])
    queries.require_manager(request.user, project)
    description = given if isinstance(given := body.get("description"), str) else ""
    with transaction.atomic():
        pipeline = editing.pipeline_create(
            project=project, name=body["name"].strip(), by=request.user, description=description
        )
        if any(body.get(key) for key in ("nodes", "connections", "settings", "variables", "startNodes")):
            pipeline = dataloop.pipeline_save_from_dataloop_json(pipeline=pipeline, data=body, by=request.user)
    return _json(pipeline, request)


def _project_id(value):
    pk = parse_id(value, "project")
    if pk is None:
        raise bad_request(f"{value!r} is not a project id.")
    return pk


PIPELINE_FIELDS = {
    "name": ops("name", lambda v: v),
    "projectId": ops("project_id", _project_id),
    "id": ops("pk", lambda v: parse_id(v, "pipeline")),
}


def _execution_json(record: ApiCommand, pipeline: Pipeline) -> dict:
    """A run of one item (`pipeline.execute`), as dtlpy's PipelineExecution reads it."""
    pid = api_id("pipeline", pipeline.pk)
    return {
        "id": command_api_id(record.pk),
        "pipelineId": pid,
        "pipeline": {"id": pid, "name": pipeline.name},
        "projectId": api_id("project", pipeline.project_id),
        "status": record.spec.get("result", "success"),
        "input": {"item": record.spec.get("itemId")},
        "nodes": [],
        "executions": {},
        "creator": record.user.email,
        "createdAt": iso(record.created_at),
        "updatedAt": iso(record.updated_at),
    }


def _execution_query(request: AuthedHttpRequest, body: dict) -> dict:
    """`pipeline.executions.list()`: POST /pipelines/query with resource "pipelineState" and a pipelineId."""
    page, size = page_params(body, default_size=100)
    filt = body.get("filter") or {}
    clauses = filt.get("$and") if isinstance(filt, dict) else None
    wanted = [c["pipelineId"] for c in clauses or [] if isinstance(c, dict) and isinstance(c.get("pipelineId"), str)]
    if len(wanted) != 1:
        raise bad_request('filter: executions are listed for one pipeline, {"$and": [{"pipelineId": "<id>"}]}.')
    pipeline = queries.pipeline_get(request.user, wanted[0])
    records = ApiCommand.objects.filter(
        type=EXECUTION, project_id=pipeline.project_id, spec__pipelineId=api_id("pipeline", pipeline.pk)
    ).select_related("user")
    records = records.order_by("-pk")
    total = records.count()
    rows = list(records[page * size : (page + 1) * size])
    return paged([_execution_json(r, pipeline) for r in rows], total=total, page=page, size=size)


@api_view(["POST"])
def pipeline_query(request: AuthedHttpRequest):
    body = json_body(request)
    if body.get("resource") == "pipelineState":
        return _execution_query(request, body)
    page, size = page_params(body, default_size=500)
    pipelines = Pipeline.objects.managed_by(request.user)
    context = body.get("context") or {}
    if not isinstance(context, dict):
        raise bad_request('context: an object such as {"projects": ["<project id>"]}.')
    projects = context.get("projects")
    if projects is not None and not (isinstance(projects, list) and all(isinstance(p, str) for p in projects)):
        raise bad_request("context.projects: a list of project ids.")
    if projects:
        try:
            pipelines = pipelines.filter(project_id__in=[_project_id(p) for p in projects])
        except ApiError as error:
            raise bad_request(f"context.projects: {error.message}") from None
    pipelines = pipelines.filter(filter_q(body.get("filter"), PIPELINE_FIELDS)).order_by("pk")
    total = pipelines.count()
    rows = list(pipelines[page * size : (page + 1) * size])
    return paged([_json(p, request) for p in rows], total=total, page=page, size=size)


@api_view(["GET", "PATCH", "PUT", "DELETE"])
def pipeline_detail(request: AuthedHttpRequest, pipeline_id: str):
    pipeline = queries.pipeline_get(request.user, pipeline_id)
    if request.method == "GET":
        return _json(pipeline, request)
    queries.require_manager(request.user, pipeline.project)
    if request.method == "DELETE":
        editing.pipeline_delete(pipeline=pipeline, by=request.user)
        return {"id": pipeline_id, "deleted": True}
    body = json_body(request)
    if body.get("projectId") is not None and parse_id(body["projectId"], "project") != pipeline.project_id:
        raise bad_request("projectId: a pipeline cannot move to another project.")
    pipeline = dataloop.pipeline_save_from_dataloop_json(pipeline=pipeline, data=body, by=request.user)
    return _json(pipeline, request)


@api_view(["POST"])
def pipeline_install(request: AuthedHttpRequest, pipeline_id: str):
    pipeline = queries.pipeline_get(request.user, pipeline_id)
    queries.require_manager(request.user, pipeline.project)
    json_body(request, required=False)
    pipeline = running.pipeline_install(pipeline=pipeline, by=request.user) or pipeline
    return _json(pipeline, request)


@api_view(["POST"])
def pipeline_uninstall(request: AuthedHttpRequest, pipeline_id: str):
    pipeline = queries.pipeline_get(request.user, pipeline_id)
    queries.require_manager(request.user, pipeline.project)
    json_body(request, required=False)
    pipeline = running.pipeline_pause(pipeline=pipeline, by=request.user) or pipeline
    return _json(pipeline, request)


@api_view(["POST"])
def pipeline_execute(request: AuthedHttpRequest, pipeline_id: str):
    """Run one item (`{"pipeline": {"input": {"item": I}}}`) or a DQL batch (`{"batch": {"query": …}}`)
    into the pipeline's entry task."""
    pipeline = queries.pipeline_get(request.user, pipeline_id)
    queries.require_manager(request.user, pipeline.project)
    body = json_body(request)
    batch = body.get("batch")
    if batch is not None and not isinstance(batch, dict):
        raise bad_request('batch: an object such as {"query": {"filter": …}}.')
    if isinstance(batch, dict):
        query = batch.get("query")
        if isinstance(query, str):
            try:
                query = json.loads(query)
            except ValueError:
                raise bad_request("batch.query: not valid JSON.") from None
        if not isinstance(query, dict):
            raise bad_request("batch.query: a DQL query is required.")
        filt = query.get("filter") if isinstance(query.get("filter"), dict) else query
        try:
            # A big batch runs as a job; the command follows the job's state and progress.
            command, _ = api_services.pipeline_execute(
                pipeline=pipeline,
                selection=Selection(mode="filter", dql=filt),
                by=request.user,
                type="PipelineBatchExecute",
                spec_of=lambda result: {
                    "pipelineId": api_id("pipeline", pipeline.pk),
                    "added": result.added,
                    "skipped": result.skipped,
                    "entering": result.entering,
                },
            )
        except ValidationError as error:
            if set(error.message_dict) == {"selection"}:
                raise bad_request(f"batch.query: {' '.join(error.message_dict['selection'])}") from None
            raise
        return command_json(command, request)
    execution = body.get("pipeline")
    if not isinstance(execution, dict):
        raise bad_request('pipeline: an object such as {"input": {"item": "<item id>"}} (or give a batch).')
    given = execution.get("input")
    if not isinstance(given, dict):
        raise bad_request('pipeline.input: an object such as {"item": "<item id>"}.')
    item_value = given.get("item")
    if isinstance(item_value, dict):
        item_value = item_value.get("item_id") or item_value.get("id")
    if not isinstance(item_value, str):
        raise bad_request("pipeline.input.item: an item id (a string) is required.")
    item = queries.item_get(request.user, item_value)
    # Executions are recorded as commands: they share the id space and the admin list.
    record, _result = api_services.pipeline_execute(
        pipeline=pipeline,
        selection=Selection(mode="list", item_ids=(item.pk,)),
        by=request.user,
        type=EXECUTION,
        spec_of=lambda result: {
            "pipelineId": api_id("pipeline", pipeline.pk),
            "itemId": item_value,
            "result": "success" if result.added else "skipped",
        },
    )
    return _execution_json(record, pipeline)
