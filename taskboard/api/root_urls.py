"""Dataloop's auth endpoint lives at the gate root, outside /api/v1."""

from django.urls import path

from taskboard.api import views_auth

urlpatterns = [
    path("token", views_auth.token, name="api-token"),
]
