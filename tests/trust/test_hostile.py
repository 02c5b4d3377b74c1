"""What a hostile user tried and got through (issue 16), one section per point: each test fails
without its fix. The figures sum them up for CI's summary."""

import json

import pytest
from django.test import Client
from django.urls import reverse

from taskboard.api.auth import token_issue
from taskboard.api.ids import api_id, command_api_id
from tests.trust.state import count_rows


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
        (
            "/api/v1/pipelines",
            "description",
            json.dumps(
                {"name": "P", "projectId": api_id("project", world["project"].pk), "description": "d" * 2_000_000}
            ),
        ),
        (
            "/api/v1/pipelines",
            "nodes: at most",
            json.dumps(
                {
                    "name": "P2",
                    "projectId": api_id("project", world["project"].pk),
                    "nodes": [{"id": f"n{i}", "name": f"n{i}"} for i in range(5000)],
                }
            ),
        ),
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
            data = {**steps[step], **overrides}
            data["_touched"] = ",".join(data)  # as wizard.js does once the person has been in the fields
            response = client.post(f"/tasks/new/{wizard}/{step}/{suffix}", data)
            errors = field_errors(response.content.decode()) if response.status_code == 200 else {}
            if field not in errors:
                problems.append(f"{step}{suffix} {overrides}: {response.status_code} {errors}")
    assert not problems, "\n".join(problems)


# ------------------------------------------------------------------ 8: API errors are JSON with a request id


def test_an_unhandled_api_error_is_json_with_a_request_id(world, client, monkeypatch, caplog):
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
    # The server's log has what the answer leaves out, under the same id.
    logged = [r for r in caplog.records if r.name == "taskboard.api.errors"]
    assert logged and response["X-Request-ID"] in logged[0].getMessage() and logged[0].exc_info


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


# ------------------------------------------------------------------ 1: every password entry point is throttled


def _admin_login(client, email, password="wrong"):
    return client.post("/admin/login/", {"username": email, "password": password, "next": "/admin/"})


def test_the_admin_login_is_throttled(client, root):
    for _ in range(5):
        assert _admin_login(client, root.email).status_code == 200
    response = _admin_login(client, root.email, password="pw")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 800
    assert "Too many attempts, try again in 15 minutes." in response.content.decode()
    assert "_auth_user_id" not in client.session
    # Another address still signs in with the right password.
    assert _admin_login(Client(REMOTE_ADDR="10.0.0.9"), root.email, password="pw").status_code == 302


def test_the_entry_points_share_one_count(client, owner):
    """Failures on the sign-in page lock the admin and /token for that account too: no way around."""
    for _ in range(3):
        client.post(reverse("accounts:login"), {"username": owner.email, "password": "wrong"})
    for _ in range(2):
        _admin_login(client, owner.email)
    body = {"type": "user_credentials", "username": owner.email, "password": "pw"}
    assert client.post("/token", body, content_type="application/json").status_code == 429
    assert _admin_login(client, owner.email, password="pw").status_code == 429
    assert client.post(reverse("accounts:login"), {"username": owner.email, "password": "pw"}).status_code == 429


def test_one_account_guessed_from_many_addresses_is_stopped(owner, settings):
    settings.LOGIN_MAX_FAILURES_PER_ACCOUNT = 12
    for n in range(12):
        attacker = Client(REMOTE_ADDR=f"10.1.0.{n}")
        body = {"type": "user_credentials", "username": owner.email, "password": f"guess{n}"}
        assert attacker.post("/token", body, content_type="application/json").status_code == 401
    fresh = Client(REMOTE_ADDR="10.2.0.1")
    response = fresh.post(reverse("accounts:login"), {"username": owner.email, "password": "guess-next"})
    assert response.status_code == 429 and int(response["Retry-After"]) > 0
    body = {"type": "user_credentials", "username": owner.email, "password": "pw"}
    assert fresh.post("/token", body, content_type="application/json").status_code == 429
    print(
        f"FIGURE login_throttle_entry_points points=3 per_pair={settings.LOGIN_MAX_FAILURES} "
        f"per_account={settings.LOGIN_MAX_FAILURES_PER_ACCOUNT} status=429"
    )


def test_parallel_attempts_cannot_slip_under_the_limit(owner):
    """Attempts are counted before the password check: six started at once, before any has failed, do not
    all go ahead."""
    from taskboard.middleware import LoginThrottle

    throttles = [LoginThrottle(email=owner.email, ip="10.3.0.1") for _ in range(6)]
    allowed = [t.attempt() == 0 for t in throttles]
    assert allowed == [True] * 5 + [False]


