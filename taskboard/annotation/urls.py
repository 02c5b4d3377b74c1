from django.urls import path, re_path

from taskboard.annotation import views

app_name = "annotation"

WID = r"(?P<wid>[0-9a-f]{32})"

urlpatterns = [
    path("new/", views.wizard_start, name="wizard-start"),
    re_path(rf"^new/{WID}/create/$", views.wizard_create, name="wizard-create"),
    re_path(rf"^new/{WID}/job/$", views.wizard_job, name="wizard-job"),
    re_path(rf"^new/{WID}/retry/$", views.wizard_retry, name="wizard-retry"),
    re_path(rf"^new/{WID}/(?P<step>[a-z]+)/$", views.wizard_step, name="wizard-step"),
    re_path(rf"^new/{WID}/(?P<step>[a-z]+)/validate/$", views.wizard_validate, name="wizard-validate"),
    path("<int:pk>/", views.task_detail, name="task-detail"),
    path("<int:pk>/add-items/", views.task_add_items, name="task-add-items"),
    path("<int:pk>/remove-items/", views.task_remove_items, name="task-remove-items"),
    path("<int:pk>/<slug:action>/validate/", views.task_items_validate, name="task-items-validate"),
    path("<int:pk>/reassign/", views.task_reassign, name="task-reassign"),
    path("<int:pk>/redistribute/", views.task_redistribute, name="task-redistribute"),
    path("<int:pk>/close/", views.task_close, name="task-close"),
    path("<int:pk>/export.csv", views.task_export, name="task-export"),
]
