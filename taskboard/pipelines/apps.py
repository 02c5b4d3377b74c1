from django.apps import AppConfig


class PipelinesConfig(AppConfig):
    name = "taskboard.pipelines"

    def ready(self):
        from taskboard.pipelines import receivers  # noqa: F401
