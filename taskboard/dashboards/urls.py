from django.urls import path

from taskboard.dashboards import views

app_name = "dashboards"

urlpatterns = [
    path("projects/<int:project_id>/", views.project_dashboard, name="project"),
    path("projects/<int:project_id>/people/", views.people, name="people"),
    path("projects/<int:project_id>/people.csv", views.people_csv, name="people-csv"),
    path("tasks/<int:task_id>/", views.task_dashboard, name="task"),
    path("tasks/<int:task_id>/agreement/", views.task_agreement, name="task-agreement"),
]
