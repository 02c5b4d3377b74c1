from django.apps import AppConfig


class WorkConfig(AppConfig):
    name = "taskboard.work"
    default_auto_field = "django.db.models.BigAutoField"
