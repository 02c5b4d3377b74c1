"""What a hostile user tried and got through (issue 16), one section per point: each test fails
without its fix. The figures sum them up for CI's summary."""

import json

from taskboard.api.auth import token_issue
from taskboard.api.ids import api_id, command_api_id
from tests.trust.state import count_rows

LONE = "\ud800"


def _bearer(user) -> dict:
    return {"authorization": f"Bearer {token_issue(user=user)}"}


def _post_json(client, url, body, user, raw: str | None = None):
    data = raw if raw is not None else json.dumps(body)
    return client.post(url, data, content_type="application/json", headers=_bearer(user))


# ------------------------------------------------------------------ 2: commands belong to their maker and managers


def test_a_command_is_read_only_by_its_maker_and_the_managers(world, client, annotator2, reviewer, owner):
    url = f"/api/v1/commands/{command_api_id(world['command'].pk)}"
    seen = {}
    for who in [world["manager"], owner, world["annotator"], annotator2, reviewer]:
        seen[who.email] = client.get(url, headers=_bearer(who)).status_code
    assert seen == {
        "alice@example.com": 200,
        "olivia@example.com": 200,
        "bob@example.com": 404,
        "carol@example.com": 404,
        "rita@example.com": 404,
    }


# ------------------------------------------------------------------ 3, 4, 6: bad input is a 400 naming the field


def _task_body(world, **extra) -> dict:
    from tests.trust.test_bad_input import FAR_MS

    body = {
        "name": "Hostile task",
        "datasetId": api_id("dataset", world["dataset"].pk),
        "projectId": api_id("project", world["project"].pk),
        "dueDate": FAR_MS,
        "query": json.dumps({"filter": {"dir": "/city/day"}}),
        "workload": [{"assigneeId": "bob@example.com", "load": 100}],
    }
    body.update(extra)
    return body


def _hostile_api_cases(world):
    """(url, field the message names, raw JSON body). Lone surrogates travel as JSON escapes."""
    dataset = api_id("dataset", world["dataset"].pk)
    items = f"/api/v1/datasets/{dataset}/query"
    tasks = "/api/v1/annotationtasks"
    lone = "\\ud800"
    many_or = [{"name": f"n{i}"} for i in range(1500)]
    many_and = [{"name": f"n{i}"} for i in range(1500)]
    nested: dict = {"name": "x"}
    for _ in range(60):
        nested = {"$and": [nested]}
    cases = [
        # 3: a lone surrogate wherever text enters
        (items, "filter", '{"filter": {"dir": "' + lone + '"}}'),
        (items, "filter", '{"filter": {"$or": [{"name": "a' + lone + '"}]}}'),
        ("/api/v1/annotationtasks/query", "filter", '{"filter": {"name": "' + lone + '"}}'),
        ("/api/v1/datasets/query", "filter", '{"filter": {"name": "' + lone + '"}}'),
        ("/api/v1/pipelines/query", "filter", '{"filter": {"name": "' + lone + '"}}'),
        (tasks, "name", json.dumps(_task_body(world)).replace('"Hostile task"', '"Hostile' + lone + '"')),
        (
            tasks,
            "query",
            json.dumps(_task_body(world, query='{"filter": {"dir": "' + lone + '"}}')),
        ),
        (
            tasks,
            "query",
            json.dumps(_task_body(world, query='{"filter": {"dir": "/c"}}')).replace('/c\\"', '\\\\udc00\\"'),
        ),
    ]
    # 4: a filter of thousands of clauses, or nested past the cap, on every query endpoint
    for url in (items, "/api/v1/annotationtasks/query", "/api/v1/datasets/query", "/api/v1/pipelines/query"):
        for filt in ({"$or": many_or}, {"$and": many_and}, nested):
            cases.append((url, "filter", json.dumps({"filter": filt})))
    for filt in ({"$or": [{"dir": f"/d{i}"} for i in range(1500)]}, nested):
        cases.append((tasks, "query|filter", json.dumps(_task_body(world, query=json.dumps({"filter": filt})))))
    # 6: sizes
    cases += [
        (
            tasks,
            "availableActions",
            json.dumps(_task_body(world, availableActions=[{"action": f"a{i}"} for i in range(10_000)])),
        ),
        (tasks, "description", json.dumps(_task_body(world, description="d" * 2_000_000))),
        (tasks, "spec", json.dumps(_task_body(world, spec=[]))),
        (tasks, "spec", json.dumps(_task_body(world, spec="qa"))),
    ]
    return cases


