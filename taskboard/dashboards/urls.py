from django.urls import path

from taskboard.dashboards import views, views_people

app_name = "dashboards"

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/<int:pk>/", views.project_detail, name="project-detail"),
    path("tasks/<int:pk>/", views.task_detail, name="task-detail"),
    path("tasks/<int:pk>/export.csv", views.task_export, name="task-export"),
    path("dashboards/projects/<int:project_id>/", views.project_dashboard, name="project"),
    path("dashboards/projects/<int:project_id>/people/", views.people, name="people"),
    path("dashboards/projects/<int:project_id>/people.csv", views.people_csv, name="people-csv"),
    # The people view: distribution control per person.
    path("projects/<int:project_id>/people/", views_people.people_control, name="people-control"),
    path("projects/<int:project_id>/people/<int:user_id>/pause/", views_people.person_pause, name="person-pause"),
    path("projects/<int:project_id>/people/<int:user_id>/resume/", views_people.person_resume, name="person-resume"),
    path(
        "projects/<int:project_id>/people/<int:user_id>/hand-off/",
        views_people.person_hand_off,
        name="person-hand-off",
    ),
    path("projects/<int:project_id>/people/<int:user_id>/cap/", views_people.person_cap, name="person-cap"),
    path("projects/<int:project_id>/stuck/", views_people.stuck_panel, name="stuck-panel"),
    path("tasks/<int:pk>/stuck/policy/", views_people.task_stuck_policy, name="task-stuck-policy"),
    path("tasks/<int:pk>/stuck/sweep/", views_people.task_stuck_sweep, name="task-stuck-sweep"),
    path("dashboards/projects/<int:project_id>/reviewers/", views.reviewers, name="reviewers"),
    path("dashboards/projects/<int:project_id>/reviewers.csv", views.reviewers_csv, name="reviewers-csv"),
    path("dashboards/projects/<int:project_id>/cost/", views.cost, name="cost"),
    path("dashboards/projects/<int:project_id>/payroll.csv", views.payroll_csv, name="payroll-csv"),
    path("dashboards/tasks/<int:task_id>/", views.task_dashboard, name="task"),
    path("dashboards/tasks/<int:task_id>/agreement/", views.task_agreement, name="task-agreement"),
]
