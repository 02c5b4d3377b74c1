"""Browser-level hardening: CSP, CSRF on every state change, no open redirect, login throttling, check --deploy."""

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from taskboard.middleware import CONTENT_SECURITY_POLICY
from tests.trust.routes import ROUTES, url_of
from tests.trust.state import diff, snapshot

ROOT = Path(__file__).resolve().parents[2]

# ------------------------------------------------------------------ Content-Security-Policy


def directives(header: str) -> dict[str, str]:
    return {part.split()[0]: part.strip() for part in header.split(";") if part.strip()}


def test_the_policy_is_the_strict_one():
    d = directives(CONTENT_SECURITY_POLICY)
    assert d["default-src"] == "default-src 'self'"
    assert d["script-src"] == "script-src 'self'"
    assert d["style-src"] == "style-src 'self'"
    assert d["img-src"] == "img-src 'self' data: blob:"
    assert d["frame-ancestors"] == "frame-ancestors 'none'"
    assert d["base-uri"] == "base-uri 'self'"
    assert d["form-action"] == "form-action 'self'"
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY and "unsafe-eval" not in CONTENT_SECURITY_POLICY


def test_every_html_page_carries_the_policy(client, world, admin_user):
    for url in [reverse("accounts:login"), "/admin/login/"]:
        assert client.get(url)["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, url
    pages = []
    client.force_login(world["owner"])
    for name in [
        "dashboards:home",
        "dashboards:project-detail",
        "dashboards:task-detail",
        "annotation:dataset-browse",
        "pipelines:detail",
    ]:
        pages.append(url_of(name, ROUTES[name], world))
    seen = 0
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY, url
        seen += 1
    client.force_login(admin_user)
    response = client.get("/admin/")
    assert response["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    print(f"FIGURE csp_pages pages={seen + 3} enforcing=1")


def test_htmx_is_configured_for_the_policy(client, world):
    client.force_login(world["owner"])
    html = client.get("/").content.decode()
    assert '<meta name="htmx-config"' in html
    assert '"includeIndicatorStyles": false' in html and '"allowEval": false' in html
    assert "taskboard/js/csp.js" in html


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_STYLE_TAG = re.compile(r"<style\b", re.I)
STYLE_ATTR = re.compile(r"\sstyle\s*=", re.I)
HANDLER_ATTR = re.compile(r"\son[a-z]+\s*=\s*[\"']", re.I)
TEMPLATE_COMMENT = re.compile(r"\{%\s*comment\s*%\}.*?\{%\s*endcomment\s*%\}|\{#.*?#\}", re.S)
JS_URL = re.compile(r"(href|src|action)\s*=\s*[\"']\s*javascript:", re.I)


def test_templates_hold_no_inline_script_style_or_handler():
    offenders = []
    templates = sorted((ROOT / "templates").rglob("*.html"))
    for path in templates:
        # Template comments are never sent; blanked (lines kept) so prose about a style="" is not an offender.
        text = TEMPLATE_COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), path.read_text())
        for label, pattern in [
            ("inline <script>", INLINE_SCRIPT),
            ("<style>", INLINE_STYLE_TAG),
            ("style= attribute", STYLE_ATTR),
            ("on*= handler", HANDLER_ATTR),
            ("javascript: URL", JS_URL),
        ]:
            for match in pattern.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                offenders.append(f"{path.relative_to(ROOT)}:{line}: {label}")
    print(f"FIGURE csp_templates templates={len(templates)} inline_offenders={len(offenders)}")
    assert not offenders, "\n".join(offenders)


def test_item_files_keep_their_own_sandbox_policy():
    # The item-file view sets `default-src 'none'; sandbox`; the middleware must not replace it.
    from django.http import HttpResponse

    from taskboard.middleware import ContentSecurityPolicyMiddleware

    def view(request):
        response = HttpResponse("x")
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
        return response

    assert ContentSecurityPolicyMiddleware(view)(None)["Content-Security-Policy"] == "default-src 'none'; sandbox"


# ------------------------------------------------------------------ CSRF


def test_every_state_change_needs_the_csrf_token(world):
    """Every route × write method, signed in by session, without a CSRF token: 403 and nothing written."""
    checked = refused = 0
    for name, route in ROUTES.items():
        for method, body in route.calls.items():
            if method == "GET" or name == "api-token":
                # api-token takes credentials, not a session: there is nothing a forged request could ride on.
                continue
            client = Client(enforce_csrf_checks=True)
            client.force_login(world["owner"])
            url = url_of(name, route, world)
            before = snapshot()
            data = body(world) if body else {}
            if route.kind == "api":
                response = client.generic(method, url, data=json.dumps(data), content_type="application/json")
            else:
                response = client.generic(
                    method, url, data=_urlencode(data), content_type="application/x-www-form-urlencoded"
                )
            checked += 1
            assert response.status_code == 403, f"{method} {name} {url}: {response.status_code}"
            refused += 1
            assert not diff(before, snapshot()), f"{method} {name} wrote without a CSRF token"
    print(f"FIGURE csrf_writes routes_methods={checked} refused={refused}")
    assert checked >= 40


def _urlencode(data: dict) -> str:
    from urllib.parse import urlencode

    return urlencode(data, doseq=True)


# ------------------------------------------------------------------ open redirect


