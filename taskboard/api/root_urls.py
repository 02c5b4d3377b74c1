"""Dataloop's auth endpoints live at the gate root, outside /api/v1 (dtlpy's gate_url)."""

from django.urls import path

from taskboard.api import views_auth

urlpatterns = [
    path("token", views_auth.token, name="api-token"),
    path("login", views_auth.interactive_login, name="api-login"),
]
