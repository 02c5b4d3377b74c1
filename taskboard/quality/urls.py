from django.urls import path

from taskboard.quality import views

app_name = "quality"

urlpatterns = [
    path("quality/projects/<int:project_id>/", views.project_quality, name="project"),
    path("quality/projects/<int:project_id>/ground-truth/", views.ground_truth_from_task, name="ground-truth"),
    path("quality/projects/<int:project_id>/reasons/", views.reason_add, name="reason-add"),
    path("quality/projects/<int:project_id>/reasons/<int:reason_id>/", views.reason_toggle, name="reason-toggle"),
    path("quality/projects/<int:project_id>/pay/", views.pay_settings, name="pay-settings"),
    path("quality/projects/<int:project_id>/pay/rate/", views.pay_rate, name="pay-rate"),
    path("quality/tasks/<int:task_id>/", views.task_quality, name="task"),
    path("quality/tasks/<int:task_id>/rejections/", views.task_rejections, name="rejections"),
    path("quality/tasks/<int:task_id>/qualify/", views.qualify, name="qualify"),
    path("quality/tasks/<int:task_id>/qualify/start/", views.qualify_start, name="qualify-start"),
    path("quality/tasks/<int:task_id>/qualify/submit/", views.qualify_submit, name="qualify-submit"),
    path("quality/tasks/<int:task_id>/qualify/reset/<int:user_id>/", views.qualify_reset, name="qualify-reset"),
    path("quality/tasks/<int:task_id>/honeypots/", views.honeypots_mix, name="honeypots-mix"),
    path("quality/tasks/<int:task_id>/review-honeypots/", views.review_honeypots_seed, name="review-honeypots"),
]
