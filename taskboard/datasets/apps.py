from django.apps import AppConfig


class DatasetsConfig(AppConfig):
    name = "taskboard.datasets"

    def ready(self):
        # Registers the "items_import" job runner.
        from taskboard.datasets import importing  # noqa: F401
