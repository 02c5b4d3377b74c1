from django.apps import AppConfig


class QualityConfig(AppConfig):
    name = "taskboard.quality"
    default_auto_field = "django.db.models.BigAutoField"
