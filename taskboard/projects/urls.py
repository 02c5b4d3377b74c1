from django.urls import path

from taskboard.projects import views

app_name = "projects"

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/<int:pk>/", views.project_detail, name="detail"),
]
