from django.urls import path

from taskboard.notifications import views

app_name = "notifications"

urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("bell/", views.bell, name="bell"),
    path("settings/", views.email_settings, name="settings"),
    path("read-all/", views.read_all, name="read-all"),
    path("<int:pk>/open/", views.open_notification, name="open"),
    path("<int:pk>/read/", views.read_one, name="read"),
]
