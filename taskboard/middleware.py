"""Browser-level hardening: an enforcing Content-Security-Policy and throttling of every password
entry point; and htmx requests whose session ended sent to sign-in as a whole page.

All are middleware so that every view (ours, Django's LoginView, the admin, the Dataloop token
endpoint) gets them without each app remembering to.
"""

import contextlib
import hashlib
import json
import math
import time
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.forms.utils import ErrorDict
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect

# No inline script or style anywhere: htmx's indicator styles are switched off in base.html's
# htmx-config meta tag, and data-driven widths and colours are applied from data attributes by
# static/taskboard/js/csp.js.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data: blob:",
        "style-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ]
)


class ContentSecurityPolicyMiddleware:
    """Adds the policy to every response that has none of its own (item files set a stricter one)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        return response


class HtmxSignInMiddleware:
    """A poll or an as-you-type check after the session ended would follow login_required's 302
    and swap the sign-in page into a fragment; instead the whole page goes to sign-in, and comes
    back to the page (not the fragment) afterwards."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            response.status_code == 302
            and getattr(request, "htmx", False)
            and not request.user.is_authenticated
            and urlsplit(response.url).path == resolve_url(settings.LOGIN_URL)
        ):
            return HttpResponseClientRedirect(redirect_to_login(request.htmx.current_url_abs_path or "/").url)
        return response


def _window() -> int:
    return getattr(settings, "LOGIN_WINDOW_SECONDS", 15 * 60)


def _client_ip(request) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is client-controlled unless a proxy rewrites it, and trusting
    # it would let an attacker pick a fresh "address" per guess.
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _cache_key(*parts: str) -> str:
    return "login-fail:" + hashlib.sha256("\x00".join(parts).encode()).hexdigest()


class LoginThrottle:
    """Failed sign-ins counted in the cache, three ways, each for a fixed window that starts at its first
    failure: per email from this address (the tight limit), per account from any address (one account
    guessed from many addresses), and per address whatever the email (one address spraying many emails).

    An attempt is counted before the password is checked and given back when it turns out not to have
    failed, so requests racing in parallel cannot all slip under the limit (incr is atomic in the cache)."""

    def __init__(self, *, email: str, ip: str):
        email = (email or "").strip().lower()
        self.pair_key = _cache_key("email-ip", email, ip)
        self.keys = [
            (self.pair_key, getattr(settings, "LOGIN_MAX_FAILURES", 5)),
            (_cache_key("account", email), getattr(settings, "LOGIN_MAX_FAILURES_PER_ACCOUNT", 20)),
            (_cache_key("ip", ip), getattr(settings, "LOGIN_MAX_FAILURES_PER_IP", 50)),
        ]

    @staticmethod
    def _window_start(key: str, now: float) -> float:
        """When this count's window began; a window that has ended starts again now."""
        first = cache.get(key + ":first")
        if first is None or now >= first + _window():
            cache.set(key + ":first", now, timeout=_window())
            cache.set(key, 0, timeout=_window())
            return now
        return first

    def attempt(self) -> int:
        """Count an attempt: 0 when it may go ahead, else the seconds until one may (nothing counted)."""
        now = time.time()
        counted: list[str] = []
        wait = 0
        for key, limit in self.keys:
            first = self._window_start(key, now)
            cache.add(key, 0, timeout=max(1, math.ceil(first + _window() - now)))
            counted.append(key)
            if cache.incr(key) > limit:
                wait = max(wait, math.ceil(first + _window() - now))
        if wait:
            self._give_back(counted)
        return max(wait, 0)

    def _give_back(self, keys) -> None:
        for key in keys:
            with contextlib.suppress(ValueError):  # the window ended meanwhile: nothing to give back
                cache.decr(key)

    def failed(self) -> None:
        """The attempt failed: it stays counted."""

    def succeeded(self) -> None:
        # The email+address pair is forgiven; the account's and the address's counts only lose this
        # attempt (a success must not reset the budget of someone guessing from elsewhere).
        cache.delete(self.pair_key)
        cache.delete(self.pair_key + ":first")
        self._give_back([key for key, _limit in self.keys[1:]])

    def undecided(self) -> None:
        """Neither a success nor a wrong password (a malformed request): not counted."""
        self._give_back([key for key, _limit in self.keys])


def too_many_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"Too many attempts, try again in {minutes} minute{'s' if minutes != 1 else ''}."


class LoginThrottleMiddleware:
    """Throttles POSTs to every password entry point: the sign-in form, the admin's sign-in and the
    Dataloop `/token` (user_credentials) endpoint, which share the counts.

    The view decides success: the forms answer a redirect when they sign someone in (200 with the
    form's errors when not), the token endpoint a 200 (401 when not). A throttled attempt never
    reaches the password check.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.login_path = reverse(settings.LOGIN_URL)
        self.admin_login_path = reverse("admin:login")
        self.token_path = reverse("api-token")

    def __call__(self, request):
        if request.method != "POST" or request.path not in (self.login_path, self.admin_login_path, self.token_path):
            return self.get_response(request)
        is_api = request.path == self.token_path
        email = self._api_email(request) if is_api else request.POST.get("username", "")
        if email is None:
            return self.get_response(request)
        throttle = LoginThrottle(email=email, ip=_client_ip(request))
        wait = throttle.attempt()
        if wait:
            return self._refuse(request, wait, is_api=is_api)
        response = self.get_response(request)
        if is_api:
            ok, bad = response.status_code == 200, response.status_code == 401
        else:
            ok, bad = response.status_code == 302, response.status_code == 200
        if ok:
            throttle.succeeded()
        elif bad:
            throttle.failed()
        else:
            throttle.undecided()
        return response

    @staticmethod
    def _api_email(request):
        try:
            body = json.loads(request.body or b"{}")
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(body, dict) or body.get("type") != "user_credentials":
            return None
        username = body.get("username")
        return username if isinstance(username, str) else None

    def _refuse(self, request, wait: int, *, is_api: bool):
        message = too_many_message(wait)
        if is_api:
            response: HttpResponse = JsonResponse({"message": message, "error": message}, status=429)
        else:
            next_url = request.POST.get("next", "")
            if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
                next_url = ""
            if request.path == self.admin_login_path:
                admin_form = AdminAuthenticationForm(request, data=request.POST)
                _set_form_error(admin_form, message)
                context = {
                    **admin.site.each_context(request),
                    "title": "Log in",
                    "subtitle": None,
                    "app_path": request.get_full_path(),
                    "username": request.POST.get("username", ""),
                    "form": admin_form,
                    "next": next_url,
                }
                response = render(request, "admin/login.html", context, status=429)
            else:
                form = AuthenticationForm(request, data=request.POST)
                _set_form_error(form, message)
                response = render(request, "accounts/login.html", {"form": form, "next": next_url}, status=429)
        response["Retry-After"] = str(wait)
        return response


def _set_form_error(form, message: str) -> None:
    """The form shows `message` as its error, without running its clean() (which would check the password).
    django-stubs leaves out BaseForm._errors, which Django sets in __init__."""
    form._errors = ErrorDict({"__all__": form.error_class([message], error_class="nonfield")})
