from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html_join

from taskboard.accounts.admin import UserAdmin
from taskboard.projects.models import Membership, Project


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("user", "role", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("user",)


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ("name", "created_by", "created_at")
    list_select_related = ("created_by",)
    search_fields = ("name", "description")
    date_hierarchy = "created_at"
    raw_id_fields = ("created_by",)
    readonly_fields = ("created_at", "distribution")
    inlines = (MembershipInline,)

    @admin.display(description="distribution control")
    def distribution(self, project):
        """The project's people view, stuck work and bulk operations are pages (the admin lists their
        rows: pauses, caps, leases, stuck items, operations); linked by name, as the apps above own them."""
        if project.pk is None:
            return "-"
        links = (
            ("dashboards:people-control", "People (load, pauses, caps, leases)"),
            ("dashboards:stuck-panel", "Stuck work"),
            ("annotation:project-operations", "Bulk operations"),
        )
        return format_html_join(
            " · ", '<a href="{}">{}</a>', ((reverse(name, args=[project.pk]), label) for name, label in links)
        )


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ("user", "project", "role", "created_at")
    list_select_related = ("user", "project")
    list_filter = ("role", "project")
    search_fields = ("user__email", "user__name", "project__name")
    autocomplete_fields = ("user", "project")
    readonly_fields = ("created_at",)


class UserMembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ("project", "role", "created_at")
    readonly_fields = ("created_at",)
    autocomplete_fields = ("project",)


# A person's memberships on their own page: the accounts app, below projects, cannot name them.
UserAdmin.inlines = (*UserAdmin.inlines, UserMembershipInline)