def test_a_malformed_or_successful_attempt_is_not_a_failure(client, owner):
    for _ in range(10):
        client.post("/token", {"type": "user_credentials", "username": owner.email}, content_type="application/json")
    for _ in range(10):
        body = {"type": "user_credentials", "username": owner.email, "password": "pw"}
        assert client.post("/token", body, content_type="application/json").status_code == 200
    for _ in range(5):
        assert client.post(reverse("accounts:login"), {"username": owner.email, "password": "x"}).status_code == 200


# ------------------------------------------------------------------ 7: unknown accounts take as long as known ones


@pytest.fixture
def hashings(monkeypatch):
    """How many times the password hasher did its costly part: encode() (checking a password encodes it
    with the stored salt and compares; hashing a dummy for an unknown account encodes it too)."""
    from django.contrib.auth.hashers import get_hasher

    hasher_class = type(get_hasher())
    runs = []
    original = hasher_class.encode

    def counted(self, *args, **kwargs):
        runs.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(hasher_class, "encode", counted)
    return runs


@pytest.mark.parametrize("entry", ["token", "login", "admin"])
def test_unknown_and_inactive_accounts_cost_one_hashing_like_a_known_one(entry, client, owner, hashings, db):
    from tests.factories import UserFactory

    UserFactory(email="gone@example.com", is_active=False)

    def attempt(email):
        address = f"10.4.{len(hashings)}.1"  # fresh addresses: the throttle stays out of the way
        other = Client(REMOTE_ADDR=address)
        if entry == "token":
            body = {"type": "user_credentials", "username": email, "password": "wrong"}
            return other.post("/token", body, content_type="application/json")
        url = reverse("accounts:login") if entry == "login" else "/admin/login/"
        return other.post(url, {"username": email, "password": "wrong"})

    runs = {}
    for email in [owner.email, "nobody@example.com", "gone@example.com"]:
        hashings.clear()
        response = attempt(email)
        assert response.status_code in (200, 401)
        runs[email] = len(hashings)
    assert runs == {owner.email: 1, "nobody@example.com": 1, "gone@example.com": 1}
    print(f"FIGURE constant_time_login entry={entry} hashings_known=1 hashings_unknown=1 hashings_inactive=1")


# ------------------------------------------------------------------ 9: stored files only through a checked view


@pytest.fixture
def stored(world):
    from django.core.files.uploadedfile import SimpleUploadedFile

    item = world["item"]  # bob holds it in the Street task
    item.file = SimpleUploadedFile("secret.png", b"\x89PNG\r\n\x1a\nsecret-bytes", content_type="image/png")
    item.mimetype = "image/png"
    item.save()
    return item


@pytest.fixture
def debug_urls(settings):
    """The URLconf as `DEBUG=1` builds it (runserver, `make run`)."""
    import importlib

    from django.urls import clear_url_caches

    import taskboard.urls

    settings.DEBUG = True
    importlib.reload(taskboard.urls)
    clear_url_caches()
    yield
    settings.DEBUG = False
    importlib.reload(taskboard.urls)
    clear_url_caches()


def test_media_is_not_served_even_in_debug(stored, debug_urls, client, world):
    from django.conf import settings

    url = "/" + settings.MEDIA_URL.strip("/") + "/" + stored.file.name
    assert client.get(url).status_code == 404
    client.force_login(world["manager"])
    assert client.get(url).status_code == 404  # not even to those who may see the item: use its view


def test_a_stored_file_goes_only_to_those_who_may_see_its_item(stored, client, world, annotator2, other_manager):
    page = reverse("datasets:item-file", args=[stored.dataset_id, stored.pk])
    api = f"/api/v1/items/{api_id('item', stored.pk)}/stream"
    answers = {"anonymous": (client.get(page).status_code, client.get(api).status_code)}
    for who in [world["manager"], world["annotator"], annotator2, other_manager]:
        other = Client()
        other.force_login(who)
        answers[who.email] = (other.get(page).status_code, Client().get(api, headers=_bearer(who)).status_code)
    assert answers == {
        "anonymous": (302, 401),
        "alice@example.com": (200, 200),
        "bob@example.com": (200, 200),
        "carol@example.com": (404, 404),
        "mallory@example.com": (404, 404),
    }
    # The item's JSON points at the checked route, never at MEDIA_URL.
    item = client.get(f"/api/v1/items/{api_id('item', stored.pk)}", headers=_bearer(world["manager"])).json()
    assert item["stream"].endswith(api) and "/media/" not in json.dumps(item)


