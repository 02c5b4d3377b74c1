from django.urls import path

from taskboard.quality import views

app_name = "quality"

urlpatterns = [
    path("quality/projects/<int:project_id>/", views.project_quality, name="project"),
]
