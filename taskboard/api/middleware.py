"""Every answer of the API (`/api/…` and the token endpoint) carries a request id, and every error
is JSON `{"message": …}`, whatever raised it: a view, Django itself (a refused host, a body over the
size limit) or a bug. An unexpected error answers 500 with the request id and nothing of the
server's internals; the log line with the traceback carries the same id.

Outermost in MIDDLEWARE, so that it also sees what other middleware answers or raises."""

import json
import logging
import re
import uuid
from http import HTTPStatus

from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger("taskboard.api.errors")

REQUEST_ID_HEADER = "X-Request-ID"
# A proxy's own id (nginx's $request_id) is kept when it looks like one; anything else is replaced.
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
API_PREFIXES = ("/api/",)
API_PATHS = frozenset({"/token"})
_DJANGO_REFUSALS = (Http404, PermissionDenied, BadRequest, SuspiciousOperation)


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES) or path in API_PATHS


def request_id_of(request: HttpRequest) -> str:
    """This request's id (made on first use)."""
    existing = getattr(request, "request_id", None)
    if existing:
        return existing
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    made = incoming if _SANE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
    request.request_id = made  # type: ignore[attr-defined]
    return made


def internal_error(request: HttpRequest, error: BaseException) -> JsonResponse:
    """The 500 an unexpected error answers: logged with its traceback and the request id."""
    request_id = request_id_of(request)
    logger.error(
        "Unhandled API error (request id %s) on %s %s",
        request_id,
        request.method,
        request.path,
        exc_info=(type(error), error, error.__traceback__),
    )
    return JsonResponse(
        {
            "message": f"Internal server error. Quote request id {request_id} when reporting it.",
            "status": 500,
        },
        status=500,
    )


class ApiErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not is_api_path(request.path_info):
            return self.get_response(request)
        request_id = request_id_of(request)
        response = self.get_response(request)
        if response.status_code >= 400:
            response = self._as_json(response, request_id)
        response[REQUEST_ID_HEADER] = request_id
        return response

    def process_exception(self, request, exception):
        """A bug: the JSON 500. Django's own refusals (404, 403, a suspicious request's 400) keep their status
        and are made JSON on the way out."""
        if not is_api_path(request.path_info) or isinstance(exception, _DJANGO_REFUSALS):
            return None
        return internal_error(request, exception)

    @staticmethod
    def _as_json(response: HttpResponse, request_id: str) -> HttpResponse:
        """The error as {"message", "status", "requestId"}: a JSON error gains the id; anything else (Django's
        HTML 400 or 500 page) is replaced by its status's phrase, never its text."""
        if getattr(response, "streaming", False):
            return response
        body = None
        if response.get("Content-Type", "").startswith("application/json"):
            try:
                body = json.loads(response.content)
            except ValueError:
                body = None
        if not isinstance(body, dict) or not isinstance(body.get("message"), str):
            try:
                phrase = HTTPStatus(response.status_code).phrase
            except ValueError:
                phrase = "Error"
            body = {"message": f"{phrase}.", "status": response.status_code}
        body["requestId"] = request_id
        replaced = JsonResponse(body, status=response.status_code)
        replaced.cookies = response.cookies
        for header in ("Retry-After", "Allow", "WWW-Authenticate"):
            if header in response:
                replaced[header] = response[header]
        return replaced
