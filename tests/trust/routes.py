"""Every route of the site, taken from the URL resolver, and how to call it against the `world` fixture.

`ROUTES` maps a route name to a Route. A route the resolver knows and this table does not fails
`test_every_route_is_in_the_matrix`, so a new view cannot ship without being tried by the access matrix.
"""

import dataclasses
from collections.abc import Callable

from django.urls import URLPattern, URLResolver, get_resolver, reverse

from taskboard.api.ids import api_id, command_api_id


def walk(patterns=None, namespace=None):
    """(name, pattern) for every named route, skipping the admin (Django's own) and media."""
    if patterns is None:
        patterns = get_resolver().url_patterns
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if str(entry.pattern).startswith("admin/"):
                continue
            ns = namespace
            if entry.namespace:
                ns = f"{namespace}:{entry.namespace}" if namespace else entry.namespace
            yield from walk(entry.url_patterns, ns)
        elif isinstance(entry, URLPattern) and entry.name:
            yield (f"{namespace}:{entry.name}" if namespace else entry.name), str(entry.pattern)


@dataclasses.dataclass(frozen=True)
class Route:
    kind: str  # "page" (login redirect when anonymous), "api" (401), "public"
    scope: str  # "object": names a Street object; "list": the user's own things; "public"
    kwargs: Callable[[dict], dict] = lambda w: {}
    # method -> body maker (world -> dict); the methods the view accepts
    calls: dict = dataclasses.field(default_factory=lambda: {"GET": None})
    query: Callable[[dict], dict] | None = None
    # members of Street below manager who may legitimately read this (carol, rita): none by default
    member_readable: bool = False


def A(kind, pk):  # noqa: N802 - reads like the API id it makes
    return api_id(kind, pk)


def _empty(w):
    return {}


def _task(w):
    return {"pk": w["task"].pk}


def _work(w):
    return {"assignment_id": w["assignment"].pk, "task_item_id": w["task_item"].pk}


def _api_task(w):
    return {"task_id": A("task", w["task"].pk)}


def _status(w):
    return {"status": "completed"}


def _person(w):
    return {"project_id": w["project"].pk, "user_id": w["assignment"].assignee_id}


def _api_task(w):
    return {"task_id": A("task", w["task"].pk)}


def _api_project(w):
    return {"project_id": A("project", w["project"].pk)}


def _dql(w):
    return {"filter": {"$and": [{"hidden": False}]}}


def _api_task_body(w):
    return {
        "name": "stolen",
        "datasetId": A("dataset", w["dataset"].pk),
        "projectId": A("project", w["project"].pk),
        "dueDate": 4_102_444_800_000,
        "assignee_ids": [w["annotator"].email],
        "query": _dql(w),
    }


