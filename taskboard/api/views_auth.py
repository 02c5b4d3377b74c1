"""Who am I, and the token endpoint at the site root (dtlpy's gate_url)."""

from taskboard.api.auth import TokenError, token_issue, token_user, user_by_credentials
from taskboard.api.http import ApiError, api_view, bad_request, json_body, public_view
from taskboard.api.models import TokenKind
from taskboard.api.serializers import user_json


@api_view(["GET"])
def users_me(request):
    return user_json(request.user, request)


@public_view(["POST"])
def token(request):
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
