import datetime

import jwt
import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone

from taskboard.api.models import ApiToken, TokenKind

pytestmark = pytest.mark.django_db


def test_users_me_with_a_bearer_token(client, bearer, manager):
    response = client.get("/api/v1/users/me", headers=bearer(manager))
    assert response.status_code == 200
    assert response.json()["email"] == "alice@example.com"


def test_it_rejects_a_missing_token(client):
    response = client.get("/api/v1/users/me")
    assert response.status_code == 401
    assert "message" in response.json()


def test_it_rejects_a_malformed_token(client):
    response = client.get("/api/v1/users/me", headers={"authorization": "Bearer not-a-jwt"})
    assert response.status_code == 401


def test_it_rejects_a_token_signed_with_another_key(client, manager):
    forged = jwt.encode(
        {"email": manager.email, "exp": int(timezone.now().timestamp()) + 3600, "jti": "x" * 32},
        "another-secret-key-that-is-long-enough-0123",
        algorithm="HS256",
    )
    assert client.get("/api/v1/users/me", headers={"authorization": f"Bearer {forged}"}).status_code == 401


def test_it_rejects_an_expired_token(client, bearer, manager):
    headers = bearer(manager, days=-1)
    response = client.get("/api/v1/users/me", headers=headers)
    assert response.status_code == 401
    assert "expired" in response.json()["message"].lower()


def test_it_rejects_a_revoked_token(client, bearer, manager):
    headers = bearer(manager)
    ApiToken.objects.update(revoked=True)
    response = client.get("/api/v1/users/me", headers=headers)
    assert response.status_code == 401
    assert "revoked" in response.json()["message"].lower()


def test_a_refresh_token_is_not_an_id_token(client, bearer, manager):
    assert client.get("/api/v1/users/me", headers=bearer(manager, kind=TokenKind.REFRESH)).status_code == 401


def test_issue_token_prints_a_jwt_with_email_and_exp(manager, capsys):
    call_command("issue_token", "ALICE@example.com", "--days", "2")
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, settings.SECRET_KEY, algorithms=["HS256"])
    assert claims["email"] == "alice@example.com"
    expires = datetime.datetime.fromtimestamp(claims["exp"], tz=datetime.UTC)
    assert abs((expires - timezone.now()) - datetime.timedelta(days=2)) < datetime.timedelta(minutes=1)
    assert ApiToken.objects.get(jti=claims["jti"]).user == manager


def test_token_endpoint_logs_in_and_refreshes(client, manager):
    response = client.post(
        "/token?default",
        {"username": "alice@example.com", "password": "pw", "type": "user_credentials"},
        content_type="application/json",
    )
    assert response.status_code == 200
    tokens = response.json()
    assert jwt.decode(tokens["id_token"], options={"verify_signature": False})["email"] == "alice@example.com"
    refreshed = client.post(
        "/token?default",
        {"type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        content_type="application/json",
    )
    assert refreshed.status_code == 200
    new = refreshed.json()["id_token"]
    assert client.get("/api/v1/users/me", headers={"authorization": f"Bearer {new}"}).status_code == 200


def test_token_endpoint_refuses_a_wrong_password(client, manager):
    response = client.post(
        "/token?default",
        {"username": "alice@example.com", "password": "nope", "type": "user_credentials"},
        content_type="application/json",
    )
    assert response.status_code == 401


def test_token_endpoint_refuses_a_revoked_refresh_token(client, manager):
    tokens = client.post(
        "/token?default",
        {"username": "alice@example.com", "password": "pw", "type": "user_credentials"},
        content_type="application/json",
    ).json()
    ApiToken.objects.filter(kind=TokenKind.REFRESH).update(revoked=True)
    response = client.post(
        "/token?default",
        {"type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        content_type="application/json",
    )
    assert response.status_code == 401


def test_token_endpoint_refuses_bad_bodies(client):
    assert client.post("/token?default", "nope", content_type="application/json").status_code == 400
    assert client.post("/token?default", {"type": "magic"}, content_type="application/json").status_code == 400


def test_session_requests_keep_csrf(manager):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(manager)
    assert client.get("/api/v1/users/me").status_code == 200
    response = client.post("/api/v1/datasets/query", {"filter": {}}, content_type="application/json")
    assert response.status_code == 403


def test_bearer_requests_need_no_csrf(bearer, manager, dataset):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/v1/datasets/query", {"filter": {}}, content_type="application/json", headers=bearer(manager)
    )
    assert response.status_code == 200


def test_unknown_routes_and_trailing_slashes_answer_json_404(client, bearer, manager):
    for path in ("/api/v1/nothing", "/api/v1/users/me/"):
        response = client.get(path, headers=bearer(manager))
        assert response.status_code == 404
        assert "message" in response.json()


def test_wrong_method_is_refused_with_json(client, bearer, manager):
    response = client.delete("/api/v1/users/me", headers=bearer(manager))
    assert response.status_code == 405
    assert "message" in response.json()


def test_interactive_login_sends_tokens_to_the_local_listener(client, manager):
    client.force_login(manager)
    response = client.get("/login", {"callback": "http://localhost:3001"})
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("http://localhost:3001/?id_token=")
    assert "refresh_token=" in location and "access_token=" in location


def test_interactive_login_asks_strangers_to_sign_in(client):
    response = client.get("/login", {"callback": "http://localhost:3001"})
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_interactive_login_never_sends_tokens_elsewhere(client, manager):
    client.force_login(manager)
    for callback in ("https://evil.example.com/", "http://localhost.evil.com:3001", "javascript:alert(1)", ""):
        assert client.get("/login", {"callback": callback}).status_code == 400


def test_admin_lists_and_revokes_tokens(client, manager, bearer):
    from taskboard.accounts.models import User

    admin = User.objects.create_superuser("root@example.com", "pw")
    headers = bearer(manager)
    client.force_login(admin)
    assert client.get("/admin/api/apitoken/").status_code == 200
    assert client.get("/admin/api/apitoken/add/").status_code == 403
    token = ApiToken.objects.get(user=manager)
    response = client.post("/admin/api/apitoken/", {"action": "revoke", "_selected_action": [token.pk]}, follow=True)
    assert response.status_code == 200
    client.logout()
    assert client.get("/api/v1/users/me", headers=headers).status_code == 401