def test_behind_nginx_the_checked_view_hands_the_bytes_to_the_proxy(stored, client, world, settings):
    settings.MEDIA_ACCEL_REDIRECT = "/protected-media/"
    client.force_login(world["annotator"])
    response = client.get(reverse("datasets:item-file", args=[stored.dataset_id, stored.pk]))
    assert response.status_code == 200
    assert response["X-Accel-Redirect"] == "/protected-media/" + stored.file.name
    assert response.content == b"" and response["Content-Type"] == "image/png"
    assert response["Content-Security-Policy"] == "default-src 'none'; sandbox"
    stranger = Client()
    assert stranger.get(reverse("datasets:item-file", args=[stored.dataset_id, stored.pk])).status_code == 302


# ------------------------------------------------------------------ 5: deactivated people get no work


def _deactivate(user):
    user.is_active = False
    user.save(update_fields=["is_active"])


def test_no_front_door_gives_a_deactivated_person_work(world, client, annotator2):
    """The API's create, reassign and redistribute name the person refused; nothing is written."""
    from tests.trust.test_bad_input import FAR_MS

    _deactivate(annotator2)
    headers = _bearer(world["manager"])
    assignment = api_id("assignment", world["assignment"].pk)
    calls = [
        (
            "/api/v1/annotationtasks",
            {
                "name": "For carol",
                "datasetId": api_id("dataset", world["dataset"].pk),
                "projectId": api_id("project", world["project"].pk),
                "dueDate": FAR_MS,
                "query": json.dumps({"filter": {"dir": "/city/day"}}),
                "workload": [{"assigneeId": "carol@example.com", "load": 100}],
            },
        ),
        (f"/api/v1/assignments/{assignment}/reassign", {"annotator": "carol@example.com"}),
        (
            f"/api/v1/assignments/{assignment}/redistribute",
            {
                "workload": [
                    {"assigneeId": "carol@example.com", "load": 50},
                    {"assigneeId": "bob@example.com", "load": 50},
                ]
            },
        ),
    ]
    before = count_rows()
    for url, body in calls:
        response = client.post(url, json.dumps(body), content_type="application/json", headers=headers)
        assert response.status_code in (400, 404), (url, response.status_code, response.content[:200])
        assert "carol@example.com" in response.json()["message"] or response.status_code == 404, response.json()
    assert count_rows() == before


def test_items_added_later_skip_a_deactivated_assignee(world, annotator2, dataset):
    from taskboard.annotation.models import Assignment
    from taskboard.annotation.moves import task_add_items
    from taskboard.annotation.selection import Selection
    from tests.factories import create_task, in_days, make_items

    task = create_task(
        dataset=dataset,
        created_by=world["manager"],
        name="Two people",
        selection=Selection(mode="folder", folder="/city/day"),
        assignees=[world["annotator"], annotator2],
        due_at=in_days(3),
    )
    _deactivate(annotator2)
    make_items(dataset, {"/late": 6})
    task_add_items(task=task, selection=Selection(mode="folder", folder="/late"), by=world["manager"])
    held = dict(Assignment.objects.filter(task=task).values_list("assignee__email", "item_count"))
    assert held == {"bob@example.com": 3 + 6, "carol@example.com": 3}


def test_qa_intake_skips_a_deactivated_reviewer(world, reviewer, project, dataset):
    from taskboard.annotation.models import Assignment
    from taskboard.projects.models import Role
    from taskboard.work import flow
    from tests.factories import MembershipFactory, UserFactory, create_task, in_days

    other_reviewer = UserFactory(email="rhea@example.com")
    MembershipFactory(project=project, user=other_reviewer, role=Role.REVIEWER)
    qa = create_task(
        dataset=dataset,
        created_by=world["manager"],
        name="Review street",
        task_type="qa",
        parent=world["task"],
        assignees=[reviewer, other_reviewer],
        due_at=in_days(3),
    )
    _deactivate(reviewer)
    rows = list(world["assignment"].task_items.select_related("item").order_by("rank")[:4])
    for row in rows:
        flow.item_status_set(task=world["task"], item=row.item, status="completed", by=world["annotator"])
    held = dict(Assignment.objects.filter(task=qa, kind="work").values_list("assignee__email", "item_count"))
    assert held.get("rita@example.com", 0) == 0 and held["rhea@example.com"] == 4


