"""Signing in and the signed-in person of each request.

Django's ModelBackend, with the per-request read of the signed-in person compiled once per process
(taskboard.sql.Compiled): every request of a signed-in person reads their row, and building and
compiling that `get(pk=…)` cost the application more CPU than PostgreSQL spends answering it (the
load test's mix, issue 22). Passwords, permissions and the is_active rule are ModelBackend's.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied

from taskboard.sql import Compiled

_USER = Compiled(lambda pk: get_user_model()._default_manager.filter(pk=pk))


class AccountBackend(ModelBackend):
    def authenticate(
        self, request: Any, username: str | None = None, password: str | None = None, **kwargs: Any
    ) -> Any:
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is None and password is not None:
            # Refused: Django tries no further backend. ModelBackend stays listed after this one only
            # for sessions it signed in (settings.py); trying it too would hash the password a second
            # time, and an unknown account must cost one hashing like a known one (tests/trust).
            raise PermissionDenied
        return user

    def get_user(self, user_id: Any) -> Any:
        try:
            pk = int(user_id)
        except (TypeError, ValueError):
            return None
        user = _USER.first(pk)
        return user if user is not None and self.user_can_authenticate(user) else None
