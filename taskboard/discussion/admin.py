from django.contrib import admin

from taskboard.discussion.models import Comment


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ("task", "item", "author", "created_at", "resolved_at")
    list_select_related = ("task", "item", "author")
    raw_id_fields = ("task", "item", "thread", "author", "resolved_by")
    search_fields = ("body", "author__email")
