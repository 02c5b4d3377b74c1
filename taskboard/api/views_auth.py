"""Who am I, and the token endpoints at the site root (dtlpy's gate_url)."""

from urllib.parse import urlencode, urlsplit, urlunsplit

from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponseRedirect

from taskboard.accounts.http import AuthedHttpRequest
from taskboard.api.auth import TokenError, token_issue, token_user, user_by_credentials
from taskboard.api.http import ApiError, api_view, bad_request, error_response, json_body, public_view
from taskboard.api.models import TokenKind
from taskboard.api.serializers import user_json


@api_view(["GET"])
def users_me(request: AuthedHttpRequest):
    return user_json(request.user, request)


@public_view(["POST"])
def token(request: HttpRequest):
    """`POST /token?default`: login_m2m (user credentials) and refresh (refresh token)."""
    body = json_body(request)
    kind = body.get("type")
    if kind == "user_credentials":
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str) or not username:
            raise bad_request("username and password are required.")
        user = user_by_credentials(username, password)
        if user is None:
            raise ApiError(401, "Wrong email or password.")
        return {
            "id_token": token_issue(user=user, note="login_m2m"),
            "refresh_token": token_issue(user=user, kind=TokenKind.REFRESH, note="login_m2m"),
            "token_type": "Bearer",
        }
    if kind == "refresh_token":
        refresh = body.get("refresh_token")
        if not isinstance(refresh, str) or not refresh:
            raise bad_request("refresh_token is required.")
        try:
            user = token_user(refresh, kind=TokenKind.REFRESH)
        except TokenError as error:
            raise ApiError(401, str(error)) from None
        return {"id_token": token_issue(user=user, note="refresh"), "token_type": "Bearer"}
    raise bad_request("type must be user_credentials or refresh_token.")


# dl.login() listens on localhost for the tokens; nowhere else may receive them.
CALLBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def interactive_login(request: HttpRequest):
    """`GET /login?callback=http://localhost:3001`: dl.login()'s browser flow.

    A signed-in user is sent back to the SDK's local listener with fresh tokens; anyone else
    signs in first and returns here.
    """
    callback = request.GET.get("callback", "")
    parts = urlsplit(callback)
    if request.method != "GET":
        return error_response(405, "Use GET.")
    if parts.scheme != "http" or parts.hostname not in CALLBACK_HOSTS:
        return error_response(400, "callback must be an http://localhost URL (the SDK's listener).")
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path())
    id_token = token_issue(user=request.user, note="dl.login")
    query = urlencode(
        {
            "id_token": id_token,
            "access_token": id_token,
            "refresh_token": token_issue(user=request.user, kind=TokenKind.REFRESH, note="dl.login"),
        }
    )
    return HttpResponseRedirect(urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, "")))
