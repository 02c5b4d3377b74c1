"""Projects, datasets and items."""

from __future__ import annotations

import io
import json

from django.core.files import File
from django.db.models import Count

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.api import items, queries
from taskboard.api import services as api_services
from taskboard.api.http import ApiError, api_view, bad_request, json_body, not_found
from taskboard.api.ids import parse_id
from taskboard.api.paging import page_params, paged
from taskboard.api.serializers import command_json, dataset_json, item_json, items_json, project_json
from taskboard.api.simple_filter import filter_q, ops
from taskboard.datasets import services as datasets_services
from taskboard.datasets.files import item_file_response
from taskboard.datasets.manifest_rows import split_filename
from taskboard.datasets.models import Dataset, Item
from taskboard.projects.models import Project


@api_view(["GET"])
def project_by_name(request: AuthedHttpRequest, name: str):
    projects = list(Project.objects.visible_to(request.user).filter(name=name))
    if not projects:
        raise not_found(f"Project not found. Name: '{name}'")
    return [project_json(p, request, role=queries.role_in(request.user, p)) for p in projects]


@api_view(["GET"])
def project_detail(request: AuthedHttpRequest, project_id: str):
    project = queries.project_get(request.user, project_id)
    return project_json(project, request, role=queries.role_in(request.user, project))


def _id_of(kind):
    def convert(value):
        pk = parse_id(value, kind)
        if pk is None:
            raise bad_request(f"{value!r} is not a {kind} id.")
        return pk

    return convert


def _str(value):
    if not isinstance(value, str):
        raise bad_request("Expected a string.")
    return value


DATASET_FIELDS = {
    "name": ops("name", _str),
    "id": ops("pk", _id_of("dataset")),
    "projects": ops("project_id", _id_of("project"), allowed=("$eq", "$in")),
}


@api_view(["POST"])
def dataset_query(request: AuthedHttpRequest):
    body = json_body(request)
    page, size = page_params(body)
    datasets = Dataset.objects.visible_to(request.user).select_related("project")
    context = body.get("context") or {}
    if not isinstance(context, dict):
        raise bad_request("context must be an object.")
    project_ids = context.get("projects")
    if project_ids is not None:
        if not isinstance(project_ids, list):
            raise bad_request("context.projects must be a list of project ids.")
        datasets = datasets.filter(project_id__in=[parse_id(p, "project") for p in project_ids])
    datasets = datasets.filter(filter_q(body.get("filter"), DATASET_FIELDS)).order_by("pk")
    total = datasets.count()
    rows = list(datasets.annotate(n_items=Count("items"))[page * size : (page + 1) * size])
    return paged([dataset_json(d, request, items_count=d.n_items) for d in rows], total=total, page=page, size=size)


@api_view(["GET"])
def dataset_detail(request: AuthedHttpRequest, dataset_id: str):
    return dataset_json(queries.dataset_get(request.user, dataset_id), request)


@api_view(["POST"])
def item_query(request: AuthedHttpRequest, dataset_id: str):
    dataset = queries.dataset_get(request.user, dataset_id)
    body = json_body(request)
    resource = body.get("resource", "items")
    if resource != "items":
        raise bad_request(f"resource {resource!r} is not supported here (items only).")
    listing = items.item_listing(request.user, dataset, body)
    return paged(
        items_json(listing.entries, request, project_pk=dataset.project_id),
        total=listing.total,
        page=listing.page,
        size=listing.size,
        has_next=listing.has_next,
    )


UPLOAD_MODES = ("skip", "overwrite")


@api_view(["POST"])
def item_upload(request: AuthedHttpRequest, dataset_id: str):
    """dtlpy's `dataset.items.upload(local_path=…)`: one multipart POST per file (`file`, `path`, `type`,
    `?mode=skip`), a URL list too (dtlpy fetches each URL and uploads its bytes). Stored through the
    datasets app's upload (Django's storage); an item already at that path is answered as it is."""
    dataset = queries.dataset_get(request.user, dataset_id)
    queries.require_manager(request.user, dataset.project)
    upload = request.FILES.get("file")
    if upload is None:
        raise bad_request("file: a multipart upload with the file is required.")
    mode = request.GET.get("mode", "skip")
    if mode not in UPLOAD_MODES:
        raise bad_request(f"mode: one of {', '.join(UPLOAD_MODES)}.")
    if request.POST.get("type", "file") != "file":
        raise bad_request("type: only files are uploaded here (no folders or links).")
    if request.POST.get("metadata") not in (None, "", "{}", "null"):
        raise bad_request("metadata: uploads do not take item metadata here; upload without it.")
    try:
        folder, name = split_filename(request.POST.get("path") or f"/{upload.name}")
    except ValueError as error:
        raise bad_request(f"path: {error}.") from None
    existing = Item.objects.filter(dataset=dataset, filename=Item.join_filename(folder, name)).first()
    if existing is not None:
        if mode == "overwrite":
            raise ApiError(409, f"{existing.filename} is already in the dataset; overwriting is not supported.")
        data = item_json(existing, request, project_pk=dataset.project_id)
        data["metadata"]["system"]["size"] = existing.file.size if existing.file else 0
        return data
    upload.name = name
    (item,) = datasets_services.items_upload(dataset=dataset, files=[upload], folder=folder, by=request.user)
    data = item_json(item, request, project_pk=dataset.project_id)
    # dtlpy checks the stored size against what it sent.
    data["metadata"]["system"].update({"size": upload.size, "originalname": name})
    return data


def _items_manifest(body: dict) -> File[bytes]:
    """A JSON body's `items` list as the JSON Lines manifest it is: one object a line, its rules
    checked by the import (row N is the list's N-th item)."""
    items_given = body.get("items")
    if not isinstance(items_given, list) or not items_given:
        raise bad_request("items: a non-empty list of {filename, url, metadata} objects is required.")
    lines = io.BytesIO()
    for item in items_given:
        # A non-object stays a line of its own, for the import to name by its row.
        lines.write(json.dumps(item, ensure_ascii=False).encode())
        lines.write(b"\n")
    lines.seek(0)
    return File(lines, name="items.jsonl")


@api_view(["POST"])
def item_import(request: AuthedHttpRequest, dataset_id: str):
    """Taskboard's extension (docs/api.md): many items in one request, through the manifest import the
    dataset page uses. A multipart `file` (CSV or JSON Lines), or a JSON body `{"items": [...]}`.
    Answers a command: finished with the counts, or following the import job of a large manifest."""
    dataset = queries.dataset_get(request.user, dataset_id)
    queries.require_manager(request.user, dataset.project)
    file: File[bytes] | None
    if request.content_type == "multipart/form-data":
        file = request.FILES.get("file")
        if file is None:
            raise bad_request("file: a multipart upload of the manifest (CSV or JSON Lines) is required.")
    else:
        file = _items_manifest(json_body(request))
    command = api_services.items_import(dataset=dataset, file=file, by=request.user)
    return command_json(command, request)


@api_view(["GET"])
def item_detail(request: AuthedHttpRequest, item_id: str):
    if items.is_clone_id(item_id):
        row = items.clone_get(request.user, item_id)
        return item_json(row.item, request, project_pk=row.item.dataset.project_id, clone=row)
    item = queries.item_get(request.user, item_id)
    return item_json(item, request, project_pk=item.dataset.project_id)


@api_view(["GET"])
def item_stream(request: AuthedHttpRequest, item_id: str):
    """The item's stored file (dtlpy's download), for those who may see the item."""
    return item_file_response(queries.item_get(request.user, item_id))
