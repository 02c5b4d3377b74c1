from django.apps import AppConfig


class DashboardsConfig(AppConfig):
    name = "taskboard.dashboards"

    def ready(self):
        from taskboard.annotation.signals import task_item_status_changed
        from taskboard.dashboards import receivers
        from taskboard.work import signals as work_signals

        task_item_status_changed.connect(
            receivers.on_task_item_status_changed, dispatch_uid="dashboards.on_task_item_status_changed"
        )
        work_signals.consensus_scored.connect(
            receivers.on_consensus_scored, dispatch_uid="dashboards.on_consensus_scored"
        )
        work_signals.active_time_recorded.connect(
            receivers.on_active_time_recorded, dispatch_uid="dashboards.on_active_time_recorded"
        )
        work_signals.items_sent_back.connect(
            receivers.on_items_sent_back, dispatch_uid="dashboards.on_items_sent_back"
        )