EVIL_NEXTS = [
    "//evil.com",
    "https://evil.com",
    "http://evil.com/",
    "/\\evil.com",
    "\\\\evil.com",
    "/\\/evil.com",
    "https:evil.com",
    "javascript:alert(1)",
    "///evil.com",
    " //evil.com",
    "\t//evil.com",
    "//evil.com@testserver",
    "https://testserver.evil.com",
    "data:text/html,<script>alert(1)</script>",
]


@pytest.mark.parametrize("next_url", EVIL_NEXTS)
def test_login_never_redirects_off_site(client, owner, next_url):
    response = client.post(
        reverse("accounts:login") + "?next=" + next_url,
        {"username": owner.email, "password": "pw", "next": next_url},
    )
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith("/") and not location.startswith("//") and "\\" not in location, location
    assert "evil" not in location


def test_login_follows_a_same_site_next(client, owner, project):
    target = reverse("dashboards:project-detail", args=[project.pk])
    response = client.post(reverse("accounts:login"), {"username": owner.email, "password": "pw", "next": target})
    assert response["Location"] == target


def test_the_sdk_login_sends_tokens_only_to_localhost(client, owner):
    client.force_login(owner)
    for callback in ["https://evil.com/cb", "http://evil.com:3001", "http://localhost.evil.com", "//evil.com"]:
        response = client.get("/login", {"callback": callback})
        assert response.status_code == 400, callback


# ------------------------------------------------------------------ login throttling


def _bad_login(client, email, **extra):
    return client.post(reverse("accounts:login"), {"username": email, "password": "wrong"}, **extra)


def test_five_failures_lock_the_email_for_this_address(client, owner):
    for _ in range(5):
        response = _bad_login(client, owner.email)
        assert response.status_code == 200
    response = client.post(reverse("accounts:login"), {"username": owner.email, "password": "pw"})
    assert response.status_code == 429
    assert "Too many attempts, try again in 15 minutes." in response.content.decode()
    assert int(response["Retry-After"]) > 800
    assert "_auth_user_id" not in client.session  # even the right password waits
    # Another address may still sign in with the right password.
    other = Client(REMOTE_ADDR="10.0.0.9")
    assert other.post(reverse("accounts:login"), {"username": owner.email, "password": "pw"}).status_code == 302
    print("FIGURE login_throttle failures_allowed=5 status=429 window_minutes=15")


def test_the_lock_lifts_after_the_window(client, owner, settings, monkeypatch):
    import time

    now = [time.time()]
    monkeypatch.setattr("taskboard.middleware.time.time", lambda: now[0])
    for _ in range(5):
        _bad_login(client, owner.email)
    assert _bad_login(client, owner.email).status_code == 429
    now[0] += 14 * 60
    response = _bad_login(client, owner.email)
    assert response.status_code == 429 and "try again in 1 minute." in response.content.decode()
    now[0] += 61
    # The cache entry outlives the window in locmem (its timeout is real time); the window check frees it.
    assert client.post(reverse("accounts:login"), {"username": owner.email, "password": "pw"}).status_code == 302


def test_a_success_forgives_earlier_failures(client, owner):
    for _ in range(4):
        _bad_login(client, owner.email)
    assert client.post(reverse("accounts:login"), {"username": owner.email, "password": "pw"}).status_code == 302
    client.logout()
    for _ in range(4):
        assert _bad_login(client, owner.email).status_code == 200


def test_email_case_and_spaces_do_not_reset_the_count(client, owner):
    for variant in [
        "olivia@example.com",
        "OLIVIA@example.com",
        " olivia@example.com",
        "Olivia@Example.com ",
        "olivia@example.com",
    ]:
        _bad_login(client, variant)
    assert _bad_login(client, "olivia@EXAMPLE.com").status_code == 429


def test_one_address_spraying_many_emails_is_stopped(client, settings, db):
    settings.LOGIN_MAX_FAILURES_PER_IP = 20
    for n in range(20):
        assert _bad_login(client, f"guess{n}@example.com").status_code == 200
    assert _bad_login(client, "guess-next@example.com").status_code == 429


def test_the_api_token_endpoint_is_throttled_too(client, owner):
    body = {"type": "user_credentials", "username": owner.email, "password": "wrong"}
    for _ in range(5):
        assert client.post("/token", body, content_type="application/json").status_code == 401
    body["password"] = "pw"
    response = client.post("/token", body, content_type="application/json")
    assert response.status_code == 429
    assert "Too many attempts" in response.json()["message"]


def test_the_throttled_form_keeps_only_a_same_site_next(client, owner):
    for _ in range(5):
        _bad_login(client, owner.email)
    html = client.post(
        reverse("accounts:login"), {"username": owner.email, "password": "x", "next": "//evil.com"}
    ).content.decode()
    assert "evil.com" not in html


# ------------------------------------------------------------------ check --deploy


def test_check_deploy_is_clean_under_production_settings():
    env = {
        k: v for k, v in os.environ.items() if k not in ("PYTEST_VERSION", "DJANGO_ALLOW_ASYNC_UNSAFE", "DATABASE_URL")
    }
    env.update(DEBUG="0", SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="example.com")
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    print(f"FIGURE check_deploy returncode={result.returncode} issues={result.stderr.count('?: (')}")
    assert result.returncode == 0, result.stdout + result.stderr