def test_hostile_api_input_gets_a_400_naming_the_field(world, client):
    client.raise_request_exception = False
    problems, server_errors = [], 0
    cases = _hostile_api_cases(world)
    headers = _bearer(world["manager"])
    before = count_rows()
    for url, field, raw in cases:
        response = client.post(url, raw, content_type="application/json", headers=headers)
        if response.status_code >= 500:
            server_errors += 1
        message = (
            response.json().get("message", "")
            if response.get("Content-Type", "").startswith("application/json")
            else ""
        )
        if response.status_code != 400 or not any(f.lower() in message.lower() for f in field.split("|")):
            problems.append(f"{url} {field} {raw[:80]}: {response.status_code} {response.content[:200]!r}")
    refused = len(cases) - len(problems)
    print(f"FIGURE hostile_api_input values={len(cases)} refused={refused} server_errors={server_errors}")
    assert not problems, "\n".join(problems)
    assert count_rows() == before


def test_the_wizard_refuses_lone_surrogates(world, client, wizard):
    from tests.trust.test_bad_input import _valid_steps, field_errors

    client.raise_request_exception = False
    steps = _valid_steps(world)
    cases = [
        ("items", "dql", {"mode": "filter", "dql": '{"dir": "\\ud800"}'}),
        ("items", "dql", {"mode": "filter", "dql": '{"$or": [{"name": "\\udfff"}]}'}),
        ("items", "dql", {"mode": "filter", "dql": json.dumps({"$or": [{"name": f"n{i}"} for i in range(1500)]})}),
    ]
    problems = []
    for step, field, overrides in cases:
        for suffix in ("validate/", ""):
            response = client.post(f"/tasks/new/{wizard}/{step}/{suffix}", {**steps[step], **overrides})
            errors = field_errors(response.content.decode()) if response.status_code == 200 else {}
            if field not in errors:
                problems.append(f"{step}{suffix} {overrides}: {response.status_code} {errors}")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------ 8: API errors are JSON with a request id


def test_an_unhandled_api_error_is_json_with_a_request_id(world, client, monkeypatch):
    from taskboard.api import views_auth

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals: /srv/taskboard/settings.py password=hunter2")

    monkeypatch.setattr(views_auth, "user_json", boom)
    client.raise_request_exception = False
    response = client.get("/api/v1/users/me", headers=_bearer(world["manager"]))
    assert response.status_code == 500
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["message"] and "secret" not in response.content.decode() and "Traceback" not in body["message"]
    assert response["X-Request-ID"] and body["requestId"] == response["X-Request-ID"]


def test_every_api_answer_carries_a_request_id(world, client):
    ok = client.get("/api/v1/users/me", headers=_bearer(world["manager"]))
    missing = client.get("/api/v1/nowhere", headers=_bearer(world["manager"]))
    assert ok["X-Request-ID"] and missing["X-Request-ID"] and ok["X-Request-ID"] != missing["X-Request-ID"]
    assert missing.json()["requestId"] == missing["X-Request-ID"]


def test_django_refusals_under_the_api_are_json(world, client, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    client.raise_request_exception = False
    big = json.dumps({"filter": {"name": "x" * 5000}})
    dataset = api_id("dataset", world["dataset"].pk)
    response = client.post(
        f"/api/v1/datasets/{dataset}/query", big, content_type="application/json", headers=_bearer(world["manager"])
    )
    assert 400 <= response.status_code < 500
    assert response["Content-Type"].startswith("application/json") and response.json()["message"]
    bad_host = client.get("/api/v1/users/me", headers=_bearer(world["manager"]), HTTP_HOST="evil.example")
    assert bad_host.status_code == 400 and bad_host.json()["message"]
