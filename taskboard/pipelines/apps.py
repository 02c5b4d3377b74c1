from django.apps import AppConfig


class PipelinesConfig(AppConfig):
    name = "taskboard.pipelines"

    def ready(self):
        # Registers this app's job runners and its one receiver: uploads entering installed pipelines.
        from taskboard.pipelines import receivers, tasks  # noqa: F401
