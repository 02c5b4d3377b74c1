"""Whatever a client sends, the API answers with JSON and never with a 5xx."""

import pytest

from taskboard.api.ids import api_id

pytestmark = pytest.mark.django_db

BODIES = [
    None,
    "not json",
    "[]",
    "null",
    '{"filter": "x"}',
    '{"filter": {"$and": "x"}}',
    '{"filter": {"$and": [{"id": {"$gt": "zz"}}]}}',
    '{"filter": {"$and": [{"metadata.system.refs": {"$match": 3}}]}}',
    '{"page": -1}',
    '{"pageSize": "big"}',
    '{"sort": ["id"]}',
    '{"query": 5}',
    '{"query": "{\\"filter\\": 3}"}',
    '{"query": "{}", "workload": "all"}',
    '{"query": "{}", "workload": [{"assigneeId": 3, "load": "x"}]}',
    '{"name": 1, "datasetId": 2, "projectId": 3}',
    '{"itemIds": "x", "statusPayload": 3}',
    '{"operation": "create", "status": 5}',
    '{"annotator": ["x"], "taskId": 5}',
    '{"nodes": "x", "connections": 5}',
    '{"type": "user_credentials", "username": 1, "password": 2}',
    '{"pipeline": {"input": {"item": 5}}}',
    '{"batch": {"query": "{["}}',
]


def paths(task_id, assignment_id, item_id, dataset_id, pipeline_id):
    return [
        ("post", "/api/v1/datasets/query"),
        ("post", f"/api/v1/datasets/{dataset_id}/query"),
        ("post", "/api/v1/annotationtasks"),
        ("post", "/api/v1/annotationtasks/query"),
        ("patch", f"/api/v1/annotationtasks/{task_id}"),
        ("post", f"/api/v1/annotationtasks/{task_id}/addToTask"),
        ("post", f"/api/v1/annotationtasks/{task_id}/removeFromTask"),
        ("post", f"/api/v1/assignments/{assignment_id}/reassign"),
        ("post", f"/api/v1/assignments/{assignment_id}/redistribute"),
        ("patch", f"/api/v1/assignments/{assignment_id}"),
        ("post", f"/api/v1/assignments/items/tasks/{task_id}/status"),
        ("post", f"/api/v1/assignments/{assignment_id}/items/{item_id}/status"),
        ("post", "/api/v1/pipelines"),
        ("post", "/api/v1/pipelines/query"),
        ("patch", f"/api/v1/pipelines/{pipeline_id}"),
        ("post", f"/api/v1/pipelines/{pipeline_id}/execute"),
        ("post", "/token?default"),
    ]


def test_bad_bodies_never_cause_a_server_error(client, bearer, manager, annotator, annotator2, dataset, recipe, items):
    from taskboard.annotation import services
    from taskboard.pipelines import services as pipeline_services
    from tests.factories import in_days

    task = services.task_create(
        dataset=dataset, created_by=manager, name="t", due_at=in_days(5), assignees=[annotator, annotator2]
    )
    assignment = task.assignments.filter(assignee=annotator).first()
    pipeline = pipeline_services.pipeline_create(project=dataset.project, name="p", by=manager)
    headers = bearer(manager)
    for method, path in paths(
        api_id("task", task.pk),
        api_id("assignment", assignment.pk),
        api_id("item", items[0].pk),
        api_id("dataset", dataset.pk),
        api_id("pipeline", pipeline.pk),
    ):
        for body in BODIES:
            call = getattr(client, method)
            response = call(path, body or "", content_type="application/json", headers=headers)
            assert response.status_code < 500, (
                method,
                path,
                body,
                response.status_code,
                response.content[:300],
            )
            if response.status_code >= 400:
                assert "message" in response.json(), (path, body)
