from django.apps import AppConfig


class WorkConfig(AppConfig):
    name = "taskboard.work"
