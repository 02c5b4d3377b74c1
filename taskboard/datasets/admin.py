from django.contrib import admin

from taskboard.datasets.models import Annotation, Dataset, Item, Label, Recipe


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
class ItemAdmin(admin.ModelAdmin):
    list_display = ("filename", "dataset", "mimetype", "annotated", "created_at")
    list_select_related = ("dataset",)
    list_filter = ("dataset", "annotated", "mimetype")
    search_fields = ("filename",)
    raw_id_fields = ("dataset",)
    readonly_fields = ("filename", "created_at")
    # Datasets reach millions of items: a COUNT(*) per page would cost more than the page.
    show_full_result_count = False
    list_per_page = 50


@admin.register(Annotation)
class AnnotationAdmin(admin.ModelAdmin):
    list_display = ("id", "label_name", "item", "task", "created_by", "created_at")
    list_select_related = ("item", "task", "created_by")
    list_filter = ("label_name",)
    search_fields = ("label_name", "item__filename")
    raw_id_fields = ("item", "task", "label", "created_by")
    readonly_fields = ("created_at",)
    show_full_result_count = False
