from django.contrib import admin

from taskboard.api.models import ApiCommand, ApiToken


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["user", "kind", "jti", "created", "expires", "revoked", "last_used"]
    list_filter = ["kind", "revoked"]
    search_fields = ["user__email", "jti", "note"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
    readonly_fields = ["jti", "created", "last_used"]
    actions = ["revoke"]

    def has_add_permission(self, request):
        # A row without its signed JWT is useless: tokens come from issue_token or POST /token.
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        count = queryset.update(revoked=True)
        self.message_user(request, f"{count} token(s) revoked.")


@admin.register(ApiCommand)
class ApiCommandAdmin(admin.ModelAdmin):
    list_display = ["id", "type", "status", "user", "project", "created_at"]
    list_filter = ["type", "status"]
    search_fields = ["user__email", "type"]
    list_select_related = ["user", "project"]
    raw_id_fields = ["user", "project", "job"]
