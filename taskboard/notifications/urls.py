from django.urls import path

from taskboard.notifications import views

app_name = "notifications"

urlpatterns = [
    path("inbox/", views.inbox, name="inbox"),
    path("inbox/bell/", views.bell, name="bell"),
    path("inbox/settings/", views.email_settings, name="settings"),
    path("inbox/read-all/", views.read_all, name="read-all"),
    path("inbox/<int:pk>/open/", views.open_notification, name="open"),
    path("inbox/<int:pk>/read/", views.read_one, name="read"),
    path("projects/<int:pk>/webhooks/", views.webhook_list, name="webhooks"),
    path("projects/<int:pk>/webhooks/<int:hook_id>/", views.webhook_detail, name="webhook"),
    path("projects/<int:pk>/webhooks/<int:hook_id>/active/", views.webhook_active, name="webhook-active"),
    path("projects/<int:pk>/webhooks/<int:hook_id>/delete/", views.webhook_remove, name="webhook-delete"),
]
