from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    name = "taskboard.dashboards"

    def ready(self):
        from taskboard.annotation.signals import task_item_status_changed
        from taskboard.dashboards import receivers

        task_item_status_changed.connect(
            receivers.on_task_item_status_changed, dispatch_uid="dashboards.on_task_item_status_changed"
        )
