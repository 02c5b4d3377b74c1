from django.urls import path

from taskboard.pipelines import views

app_name = "pipelines"

urlpatterns = [
    path("", views.pipeline_list, name="list"),
    path("<int:pk>/", views.pipeline_detail, name="detail"),
    path("<int:pk>/install/", views.pipeline_install, name="install"),
    path("<int:pk>/pause/", views.pipeline_pause, name="pause"),
    path("<int:pk>/run/", views.pipeline_run, name="run"),
    path("<int:pk>/retry/", views.pipeline_retry, name="retry"),
    path("<int:pk>/delete/", views.pipeline_delete, name="delete"),
    path("<int:pk>/nodes/add/", views.node_add, name="node-add"),
    path("<int:pk>/nodes/<int:node_pk>/edit/", views.node_edit, name="node-edit"),
    path("<int:pk>/nodes/<int:node_pk>/delete/", views.node_delete, name="node-delete"),
    path("<int:pk>/connections/add/", views.connection_add, name="connection-add"),
    path("<int:pk>/connections/<int:connection_pk>/delete/", views.connection_delete, name="connection-delete"),
]
