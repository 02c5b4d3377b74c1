from django.apps import AppConfig


class AnnotationConfig(AppConfig):
    name = "taskboard.annotation"

    def ready(self):
        # Registers this app's job runners.
        from taskboard.annotation import tasks  # noqa: F401