def test_a_deactivated_person_pulls_no_batch(world, annotator2, dataset):
    from taskboard.annotation.models import Assignment
    from taskboard.annotation.pulling import pulling_claim
    from taskboard.annotation.selection import Selection
    from tests.factories import create_task, in_days

    task = create_task(
        dataset=dataset,
        created_by=world["manager"],
        name="Pulled",
        selection=Selection(mode="folder", folder="/city"),
        assignees=[world["annotator"], annotator2],
        allocation="pulling",
        batch_size=3,
        max_batch_workload=5,
        due_at=in_days(3),
    )
    from taskboard.work import flow

    carol = Assignment.objects.get(task=task, assignee=annotator2)
    assert carol.item_count == 3
    _deactivate(annotator2)
    # Her last statuses (a request already under way) would bring her next batch: no more.
    for row in carol.task_items.select_related("item"):
        flow.item_status_set(task=task, item=row.item, status="completed", by=annotator2)
    assert pulling_claim(task=task, user=annotator2) == 0
    assert Assignment.objects.get(pk=carol.pk).item_count == 3


def test_managers_see_the_open_work_of_deactivated_people(world, client):
    _deactivate(world["annotator"])
    client.force_login(world["manager"])
    task_page = client.get(reverse("dashboards:task-detail", args=[world["task"].pk])).content.decode()
    project_page = client.get(reverse("dashboards:project-detail", args=[world["project"].pk])).content.decode()
    reassign = reverse("annotation:task-reassign", args=[world["task"].pk]) + f"?assignment={world['assignment'].pk}"
    for html in (task_page, project_page):
        assert "deactivated" in html and "bob@example.com" in html
        assert reassign.replace("&", "&amp;") in html
    print("FIGURE inactive_people front_doors=3 add_items=1 qa_intake=1 pulling=1 shown_to_managers=2")


def test_manifests_refuse_lone_surrogates(world, client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    client.raise_request_exception = False
    client.force_login(world["manager"])
    url = f"/datasets/{world['dataset'].pk}/import/"
    cases = [
        ("manifest.jsonl", b'{"filename": "/a\\ud800.jpg"}\n'),
        ("manifest.jsonl", b'{"filename": "/a.jpg", "metadata": {"k": "\\udfff"}}\n'),
        ("manifest.jsonl", b'{"filename": "/a.jpg", "metadata": {"\\ud800": 1}}\n'),
        ("manifest.jsonl", b'{"filename": "/a.jpg", "url": "https://example.com/\\ud800.jpg"}\n'),
        ("manifest.csv", b'filename,metadata\n/a.jpg,"{""k"": ""\\ud800""}"\n'),
    ]
    before = count_rows()
    problems = []
    for name, content in cases:
        response = client.post(url, {"file": SimpleUploadedFile(name, content, content_type="text/csv")})
        html = response.content.decode(errors="replace") if response.status_code == 200 else ""
        if response.status_code != 200 or not ("field-error" in html or 'class="errorlist"' in html):
            problems.append(f"{content[:60]!r}: {response.status_code}")
    assert not problems, problems
    assert count_rows() == before


def test_every_api_route_answers_json_errors_with_a_request_id(world, client):
    """Anonymous, with a token of no one, and with a wrong method: every API route's refusal is JSON with
    its request id."""
    from tests.trust.routes import ROUTES, url_of

    problems, checked = [], 0
    for name, route in ROUTES.items():
        if route.kind != "api":
            continue
        url = url_of(name, route, world)
        for headers in ({}, {"authorization": "Bearer not-a-token"}):
            for method in [*route.calls, "PUT" if "PUT" not in route.calls else "OPTIONS"]:
                response = client.generic(method, url, headers=headers)
                checked += 1
                body = response.json() if response["Content-Type"].startswith("application/json") else {}
                if not (
                    400 <= response.status_code < 500
                    and isinstance(body.get("message"), str)
                    and body.get("requestId") == response.get("X-Request-ID")
                ):
                    problems.append(f"{method} {url} {headers}: {response.status_code} {response.content[:80]!r}")
    print(f"FIGURE api_json_errors requests={checked} not_json={len(problems)}")
    assert checked >= 50 and not problems, "\n".join(problems)
