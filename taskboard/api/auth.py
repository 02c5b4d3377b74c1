"""Bearer JWTs for the API: HS256 signed with SECRET_KEY, claims `email`, `exp`, `jti`.

dtlpy reads `email` and `exp` from the token itself (without checking the signature), so
every token we hand out is a JWT; the `jti` names an ApiToken row an admin can revoke.
"""

import datetime
import uuid

import jwt
from django.conf import settings
from django.contrib.auth import authenticate
from django.utils import timezone

from taskboard.api.models import ApiToken, TokenKind

ALGORITHM = "HS256"
REFRESH_TOKEN_DAYS = 90


class TokenError(Exception):
    """The token is missing, malformed, expired or revoked (the API answers 401)."""


def token_issue(*, user, days: float | None = None, kind: str = TokenKind.ID, note: str = "") -> str:
    if days is None:
        days = settings.API_TOKEN_DAYS if kind == TokenKind.ID else REFRESH_TOKEN_DAYS
    now = timezone.now()
    expires = now + datetime.timedelta(days=days)
    jti = uuid.uuid4().hex
    ApiToken.objects.create(jti=jti, user=user, kind=kind, created=now, expires=expires, note=note[:200])
    claims = {
        "email": user.email,
        "sub": str(user.pk),
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": jti,
        "typ": kind,
    }
    return jwt.encode(claims, settings.SECRET_KEY, algorithm=ALGORITHM)


def token_user(token: str, *, kind: str = TokenKind.ID):
    """The active user a token of `kind` names; TokenError otherwise."""
    try:
        claims = jwt.decode(
            token, settings.SECRET_KEY, algorithms=[ALGORITHM], options={"require": ["exp", "email", "jti"]}
        )
    except jwt.ExpiredSignatureError:
        raise TokenError("Token expired.") from None
    except jwt.InvalidTokenError:
        raise TokenError("Invalid token.") from None
    if claims.get("typ", TokenKind.ID) != kind:
        raise TokenError("Invalid token.")
    row = ApiToken.objects.select_related("user").filter(jti=claims["jti"]).first()
    if row is None or row.kind != kind:
        raise TokenError("Invalid token.")
    if row.revoked:
        raise TokenError("Token revoked.")
    if row.expires <= timezone.now():
        raise TokenError("Token expired.")
    user = row.user
    if not user.is_active or user.email != str(claims["email"]).lower():
        raise TokenError("Invalid token.")
    # One write per minute at most: last_used is for the admin, not for security.
    if row.last_used is None or timezone.now() - row.last_used > datetime.timedelta(minutes=1):
        ApiToken.objects.filter(pk=row.pk).update(last_used=timezone.now())
    return user


def user_by_credentials(email: str, password: str):
    """The active user with this email and password, or None.

    Through Django's authentication backend, as the sign-in pages: it runs the password hasher for
    an unknown email too (against a dummy) and checks an inactive account's password before refusing
    it, so the time taken does not tell which accounts exist."""
    return authenticate(username=(email or "").strip(), password=password or "")
