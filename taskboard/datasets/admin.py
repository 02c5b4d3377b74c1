from typing import Any, cast

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import models
from django.db.models import QuerySet
from django.utils.functional import cached_property

from taskboard.datasets.models import Annotation, Dataset, Item, Label, Recipe


class CappedCountPaginator(Paginator):
    """Counts at most `cap` rows: past that, an exact total of a million-row table costs more than the page."""

    cap = 10_000

    @cached_property
    def count(self) -> int:
        # The admin pages querysets; the stubs' Paginator takes any sliceable sequence.
        return cast(QuerySet[Any], self.object_list)[: self.cap + 1].count()


class LargeTableAdmin(admin.ModelAdmin):
    paginator = CappedCountPaginator
    # No second COUNT(*) of the unfiltered table on every page either.
    show_full_result_count = False
    list_per_page = 50


class MimetypeFilter(admin.SimpleListFilter):
    """Kinds of file by prefix: listing the distinct mimetypes would scan every item."""

    title = "kind of file"
    parameter_name = "kind"
    kinds = {"image": "image/", "video": "video/", "audio": "audio/", "pdf": "application/pdf", "text": "text/"}

    def lookups(self, request, model_admin):
        return [(key, key.upper() if key == "pdf" else key.capitalize()) for key in self.kinds]

    def queryset(self, request, queryset):
        value = self.value()
        prefix = self.kinds.get(value) if value is not None else None
        return queryset.filter(mimetype__startswith=prefix) if prefix else queryset


class RecipeInline(admin.TabularInline):
    model = Recipe
    extra = 0
    fields = ("name", "is_default", "created_at")
    readonly_fields = ("created_at",)
    show_change_link = True


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ("name", "project", "created_at")
    list_select_related = ("project",)
    list_filter = ("project",)
    search_fields = ("name", "description", "project__name")
    autocomplete_fields = ("project",)
    readonly_fields = ("created_at",)
    inlines = (RecipeInline,)


class LabelInline(admin.TabularInline):
    model = Label
    extra = 0
    fields = ("name", "color", "position")


@admin.register(Recipe)
class RecipeAdmin(admin.ModelAdmin):
    list_display = ("name", "dataset", "is_default", "created_at")
    list_select_related = ("dataset",)
    list_filter = ("is_default", "dataset__project")
    search_fields = ("name", "dataset__name")
    autocomplete_fields = ("dataset",)
    readonly_fields = ("created_at",)
    inlines = (LabelInline,)


@admin.register(Label)
class LabelAdmin(admin.ModelAdmin):
    list_display = ("name", "color", "position", "recipe")
    list_select_related = ("recipe__dataset",)
    search_fields = ("name", "recipe__name")
    raw_id_fields = ("recipe",)


@admin.register(Item)
class ItemAdmin(LargeTableAdmin):
    list_display = ("filename", "dataset", "mimetype", "annotated", "created_at")
    list_select_related = ("dataset",)
    list_filter = ("dataset", "annotated", MimetypeFilter)
    search_fields = ("filename",)
    raw_id_fields = ("dataset",)
    readonly_fields = ("filename", "created_at")
    # A URL typed without a scheme is https (Django 6's default, and what the manifest import accepts).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


@admin.register(Annotation)
class AnnotationAdmin(LargeTableAdmin):
    list_display = ("id", "label_name", "item", "task", "created_by", "created_at")
    list_select_related = ("item", "task", "created_by")
    list_filter = ("item__dataset",)
    search_fields = ("label_name", "item__filename")
    raw_id_fields = ("item", "task", "label", "created_by")
    readonly_fields = ("created_at",)
