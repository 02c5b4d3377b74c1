"""The plumbing every API view shares: bearer auth, JSON bodies, errors as {"message": ...}.

Views are CSRF exempt only when the request carries a bearer token; a request that relies
on the browser's session cookie still gets Django's CSRF check.
"""

import functools
import json
import logging

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, RequestDataTooBig, ValidationError
from django.db import IntegrityError
from django.http import Http404, JsonResponse
from django.middleware.csrf import CsrfViewMiddleware
from django.views.decorators.csrf import csrf_exempt

from taskboard.annotation.dql import DQLError
from taskboard.api.auth import TokenError, token_user
from taskboard.inputs import json_problem

logger = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def bad_request(message: str) -> ApiError:
    return ApiError(400, message)


def not_found(what: str = "Not found") -> ApiError:
    return ApiError(404, what)


def error_response(status: int, message: str) -> JsonResponse:
    return JsonResponse({"message": message, "status": status}, status=status)


# Service field names → the Dataloop JSON keys a dtlpy user sent.
API_FIELD_NAMES = {
    "assignees": "workload",
    "allowed_assignees": "allowedAssignees",
    "due_at": "dueDate",
    "batch_size": "batchSize",
    "max_batch_workload": "maxBatchWorkload",
    "consensus_percentage": "consensusPercentage",
    "consensus_assignees": "consensusAssignees",
    "recipe": "recipeId",
    "owner": "taskOwner",
    "parent": "spec.parentTaskId",
    "selection": "query",
    "task_type": "spec.type",
    "statuses": "availableActions",
}


def validation_message(error: ValidationError) -> str:
    if hasattr(error, "error_dict"):
        parts = []
        for field, errors in error.message_dict.items():
            text = " ".join(errors)
            parts.append(text if field == "__all__" else f"{API_FIELD_NAMES.get(field, field)}: {text}")
        return "; ".join(parts)
    return " ".join(error.messages)


def _is_duplicate(error: ValidationError) -> bool:
    """A name already taken is a conflict (409), not a malformed request."""
    if not hasattr(error, "error_dict") or set(error.message_dict) != {"name"}:
        return False
    return any("already" in m for m in error.message_dict["name"])


def _bearer(request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return None


def json_body(request, *, required: bool = True) -> dict:
    """The request's JSON object. Every text the API takes passes here: one holding NUL, or a number that is
    NaN or Infinity (Python's json reads both), is refused naming where it is, before any view reads it."""
    if not request.body:
        if required:
            raise bad_request("A JSON body is required.")
        return {}
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise bad_request("The body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise bad_request("The body must be a JSON object.")
    problem = json_problem(body)
    if problem:
        raise bad_request(problem)
    return body


def _url_problem(request, kwargs) -> str | None:
    """NUL in the path's values or the query string: PostgreSQL refuses it in any lookup."""
    for name, value in kwargs.items():
        if isinstance(value, str) and "\x00" in value:
            return f"{name}: text may not contain NUL (\\u0000) characters."
    for name, values in request.GET.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            return f"{name.replace(chr(0), '')}: text may not contain NUL (\\u0000) characters."
    return None


def _csrf_failure(request):
    def get_response(_request):  # pragma: no cover - never called by process_view
        return None

    # process_view reads only the view's csrf_exempt flag, which get_response does not have.
    return CsrfViewMiddleware(get_response).process_view(request, get_response, (), {})


def run_guarded(request, view, *args, **kwargs):
    problem = _url_problem(request, kwargs)
    if problem:
        return error_response(400, problem)
    try:
        response = view(request, *args, **kwargs)
    except ApiError as error:
        return error_response(error.status, error.message)
    except ValidationError as error:
        return error_response(409 if _is_duplicate(error) else 400, validation_message(error))
    except (Http404, ObjectDoesNotExist):
        return error_response(404, "Not found.")
    except PermissionDenied as error:
        return error_response(403, str(error) or "You may not do this.")
    except RecursionError:
        # json.loads and the DQL walk recurse: a body nested thousands deep is malformed input, not a crash.
        return error_response(400, "query: the JSON is nested too deeply.")
    except IntegrityError:
        logger.info("API integrity error", exc_info=True)
        return error_response(409, "This conflicts with an existing object (a duplicate name?).")
    except RequestDataTooBig:
        return error_response(400, f"The body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes.")
    except Exception as error:
        if isinstance(error, DQLError):
            return error_response(400, str(error))
        # A bug: api.middleware answers the JSON 500 with the request id, and logs the traceback.
        raise
    if isinstance(response, (dict, list)):
        return JsonResponse(response, safe=False)
    return response


def api_view(methods):
    """Accept `methods`, authenticate (bearer JWT, or the session with CSRF), map errors to JSON."""

    allowed = {m.upper() for m in methods}

    def decorator(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in allowed:
                response = error_response(405, f"Method {request.method} is not allowed here.")
                response["Allow"] = ", ".join(sorted(allowed))
                return response
            token = _bearer(request)
            if token is not None:
                try:
                    request.user = token_user(token)
                except TokenError as error:
                    return error_response(401, str(error))
            elif request.user.is_authenticated:
                if request.method not in ("GET", "HEAD", "OPTIONS"):
                    failure = _csrf_failure(request)
                    if failure is not None:
                        return error_response(403, "CSRF check failed; send a bearer token instead.")
            else:
                return error_response(401, "Authentication required: send 'authorization: Bearer <token>'.")
            return run_guarded(request, view, *args, **kwargs)

        return wrapper

    return decorator


def public_view(methods):
    """Like api_view without authentication (the token endpoint)."""

    allowed = {m.upper() for m in methods}

    def decorator(view):
        @csrf_exempt
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in allowed:
                return error_response(405, f"Method {request.method} is not allowed here.")
            return run_guarded(request, view, *args, **kwargs)

        return wrapper

    return decorator
