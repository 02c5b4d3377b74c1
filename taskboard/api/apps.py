from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "taskboard.api"
