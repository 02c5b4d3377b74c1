from django.urls import path, re_path

from taskboard.annotation import views, views_browse, views_bulk_status, views_distribution, views_wizard

app_name = "annotation"

WID = r"(?P<wid>[0-9a-f]{32})"

urlpatterns = [
    path("tasks/new/", views_wizard.wizard_start, name="wizard-start"),
    re_path(rf"^tasks/new/{WID}/create/$", views_wizard.wizard_create, name="wizard-create"),
    re_path(rf"^tasks/new/{WID}/job/$", views_wizard.wizard_job, name="wizard-job"),
    re_path(rf"^tasks/new/{WID}/retry/$", views_wizard.wizard_retry, name="wizard-retry"),
    re_path(rf"^tasks/new/{WID}/(?P<step>[a-z]+)/$", views_wizard.wizard_step, name="wizard-step"),
    re_path(rf"^tasks/new/{WID}/(?P<step>[a-z]+)/validate/$", views_wizard.wizard_validate, name="wizard-validate"),
    path("tasks/<int:pk>/add-items/", views.task_add_items, name="task-add-items"),
    path("tasks/<int:pk>/remove-items/", views.task_remove_items, name="task-remove-items"),
    path("tasks/<int:pk>/<slug:action>/validate/", views.task_items_validate, name="task-items-validate"),
    path("tasks/<int:pk>/reassign/", views.task_reassign, name="task-reassign"),
    path("tasks/<int:pk>/redistribute/", views.task_redistribute, name="task-redistribute"),
    path("tasks/<int:pk>/close/", views.task_close, name="task-close"),
    path("tasks/<int:pk>/leases/", views_distribution.task_leases, name="task-leases"),
    path("tasks/<int:pk>/leases/release/", views_distribution.task_lease_release, name="task-lease-release"),
    path("tasks/<int:pk>/leases/length/", views_distribution.task_lease_length, name="task-lease-length"),
    path("tasks/<int:pk>/priority/", views_distribution.task_priority, name="task-priority"),
    path("tasks/<int:pk>/priority/task/", views_distribution.task_priority_set, name="task-priority-set"),
    path("tasks/<int:pk>/priority/items/", views_distribution.task_items_priority, name="task-items-priority"),
    path("tasks/<int:pk>/status/", views_bulk_status.task_bulk_status, name="task-bulk-status"),
    path("tasks/<int:pk>/status/items/", views_bulk_status.task_bulk_status_set, name="task-bulk-status-set"),
    path("tasks/<int:pk>/skips/policy/", views_distribution.task_skip_policy, name="task-skip-policy"),
    path("projects/<int:pk>/operations/", views_distribution.project_operations, name="project-operations"),
    path("operations/<int:pk>/undo/", views_distribution.operation_undo, name="operation-undo"),
    # The dataset page: the item browser, and the upload and import forms beside it.
    path("datasets/<int:pk>/", views_browse.browse, name="dataset-browse"),
    path("datasets/<int:pk>/to-task/", views_browse.to_wizard, name="dataset-to-wizard"),
    path("datasets/<int:pk>/to-task-lever/", views_browse.to_task_lever, name="dataset-to-task-lever"),
    path("datasets/<int:pk>/upload/", views_browse.upload, name="dataset-upload"),
    path("datasets/<int:pk>/import/", views_browse.import_manifest, name="dataset-import"),
]
