from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    name = "taskboard.dashboards"

    def ready(self):
        # Connects the receivers that keep the dashboards' counters (projections of status changes).
        from taskboard.dashboards import receivers  # noqa: F401
