"""The access matrix: every route × method × outsider. Foreign objects answer 404 (anonymous: the login
page, or 401 from the API) and stay unchanged; lists leak nothing; extra fields in a write change nothing."""

import json
from urllib.parse import urlencode

import pytest
from django.test import Client

from taskboard.annotation.models import AnnotationTask, Assignment
from taskboard.api.ids import api_id
from taskboard.pipelines.models import Pipeline
from tests.trust.routes import ROUTES, url_of, walk
from tests.trust.state import diff, snapshot

# Strings that only Street's members may see.
SECRETS = ["Secret-Street-Task", "Secret-Pipeline", "street-scenes", "olivia@example.com", "bob@example.com"]
OUTSIDERS = ["mallory", "oscar", "stan", "root"]
MEMBERS_BELOW_MANAGER = ["carol", "rita"]


def test_every_route_is_in_the_matrix():
    names = {name for name, _ in walk()}
    missing = sorted(names - set(ROUTES))
    stale = sorted(set(ROUTES) - names)
    print(f"FIGURE access_routes resolver={len(names)} matrix={len(ROUTES)} missing={len(missing)}")
    assert not missing, f"routes not in tests/trust/routes.py ROUTES: {missing}"
    assert not stale, f"ROUTES names no longer in the resolver: {stale}"


def call(client: Client, method: str, url: str, route, body: dict | None):
    if route.kind == "api":
        payload = json.dumps(body) if body is not None else None
        if method == "GET":
            return client.get(url)
        return client.generic(method, url, data=payload or "{}", content_type="application/json")
    if method == "GET":
        return client.get(url)
    return client.generic(
        method, url, data=urlencode(body or {}, doseq=True), content_type="application/x-www-form-urlencoded"
    )


@pytest.fixture
def actors(world, annotator2, reviewer, other_manager, other_owner, staff, root):
    def make(user):
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return {
        "anonymous": make(None),
        "carol": make(annotator2),
        "rita": make(reviewer),
        "mallory": make(other_manager),
        "oscar": make(other_owner),
        "stan": make(staff),
        "root": make(root),
    }


def test_foreign_objects_answer_404_and_stay_unchanged(world, actors):
    tried = refused = 0
    problems = []
    state = snapshot()  # each request starts from the state the one before it left
    for name, route in ROUTES.items():
        if route.scope != "object":
            continue
        url = url_of(name, route, world)
        for method, body_of in route.calls.items():
            for actor, client in actors.items():
                body = body_of(world) if body_of else None
                response = call(client, method, url, route, body)
                tried += 1
                status = response.status_code
                text = response.content.decode(errors="replace") if not getattr(response, "streaming", False) else ""
                if actor == "anonymous":
                    if route.kind == "api":
                        ok = status == 401
                    else:
                        ok = status == 302 and "/accounts/login/" in response["Location"]
                elif actor in OUTSIDERS:
                    ok = status == 404
                elif route.member_readable and (method == "GET" or name == "api:item-query"):
                    ok = status in (200, 403, 404)
                else:
                    ok = status in (403, 404)
                if actor in MEMBERS_BELOW_MANAGER and route.member_readable:
                    leaked = []  # a legitimate read; what it shows is checked by the list probes
                else:
                    leaked = [s for s in SECRETS if s in text]
                after = snapshot()
                changed = diff(state, after)
                state = after
                if ok and not changed and not leaked:
                    refused += 1
                else:
                    problems.append(
                        f"{actor:9} {method:6} {name:32} {url}: {status} changed={changed} leaked={leaked}"
                    )
    print(f"FIGURE access_matrix requests={tried} refused={refused} holes={len(problems)}")
    assert not problems, "\n".join(problems)


def test_members_get_what_their_role_allows(world, client):
    """Positive control: the table's calls reach real objects (the owner can read every object page)."""
    client.force_login(world["owner"])
    for name, route in ROUTES.items():
        if route.scope != "object" or "GET" not in route.calls or name.startswith("annotation:wizard"):
            continue
        if name in (
            "datasets:item-file",
            "datasets:item-thumbnail",
            "work:assignment",
            "work:item",
            "dashboards:task-agreement",
        ):
            continue  # no stored file; the work view is the assignee's; Street's task has no consensus
        if route.kind == "api":
            continue  # the API is tried with a bearer token below
        response = client.get(url_of(name, route, world))
        assert response.status_code in (200, 302), (name, response.status_code)


LIST_PROBES = [
    ("GET", "/", None),
    ("GET", "/work/", None),
    ("GET", "/pipelines/", None),
    ("GET", "/api/v1/users/me", None),
    ("GET", "/api/v1/assignments", None),
    ("POST", "/api/v1/datasets/query", {}),
    ("POST", "/api/v1/annotationtasks/query", {}),
    ("POST", "/api/v1/pipelines/query", {}),
]