ROUTES: dict[str, Route] = {
    # ---- public
    "accounts:login": Route("public", "public", calls={"GET": None}),
    "accounts:logout": Route("public", "public", calls={"POST": lambda w: {}}),
    "api-token": Route("public", "public", calls={"POST": lambda w: {"type": "user_credentials"}}),
    "api-login": Route("public", "public", calls={"GET": None}),
    "api:unknown": Route("api", "public", kwargs=lambda w: {}, calls={"GET": None}),
    # ---- lists: the user's own things only
    "dashboards:home": Route("page", "list"),
    "work:my-work": Route("page", "list"),
    "pipelines:list": Route("page", "list"),
    "api:users-me": Route("api", "list"),
    "api:dataset-query": Route("api", "list", calls={"POST": lambda w: {}}),
    "api:task-query": Route("api", "list", calls={"POST": lambda w: {}}),
    "api:assignment-list": Route("api", "list"),
    "api:pipeline-query": Route("api", "list", calls={"POST": lambda w: {}}),
    "api:task-collection": Route("api", "object", calls={"POST": _api_task_body}),
    "api:pipeline-collection": Route(
        "api",
        "object",
        calls={"POST": lambda w: {"name": "stolen", "projectId": A("project", w["project"].pk), "nodes": []}},
    ),
    "annotation:wizard-start": Route(
        "page", "object", calls={"GET": None}, query=lambda w: {"dataset": w["dataset"].pk}
    ),
    # Wizard drafts live in the owner's session: another session has no such draft.
    "annotation:wizard-create": Route("page", "object", kwargs=lambda w: {"wid": w["wid"]}, calls={"POST": _empty}),
    "annotation:wizard-job": Route("page", "object", kwargs=lambda w: {"wid": w["wid"]}),
    "annotation:wizard-retry": Route("page", "object", kwargs=lambda w: {"wid": w["wid"]}, calls={"POST": _empty}),
    "annotation:wizard-step": Route(
        "page",
        "object",
        kwargs=lambda w: {"wid": w["wid"], "step": "items"},
        calls={"GET": None, "POST": lambda w: {"mode": "all"}},
    ),
    "annotation:wizard-validate": Route(
        "page",
        "object",
        kwargs=lambda w: {"wid": w["wid"], "step": "items"},
        calls={"POST": lambda w: {"mode": "all"}},
    ),
    # ---- project
    "dashboards:project-detail": Route(
        "page", "object", kwargs=lambda w: {"pk": w["project"].pk}, member_readable=True
    ),
    "api:project-detail": Route(
        "api", "object", kwargs=lambda w: {"project_id": A("project", w["project"].pk)}, member_readable=True
    ),
    "api:project-by-name": Route("api", "object", kwargs=lambda w: {"name": w["project"].name}, member_readable=True),
    "dashboards:project": Route("page", "object", kwargs=lambda w: {"project_id": w["project"].pk}),
    "dashboards:people": Route("page", "object", kwargs=lambda w: {"project_id": w["project"].pk}),
    "dashboards:people-csv": Route("page", "object", kwargs=lambda w: {"project_id": w["project"].pk}),
    # ---- dataset and items
    "annotation:dataset-browse": Route("page", "object", kwargs=lambda w: {"pk": w["dataset"].pk}),
    "annotation:dataset-to-wizard": Route(
        "page",
        "object",
        kwargs=lambda w: {"pk": w["dataset"].pk},
        calls={"GET": None, "POST": lambda w: {"item_ids": [str(w["item"].pk)]}},
    ),
    "annotation:dataset-to-task-lever": Route(
        "page", "object", kwargs=lambda w: {"pk": w["dataset"].pk}, query=lambda w: {"lever": "priority"}
    ),
    "annotation:dataset-upload": Route(
        "page", "object", kwargs=lambda w: {"pk": w["dataset"].pk}, calls={"POST": _empty}
    ),
    "annotation:dataset-import": Route(
        "page", "object", kwargs=lambda w: {"pk": w["dataset"].pk}, calls={"POST": _empty}
    ),
    "datasets:item-file": Route("page", "object", kwargs=lambda w: {"pk": w["dataset"].pk, "item_pk": w["item"].pk}),
    "datasets:item-thumbnail": Route(
        "page", "object", kwargs=lambda w: {"pk": w["dataset"].pk, "item_pk": w["item"].pk}
    ),
    # Workers' SDK reads the dataset; the item query shows them only the items they hold (tested for leaks).
    "api:dataset-detail": Route(
        "api", "object", kwargs=lambda w: {"dataset_id": A("dataset", w["dataset"].pk)}, member_readable=True
    ),
    "api:item-query": Route(
        "api",
        "object",
        kwargs=lambda w: {"dataset_id": A("dataset", w["dataset"].pk)},
        calls={"POST": _dql},
        member_readable=True,
    ),
    "api:item-detail": Route("api", "object", kwargs=lambda w: {"item_id": A("item", w["item"].pk)}),
    "api:item-stream": Route("api", "object", kwargs=lambda w: {"item_id": A("item", w["item"].pk)}),
    "api:item-upload": Route(
        "api", "object", kwargs=lambda w: {"dataset_id": A("dataset", w["dataset"].pk)}, calls={"POST": _empty}
    ),
    "api:item-import": Route(
        "api", "object", kwargs=lambda w: {"dataset_id": A("dataset", w["dataset"].pk)}, calls={"POST": _empty}
    ),
    # ---- task
    "dashboards:task-detail": Route("page", "object", kwargs=_task),
    "annotation:task-add-items": Route(
        "page", "object", kwargs=_task, calls={"GET": None, "POST": lambda w: {"mode": "all", "to_queue": "on"}}
    ),
    "annotation:task-remove-items": Route(
        "page", "object", kwargs=_task, calls={"GET": None, "POST": lambda w: {"mode": "all"}}
    ),
    "annotation:task-items-validate": Route(
        "page", "object", kwargs=lambda w: {"pk": w["task"].pk, "action": "add-items"}, calls={"POST": _empty}
    ),
    "annotation:task-reassign": Route(
        "page",
        "object",
        kwargs=_task,
        calls={"GET": None, "POST": lambda w: {"assignment": w["assignment"].pk, "to_user": w["manager"].email}},
    ),
    "annotation:task-redistribute": Route(
        "page",
        "object",
        kwargs=_task,
        calls={"GET": None, "POST": lambda w: {"assignment": w["assignment"].pk, "workload": "x"}},
    ),
    "annotation:task-close": Route("page", "object", kwargs=_task, calls={"POST": _empty}),
    "dashboards:task-export": Route("page", "object", kwargs=_task),
    "dashboards:task": Route("page", "object", kwargs=lambda w: {"task_id": w["task"].pk}),
    "dashboards:task-agreement": Route("page", "object", kwargs=lambda w: {"task_id": w["task"].pk}),
    "api:task-detail": Route(
        "api",
        "object",
        kwargs=lambda w: {"task_id": A("task", w["task"].pk)},
        calls={
            "GET": None,
            "PATCH": lambda w: {"name": "renamed"},
            "PUT": lambda w: {"name": "renamed"},
            "DELETE": _empty,
        },
    ),
    "api:task-add-items": Route(
        "api",
        "object",
        kwargs=lambda w: {"task_id": A("task", w["task"].pk)},
        calls={"POST": lambda w: {"query": _dql(w)}},
    ),
    "api:task-remove-items": Route(
        "api",
        "object",
        kwargs=lambda w: {"task_id": A("task", w["task"].pk)},
        calls={"POST": lambda w: {"query": _dql(w)}},
    ),
    "api:task-items-status": Route(
        "api",
        "object",
        kwargs=lambda w: {"task_id": A("task", w["task"].pk)},
        calls={
            "POST": lambda w: {
                "itemIds": [A("item", w["task_item"].item_id)],
                "statusPayload": {"operation": "create", "status": "completed"},
            }
        },
    ),
    # ---- assignment and work
    "api:assignment-detail": Route(
        "api",
        "object",
        kwargs=lambda w: {"assignment_id": A("assignment", w["assignment"].pk)},
        calls={"GET": None, "PATCH": lambda w: {"annotator": "x@example.com"}, "PUT": lambda w: {"name": "x"}},
    ),
    "api:assignment-reassign": Route(
        "api",
        "object",
        kwargs=lambda w: {"assignment_id": A("assignment", w["assignment"].pk)},
        calls={"POST": lambda w: {"annotator": w["manager"].email}},
    ),
    "api:assignment-redistribute": Route(
        "api",
        "object",
        kwargs=lambda w: {"assignment_id": A("assignment", w["assignment"].pk)},
        calls={"POST": lambda w: {"workload": [{"assigneeId": w["manager"].email, "load": 100}]}},
    ),
    "api:assignment-item-status": Route(
        "api",
        "object",
        kwargs=lambda w: {
            "assignment_id": A("assignment", w["assignment"].pk),
            "item_id": A("item", w["task_item"].item_id),
        },
        calls={"POST": lambda w: {"operation": "create", "status": "completed"}},
    ),
    "api:command-detail": Route("api", "object", kwargs=lambda w: {"command_id": command_api_id(w["command"].pk)}),
    "work:assignment": Route("page", "object", kwargs=lambda w: {"assignment_id": w["assignment"].pk}),
    "work:get-more": Route(
        "page", "object", kwargs=lambda w: {"assignment_id": w["assignment"].pk}, calls={"POST": _empty}
    ),
    "work:item": Route("page", "object", kwargs=_work),
    "work:item-status": Route("page", "object", kwargs=_work, calls={"POST": _status}),
    "work:item-label": Route("page", "object", kwargs=_work, calls={"POST": lambda w: {"label": "car"}}),
    "work:item-reject": Route("page", "object", kwargs=_work, calls={"POST": lambda w: {"comment": "bad"}}),
    "work:item-beat": Route("page", "object", kwargs=_work, calls={"POST": _empty}),
    # ---- quality gates (issue 19)
    "quality:project": Route(
        "page",
        "object",
        kwargs=lambda w: {"project_id": w["project"].pk},
        calls={"GET": None, "POST": lambda w: {"idle_cutoff_seconds": "60"}},
    ),
    "quality:ground-truth": Route(
        "page",
        "object",
        kwargs=lambda w: {"project_id": w["project"].pk},
        calls={"POST": lambda w: {"task": w["task"].pk, "status": "completed"}},
    ),
    "quality:reason-add": Route(
        "page", "object", kwargs=lambda w: {"project_id": w["project"].pk}, calls={"POST": lambda w: {"name": "x"}}
    ),
    "quality:reason-toggle": Route(
        "page", "object", kwargs=lambda w: {"project_id": w["project"].pk, "reason_id": 1}, calls={"POST": _empty}
    ),
    "quality:pay-settings": Route(
        "page",
        "object",
        kwargs=lambda w: {"project_id": w["project"].pk},
        calls={"POST": lambda w: {"default_hourly_rate": "99", "currency": "EUR"}},
    ),
    "quality:pay-rate": Route(
        "page",
        "object",
        kwargs=lambda w: {"project_id": w["project"].pk},
        calls={"POST": lambda w: {"user": w["annotator"].pk, "hourly_rate": "99"}},
    ),
    "quality:task": Route(
        "page",
        "object",
        kwargs=lambda w: {"task_id": w["task"].pk},
        calls={"GET": None, "POST": lambda w: {"honeypot_rate": "10", "pause_after": "1"}},
    ),
    "quality:honeypots-mix": Route(
        "page", "object", kwargs=lambda w: {"task_id": w["task"].pk}, calls={"POST": _empty}
    ),
    "quality:review-honeypots": Route(
        "page", "object", kwargs=lambda w: {"task_id": w["task"].pk}, calls={"POST": lambda w: {"honeypot_rate": "10"}}
    ),
    "quality:rejections": Route("page", "object", kwargs=lambda w: {"task_id": w["task"].pk}),
    "quality:qualify": Route("page", "object", kwargs=lambda w: {"task_id": w["task"].pk}),
    "quality:qualify-start": Route(
        "page", "object", kwargs=lambda w: {"task_id": w["task"].pk}, calls={"POST": _empty}
    ),
    "quality:qualify-submit": Route(
        "page", "object", kwargs=lambda w: {"task_id": w["task"].pk}, calls={"POST": _empty}
    ),
    "quality:qualify-reset": Route(
        "page",
        "object",
        kwargs=lambda w: {"task_id": w["task"].pk, "user_id": w["assignment"].assignee_id},
        calls={"POST": _empty},
    ),
    "dashboards:reviewers": Route("page", "object", kwargs=lambda w: {"project_id": w["project"].pk}),
    "dashboards:reviewers-csv": Route("page", "object", kwargs=lambda w: {"project_id": w["project"].pk}),
    "dashboards:cost": Route("page", "object", kwargs=lambda w: {"project_id": w["project"].pk}),
    "dashboards:payroll-csv": Route("page", "object", kwargs=lambda w: {"project_id": w["project"].pk}),
    "api:task-quality": Route(
        "api",
        "object",
        kwargs=lambda w: {"task_id": A("task", w["task"].pk)},
        calls={"GET": None, "PATCH": lambda w: {"honeypotRate": 10}},
    ),
    # ---- comments, the item page, the inbox, webhooks (issue 20)
    "work:item-page": Route(
        "page", "object", kwargs=lambda w: {"task_id": w["task"].pk, "item_id": w["task_item"].item_id}
    ),
    "work:comment-post": Route(
        "page",
        "object",
        kwargs=lambda w: {"task_id": w["task"].pk, "item_id": w["task_item"].item_id},
        calls={"POST": lambda w: {"body": "stolen"}},
    ),
    "work:thread-resolve": Route(
        "page",
        "object",
        kwargs=lambda w: {"task_id": w["task"].pk, "item_id": w["task_item"].item_id, "comment_id": w["comment"].pk},
        calls={"POST": _empty},
    ),
    "api:item-comments": Route(
        "api",
        "object",
        kwargs=lambda w: {"task_id": A("task", w["task"].pk), "item_id": A("item", w["task_item"].item_id)},
        calls={"GET": None, "POST": lambda w: {"body": "stolen"}},
    ),
    "api:comment-resolve": Route(
        "api",
        "object",
        kwargs=lambda w: {
            "task_id": A("task", w["task"].pk),
            "item_id": A("item", w["task_item"].item_id),
            "comment_id": w["comment"].pk,
        },
        calls={"POST": _empty},
    ),
    "notifications:inbox": Route("page", "list"),
    "notifications:bell": Route("page", "list"),
    "notifications:settings": Route("page", "list"),
    "notifications:read-all": Route("page", "list", calls={"POST": _empty}),
    "notifications:open": Route(
        "page", "object", kwargs=lambda w: {"pk": w["notification"].pk}, calls={"POST": _empty}
    ),
    "notifications:read": Route(
        "page", "object", kwargs=lambda w: {"pk": w["notification"].pk}, calls={"POST": _empty}
    ),
    "notifications:webhooks": Route(
        "page",
        "object",
        kwargs=lambda w: {"pk": w["project"].pk},
        calls={"GET": None, "POST": lambda w: {"url": "https://93.184.216.34/", "events": ["rework"]}},
    ),
    "notifications:webhook": Route(
        "page", "object", kwargs=lambda w: {"pk": w["project"].pk, "hook_id": w["webhook"].pk}
    ),
    "notifications:webhook-active": Route(
        "page",
        "object",
        kwargs=lambda w: {"pk": w["project"].pk, "hook_id": w["webhook"].pk},
        calls={"POST": lambda w: {"active": "0"}},
    ),
    "notifications:webhook-delete": Route(
        "page", "object", kwargs=lambda w: {"pk": w["project"].pk, "hook_id": w["webhook"].pk}, calls={"POST": _empty}
    ),
    # ---- jobs
    "jobs:job-detail": Route("page", "object", kwargs=lambda w: {"pk": w["job"].pk}),
    "jobs:job-progress": Route("page", "object", kwargs=lambda w: {"pk": w["job"].pk}),
    # ---- pipelines
    "pipelines:detail": Route("page", "object", kwargs=lambda w: {"pk": w["pipeline"].pk}),
    "pipelines:install": Route("page", "object", kwargs=lambda w: {"pk": w["pipeline"].pk}, calls={"POST": _empty}),
    "pipelines:pause": Route("page", "object", kwargs=lambda w: {"pk": w["pipeline"].pk}, calls={"POST": _empty}),
    "pipelines:retry": Route("page", "object", kwargs=lambda w: {"pk": w["pipeline"].pk}, calls={"POST": _empty}),
    "pipelines:run": Route("page", "object", kwargs=lambda w: {"pk": w["pipeline"].pk}, calls={"POST": _empty}),
    "pipelines:delete": Route("page", "object", kwargs=lambda w: {"pk": w["pipeline"].pk}, calls={"POST": _empty}),
    "pipelines:node-add": Route(
        "page",
        "object",
        kwargs=lambda w: {"pk": w["pipeline"].pk},
        calls={"POST": lambda w: {"kind": "dataset", "name": "x", "column": 3, "row": 0, "dataset": w["dataset"].pk}},
    ),
    "pipelines:node-edit": Route(
        "page",
        "object",
        kwargs=lambda w: {"pk": w["pipeline"].pk, "node_pk": w["node"].pk},
        calls={"POST": lambda w: {"name": "renamed"}},
    ),
    "pipelines:node-delete": Route(
        "page", "object", kwargs=lambda w: {"pk": w["pipeline"].pk, "node_pk": w["node"].pk}, calls={"POST": _empty}
    ),
    "pipelines:connection-add": Route(
        "page", "object", kwargs=lambda w: {"pk": w["pipeline"].pk}, calls={"POST": _empty}
    ),
    "pipelines:connection-delete": Route(
        "page",
        "object",
        kwargs=lambda w: {"pk": w["pipeline"].pk, "connection_pk": w["connection"].pk},
        calls={"POST": _empty},
    ),
    "api:pipeline-detail": Route(
        "api",
        "object",
        kwargs=lambda w: {"pipeline_id": A("pipeline", w["pipeline"].pk)},
        calls={
            "GET": None,
            "PATCH": lambda w: {"name": "renamed"},
            "PUT": lambda w: {"name": "renamed"},
            "DELETE": _empty,
        },
    ),
    "api:pipeline-install": Route(
        "api", "object", kwargs=lambda w: {"pipeline_id": A("pipeline", w["pipeline"].pk)}, calls={"POST": _empty}
    ),
    "api:pipeline-uninstall": Route(
        "api", "object", kwargs=lambda w: {"pipeline_id": A("pipeline", w["pipeline"].pk)}, calls={"POST": _empty}
    ),
    "api:pipeline-execute": Route(
        "api", "object", kwargs=lambda w: {"pipeline_id": A("pipeline", w["pipeline"].pk)}, calls={"POST": _dql}
    ),
    # ---- distribution control (managers' levers; the holder's skip and next work)
    "annotation:task-leases": Route("page", "object", kwargs=_task),
    "annotation:task-lease-release": Route(
        "page", "object", kwargs=_task, calls={"POST": lambda w: {"user": w["assignment"].assignee_id}}
    ),
    "annotation:task-lease-length": Route(
        "page", "object", kwargs=_task, calls={"POST": lambda w: {"lease_minutes": 5}}
    ),
    "annotation:task-priority": Route("page", "object", kwargs=_task),
    "annotation:task-priority-set": Route(
        "page", "object", kwargs=_task, calls={"POST": lambda w: {"task_priority": 3}}
    ),
    "annotation:task-items-priority": Route(
        "page", "object", kwargs=_task, calls={"POST": lambda w: {"priority": 99}}
    ),
    "annotation:task-bulk-status": Route("page", "object", kwargs=_task),
    "annotation:task-bulk-status-set": Route(
        "page", "object", kwargs=_task, calls={"POST": lambda w: {"status": "__clear__"}}
    ),
    "annotation:task-skip-policy": Route(
        "page", "object", kwargs=_task, calls={"POST": lambda w: {"skip_to": "manager"}}
    ),
    "annotation:project-operations": Route("page", "object", kwargs=lambda w: {"pk": w["project"].pk}),
    "annotation:operation-undo": Route(
        "page", "object", kwargs=lambda w: {"pk": w["operation"].pk}, calls={"POST": _empty}
    ),
    "dashboards:people-control": Route("page", "object", kwargs=lambda w: {"project_id": w["project"].pk}),
    "dashboards:person-pause": Route("page", "object", kwargs=_person, calls={"POST": _empty}),
    "dashboards:person-resume": Route("page", "object", kwargs=_person, calls={"POST": _empty}),
    "dashboards:person-hand-off": Route("page", "object", kwargs=_person, calls={"POST": _empty}),
    "dashboards:person-cap": Route(
        "page", "object", kwargs=_person, calls={"POST": lambda w: {"task": w["task"].pk, "max_items": 0}}
    ),
    "dashboards:stuck-panel": Route("page", "object", kwargs=lambda w: {"project_id": w["project"].pk}),
    "dashboards:task-stuck-policy": Route(
        "page", "object", kwargs=_task, calls={"POST": lambda w: {"after_hours": 1, "action": "manager"}}
    ),
    "dashboards:task-stuck-sweep": Route("page", "object", kwargs=_task, calls={"POST": _empty}),
    "work:item-skip": Route("page", "object", kwargs=_work, calls={"POST": lambda w: {"reason": "x"}}),
    "work:next-work": Route("page", "list", calls={"POST": _empty}),
    "api:task-leases": Route(
        "api", "object", kwargs=_api_task, calls={"GET": None, "PATCH": lambda w: {"leaseMinutes": 5}}
    ),
    "api:task-leases-release": Route(
        "api", "object", kwargs=_api_task, calls={"POST": lambda w: {"annotator": w["assignment"].assignee.email}}
    ),
    "api:task-priority": Route("api", "object", kwargs=_api_task, calls={"POST": lambda w: {"priority": 99}}),
    "api:task-statuses": Route("api", "object", kwargs=_api_task, calls={"POST": lambda w: {"status": None}}),
    "api:task-caps": Route(
        "api",
        "object",
        kwargs=_api_task,
        calls={"GET": None, "PUT": lambda w: {"annotator": w["assignment"].assignee.email, "maxItems": 0}},
    ),
    "api:task-skips": Route(
        "api", "object", kwargs=_api_task, calls={"GET": None, "PATCH": lambda w: {"allowed": False}}
    ),
    "api:task-stuck": Route(
        "api", "object", kwargs=_api_task, calls={"GET": None, "PUT": lambda w: {"afterHours": 1, "action": "manager"}}
    ),
    "api:task-stuck-sweep": Route("api", "object", kwargs=_api_task, calls={"POST": _empty}),
    "api:project-people": Route("api", "object", kwargs=_api_project),
    "api:project-people-lever": Route(
        "api",
        "object",
        kwargs=lambda w: {**_api_project(w), "lever": "handOff"},
        calls={"POST": lambda w: {"annotator": w["assignment"].assignee.email}},
    ),
    "api:project-operations": Route("api", "object", kwargs=_api_project),
    "api:operation-undo": Route(
        "api", "object", kwargs=lambda w: {"operation_id": A("operation", w["operation"].pk)}, calls={"POST": _empty}
    ),
    "api:assignment-item-skip": Route(
        "api",
        "object",
        kwargs=lambda w: {
            "assignment_id": A("assignment", w["assignment"].pk),
            "item_id": A("item", w["task_item"].item_id),
        },
        calls={"POST": lambda w: {"reason": "x"}},
    ),
    "api:pull-next": Route("api", "list", calls={"POST": _empty}),
}


def url_of(name: str, route: Route, world: dict) -> str:
    if name == "api:unknown":
        return "/api/v1/no/such/route"
    url = reverse(name, kwargs=route.kwargs(world) or None)
    if route.query:
        from urllib.parse import urlencode

        url += "?" + urlencode(route.query(world))
    return url
