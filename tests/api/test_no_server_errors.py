"""Whatever a client sends, the API answers with JSON and never with a 5xx."""

import pytest
from django.db import transaction

from taskboard.api.ids import api_id
from taskboard.pipelines import editing
from tests.factories import create_task

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
    # Numbers past every integer column, or not numbers at all (Python's json reads NaN and Infinity).
    '{"page": 1000000000000000000000000000000}',
    '{"page": 10000000000000000}',
    '{"pageSize": 1e20}',
    '{"limit": 1e20, "query": "{}", "workload": [{"assigneeId": "x@example.com", "load": 100}]}',
    '{"limit": NaN}',
    '{"dueDate": Infinity, "priority": -Infinity}',
    '{"filter": {"dueDate": 1000000000000000000000000000000}}',
    '{"filter": {"id": {"$in": [1000000000000000000000000000000]}}}',
    '{"filter": {"id": 1000000000000000000000000000000}}',
    '{"filter": {"createdAt": {"$gt": 1e300}}}',
    # NUL in text: PostgreSQL's text and jsonb refuse it.
    '{"name": "a\\u0000b", "description": "\\u0000"}',
    '{"filter": {"name": "a\\u0000"}}',
    '{"filter": {"dir": "/a\\u0000"}}',
    '{"annotator": "a\\u0000@example.com"}',
    '{"workload": [{"assigneeId": "a\\u0000@example.com", "load": 100}]}',
    '{"itemIds": ["000000000000000000000001"], "statusPayload": {"status": "a\\u0000"}}',
    '{"type": "user_credentials", "username": "a\\u0000@example.com", "password": "x"}',
    '{"settings": {"a\\u0000": 1}, "variables": ["\\u0000"]}',
    '{"batch": {"query": {"filter": {"dir": "\\u0000"}}}}',
    # Types the views read as something else.
    '{"taskOwner": 5}',
    '{"taskOwner": true}',
    '{"availableActions": [{"action": "x", "color": 5}]}',
    '{"context": {"projects": [5], "projectIds": [5]}}',
    '{"itemIds": [[1]], "statusPayload": {"status": "completed"}}',
    # A digit int() does not read ("²" is a digit to str.isdigit()).
    '{"nodes": [{"id": "n1", "type": "storage", "metadata": {"position": {"x": 0, "y": 0}, "datasetId": "\u00b2"}}]}',
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
    from tests.factories import in_days

    task = create_task(
        dataset=dataset, created_by=manager, name="t", due_at=in_days(5), assignees=[annotator, annotator2]
    )
    assignment = task.assignments.filter(assignee=annotator).first()
    pipeline = editing.pipeline_create(project=dataset.project, name="p", by=manager)
    headers = bearer(manager)
    client.raise_request_exception = False
    problems = []
    for method, path in paths(
        api_id("task", task.pk),
        api_id("assignment", assignment.pk),
        api_id("item", items[0].pk),
        api_id("dataset", dataset.pk),
        api_id("pipeline", pipeline.pk),
    ):
        for body in BODIES:
            call = getattr(client, method)
            # A savepoint per call: on PostgreSQL a server error's DataError would fail every later call too.
            with transaction.atomic():
                response = call(path, body or "", content_type="application/json", headers=headers)
                transaction.set_rollback(True)
            if response.status_code >= 500:
                problems.append(f"{method} {path} {body}: {response.status_code} {response.content[:200]!r}")
            elif response.status_code >= 400 and "message" not in response.json():
                problems.append(f"{method} {path} {body}: {response.status_code} without a message")
    assert not problems, "\n".join(problems)


def test_bad_query_strings_and_path_ids_never_cause_a_server_error(client, bearer, manager, dataset):
    """Text in the URL reaches lookups as well: NUL, digits int() does not read, ids past 64 bits."""
    headers = bearer(manager)
    client.raise_request_exception = False
    problems = []
    urls = [
        "/api/v1/assignments?pageOffset=" + "9" * 30,
        "/api/v1/assignments?pageSize=" + "9" * 30,
        "/api/v1/assignments?pageOffset=%C2%B2",
        "/api/v1/assignments?pageOffset=NaN",
        "/api/v1/assignments?annotator=a%00@example.com",
        "/api/v1/assignments?taskId=a%00",
        "/api/v1/projects/a%00b/name",
        "/api/v1/annotationtasks/a%00b",
        "/api/v1/datasets/a%00b",
        "/api/v1/items/a%00b",
        "/api/v1/commands/0c" + "f" * 22,
    ]
    for url in urls:
        response = client.get(url, headers=headers)
        if response.status_code >= 500 or "message" not in response.json():
            problems.append(f"{url}: {response.status_code} {response.content[:200]!r}")
        elif response.status_code == 400:
            assert response.json()["message"], url
    assert not problems, "\n".join(problems)