def test_lists_leak_nothing_of_foreign_projects(world, actors):
    project_id = api_id("project", world["project"].pk)
    dataset_id = api_id("dataset", world["dataset"].pk)
    probes = list(LIST_PROBES) + [
        ("POST", "/api/v1/datasets/query", {"filter": {"projects": project_id}}),
        ("POST", "/api/v1/datasets/query", {"filter": {"projects": {"$in": [project_id]}}}),
        ("POST", "/api/v1/annotationtasks/query", {"filter": {"projectId": project_id}}),
        ("POST", "/api/v1/annotationtasks/query", {"filter": {"datasetId": dataset_id}}),
        ("POST", "/api/v1/annotationtasks/query", {"filter": {"projectIds": [project_id]}}),
        ("POST", "/api/v1/pipelines/query", {"filter": {"projectId": project_id}}),
        ("GET", f"/api/v1/assignments?projectId={project_id}", None),
        ("GET", f"/api/v1/assignments?taskId={api_id('task', world['task'].pk)}", None),
        ("GET", f"/pipelines/?project={world['project'].pk}", None),
        ("GET", f"/work/?task={world['task'].pk}", None),
    ]
    checked = 0
    problems = []
    for actor in OUTSIDERS + MEMBERS_BELOW_MANAGER:
        client = actors[actor]
        for method, url, body in probes:
            before = snapshot()
            if body is None:
                response = client.get(url)
            else:
                response = client.post(url, json.dumps(body), content_type="application/json")
            checked += 1
            text = response.content.decode(errors="replace")
            secrets = SECRETS if actor in OUTSIDERS else ["Secret-Street-Task", "Secret-Pipeline", "bob@example.com"]
            leaked = [s for s in secrets if s in text]
            if response.status_code >= 500 or leaked or diff(before, snapshot()):
                problems.append(f"{actor} {method} {url} {body}: {response.status_code} leaked={leaked}")
    print(f"FIGURE access_lists probes={checked} leaks={len(problems)}")
    assert not problems, "\n".join(problems)


def test_exports_and_counts_of_foreign_objects_are_404(world, actors):
    urls = [
        f"/tasks/{world['task'].pk}/export.csv",
        f"/dashboards/projects/{world['project'].pk}/people.csv",
        f"/tasks/new/?dataset={world['dataset'].pk}",
        f"/tasks/new/?dataset={world['dataset'].pk}&type=qa&parent={world['task'].pk}",
    ]
    for actor in OUTSIDERS:
        for url in urls:
            assert actors[actor].get(url).status_code == 404, (actor, url)


# ------------------------------------------------------------------ extra fields


EXTRA = {
    "project": None,  # filled with another project's id
    "projectId": None,
    "owner": "mallory@example.com",
    "is_staff": True,
    "is_superuser": True,
    "assignee": "mallory@example.com",
    "assignee_id": None,
    "state": "completed",
    "created_by": None,
    "dataset": None,
    "datasetId": None,
}


def _extra(world, other_project, other_user):
    extra = dict(EXTRA)
    extra.update(
        project=other_project.pk,
        projectId=api_id("project", other_project.pk),
        assignee_id=other_user.pk,
        created_by=other_user.pk,
        dataset=other_project.datasets.first().pk if other_project.datasets.exists() else 999999,
        datasetId=api_id("dataset", other_project.datasets.first().pk) if other_project.datasets.exists() else "x",
    )
    return extra


def _facts(world):
    task = AnnotationTask.objects.get(pk=world["task"].pk)
    assignment = Assignment.objects.get(pk=world["assignment"].pk)
    pipeline = Pipeline.objects.get(pk=world["pipeline"].pk)
    from taskboard.accounts.models import User

    return {
        "task.project": task.project_id,
        "task.dataset": task.dataset_id,
        "task.owner": task.owner_id,
        "task.created_by": task.created_by_id,
        "assignment.assignee": assignment.assignee_id,
        "assignment.task": assignment.task_id,
        "pipeline.project": pipeline.project_id,
        "staff": sorted(User.objects.filter(is_staff=True).values_list("email", flat=True)),
        "superusers": sorted(User.objects.filter(is_superuser=True).values_list("email", flat=True)),
    }


def test_extra_fields_in_writes_change_nothing(world, other_owner, other_manager, client):
    from taskboard.projects.models import Project

    other_project = Project.objects.get(name="Oscar's own")
    extra = _extra(world, other_project, other_manager)
    facts = _facts(world)
    manager = world["manager"]
    from taskboard.api.auth import token_issue

    headers = {"authorization": f"Bearer {token_issue(user=manager)}"}
    task_url = f"/api/v1/annotationtasks/{api_id('task', world['task'].pk)}"
    writes = 0
    for method in ("PATCH", "PUT"):
        response = client.generic(
            method, task_url, json.dumps(extra), content_type="application/json", headers=headers
        )
        assert response.status_code < 500
        writes += 1
    assignment_url = f"/api/v1/assignments/{api_id('assignment', world['assignment'].pk)}"
    for method in ("PATCH", "PUT"):
        response = client.generic(
            method, assignment_url, json.dumps(extra), content_type="application/json", headers=headers
        )
        assert response.status_code < 500
        writes += 1
    pipeline_url = f"/api/v1/pipelines/{api_id('pipeline', world['pipeline'].pk)}"
    for method in ("PATCH", "PUT"):
        response = client.generic(
            method, pipeline_url, json.dumps(extra), content_type="application/json", headers=headers
        )
        assert response.status_code < 500
        writes += 1
    # The work view: bob sets a status and tries to move the item to mallory or finish the task.
    client.force_login(world["annotator"])
    response = client.post(
        f"/work/assignments/{world['assignment'].pk}/items/{world['task_item'].pk}/status/",
        {"status": "completed", **{k: v for k, v in extra.items()}},
    )
    assert response.status_code < 500
    writes += 1
    # Form pages: the manager edits a node and reassigns with the extra fields.
    client.force_login(manager)
    client.post(f"/pipelines/{world['pipeline'].pk}/nodes/{world['node'].pk}/edit/", {"name": "Annotate", **extra})
    client.post(f"/tasks/{world['task'].pk}/add-items/", {"mode": "all", **extra})
    writes += 2
    after = _facts(world)
    print(f"FIGURE access_extra_fields writes={writes} fields={len(extra)} changed={int(after != facts)}")
    assert after == facts
