from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("admin/", admin.site.urls),
    path("accounts/", include("taskboard.accounts.urls")),
    path("api/v1/", include("taskboard.api.urls")),
    path("jobs/", include("taskboard.jobs.urls")),
    path("work/", include("taskboard.work.urls")),
    path("", include("taskboard.notifications.urls")),
    path("pipelines/", include("taskboard.pipelines.urls")),
    path("", include("taskboard.quality.urls")),
    path("", include("taskboard.datasets.urls")),
    path("", include("taskboard.annotation.urls")),
    # Dataloop's auth endpoints live at the site root (the SDK's gate_url).
    path("", include("taskboard.api.root_urls")),
    path("", include("taskboard.dashboards.urls")),
]

# MEDIA_URL is not served, not even with DEBUG on: stored files go out only through views that check who
# may see them (taskboard/datasets/files.py).
