from django.urls import path

from taskboard.dashboards import views

app_name = "dashboards"

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/<int:pk>/", views.project_detail, name="project-detail"),
    path("tasks/<int:pk>/", views.task_detail, name="task-detail"),
    path("tasks/<int:pk>/export.csv", views.task_export, name="task-export"),
    path("dashboards/projects/<int:project_id>/", views.project_dashboard, name="project"),
    path("dashboards/projects/<int:project_id>/people/", views.people, name="people"),
    path("dashboards/projects/<int:project_id>/people.csv", views.people_csv, name="people-csv"),
    path("dashboards/projects/<int:project_id>/reviewers/", views.reviewers, name="reviewers"),
    path("dashboards/projects/<int:project_id>/reviewers.csv", views.reviewers_csv, name="reviewers-csv"),
    path("dashboards/projects/<int:project_id>/cost/", views.cost, name="cost"),
    path("dashboards/projects/<int:project_id>/payroll.csv", views.payroll_csv, name="payroll-csv"),
    path("dashboards/tasks/<int:task_id>/", views.task_dashboard, name="task"),
    path("dashboards/tasks/<int:task_id>/agreement/", views.task_agreement, name="task-agreement"),
]
