from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "taskboard.jobs"
