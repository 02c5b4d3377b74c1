"""Browser-level hardening: an enforcing Content-Security-Policy and login throttling; and htmx
requests whose session ended sent to sign-in as a whole page.

All are middleware so that every view (ours, Django's LoginView, the admin, the Dataloop token
endpoint) gets them without each app remembering to.
"""

import hashlib
import json
import math
import time
from urllib.parse import urlsplit

from django.conf import settings
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
    """Failed sign-ins counted per email+address (and per address alone, against email spraying)
    in the cache for a fixed window that starts at the first failure."""

    def __init__(self, *, email: str, ip: str):
        email = (email or "").strip().lower()
        self.keys = [
            (_cache_key("email-ip", email, ip), getattr(settings, "LOGIN_MAX_FAILURES", 5)),
            (_cache_key("ip", ip), getattr(settings, "LOGIN_MAX_FAILURES_PER_IP", 50)),
        ]

    def blocked_for(self) -> int:
        """Seconds until another attempt is allowed; 0 when one is allowed now."""
        now = time.time()
        wait = 0
        for key, limit in self.keys:
            count, first = cache.get(key, (0, now))
            if count >= limit:
                wait = max(wait, math.ceil(first + _window() - now))
        return max(wait, 0)

    def failed(self) -> None:
        now = time.time()
        for key, _limit in self.keys:
            count, first = cache.get(key, (0, now))
            remaining = max(1, math.ceil(first + _window() - now))
            cache.set(key, (count + 1, first), timeout=remaining)

    def succeeded(self) -> None:
        # Only the email+address pair is forgiven: a success must not reset the per-address budget.
        cache.delete(self.keys[0][0])


def too_many_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return f"Too many attempts, try again in {minutes} minute{'s' if minutes != 1 else ''}."


class LoginThrottleMiddleware:
    """Throttles POSTs to the sign-in form and to the Dataloop `/token` (user_credentials) endpoint.

    The view decides success: the form answers a redirect when it signs someone in, the token
    endpoint a 200. A throttled attempt never reaches the password check.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.login_path = reverse(settings.LOGIN_URL)
        self.token_path = reverse("api-token")

    def __call__(self, request):
        if request.method != "POST" or request.path not in (self.login_path, self.token_path):
            return self.get_response(request)
        is_api = request.path == self.token_path
        email = self._api_email(request) if is_api else request.POST.get("username", "")
        if email is None:
            return self.get_response(request)
        throttle = LoginThrottle(email=email, ip=_client_ip(request))
        wait = throttle.blocked_for()
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

    @staticmethod
    def _refuse(request, wait: int, *, is_api: bool):
        message = too_many_message(wait)
        if is_api:
            response: HttpResponse = JsonResponse({"message": message, "error": message}, status=429)
        else:
            form = AuthenticationForm(request, data=request.POST)
            # Set the error without running the form's clean(), which would check the password.
            # django-stubs leaves out BaseForm._errors, which Django sets in __init__.
            errors = ErrorDict({"__all__": form.error_class([message], error_class="nonfield")})
            form._errors = errors  # type: ignore[attr-defined]
            next_url = request.POST.get("next", "")
            if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
                next_url = ""
            response = render(request, "accounts/login.html", {"form": form, "next": next_url}, status=429)
        response["Retry-After"] = str(wait)
        return response
