from django.contrib import admin

from taskboard.notifications.models import Notification


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("recipient", "kind", "title", "project", "created_at", "read_at")
    list_select_related = ("recipient", "project")
    list_filter = ("kind", "project")
    search_fields = ("recipient__email", "title", "event_key")
    raw_id_fields = ("recipient", "project")
    date_hierarchy = "created_at"
