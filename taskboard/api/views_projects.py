"""Projects, datasets and items."""

from django.db.models import Count

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.api import items, queries
from taskboard.api.http import api_view, bad_request, json_body, not_found
from taskboard.api.ids import parse_id
from taskboard.api.paging import page_params, paged
from taskboard.api.serializers import dataset_json, item_json, items_json, project_json
from taskboard.api.simple_filter import filter_q, ops
from taskboard.datasets.files import item_file_response
from taskboard.datasets.models import Dataset
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
