from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from taskboard.projects.access import DatasetQuerySet, ItemQuerySet


class Dataset(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = DatasetQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="dataset_name_unique_in_project"),
        ]

    def __str__(self):
        return self.name

    @property
    def default_recipe(self):
        return self.recipes.filter(is_default=True).first()


class Recipe(models.Model):
    """The labels and instructions a task uses."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="recipes")
    name = models.CharField(max_length=200)
    instructions = models.TextField(blank=True)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["dataset", "-is_default", "name"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "name"], name="recipe_name_unique_in_dataset"),
            models.UniqueConstraint(
                fields=["dataset"], condition=Q(is_default=True), name="recipe_one_default_per_dataset"
            ),
        ]

    def __str__(self):
        return self.name


class Label(models.Model):
    recipe = models.ForeignKey(Recipe, on_delete=models.CASCADE, related_name="labels")
    name = models.CharField(max_length=100)
    color = models.CharField(max_length=7, default="#4c78a8")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["recipe", "position", "name"]
        constraints = [
            models.UniqueConstraint(fields=["recipe", "name"], name="label_name_unique_in_recipe"),
            models.CheckConstraint(condition=Q(color__regex=r"^#[0-9a-fA-F]{6}$"), name="label_color_hex"),
        ]

    def __str__(self):
        return self.name


class Item(models.Model):
    """A file in a dataset. `filename` is `dir` + "/" + `name` ("/name" at the root)."""

    # No index of its own: the two below start with the dataset, and every index costs each import.
    # No per-row constraint either: statement-level triggers check it (migration 0003), so an import
    # does not run one foreign-key lookup per row.
    dataset = models.ForeignKey(
        Dataset, on_delete=models.CASCADE, related_name="items", db_index=False, db_constraint=False
    )
    dir = models.CharField(max_length=1000, default="/")
    name = models.CharField(max_length=255)
    filename = models.CharField(max_length=1256)
    mimetype = models.CharField(max_length=100, default="image/jpeg")
    metadata = models.JSONField(default=dict, blank=True)
    file = models.FileField(upload_to="items/%Y/%m/", blank=True)
    url = models.URLField(max_length=2000, blank=True)
    annotated = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ItemQuerySet.as_manager()

    class Meta:
        ordering = ["dir", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["dataset", "filename"], name="item_filename_unique_in_dataset"),
            models.CheckConstraint(condition=Q(dir__startswith="/"), name="item_dir_absolute"),
            models.CheckConstraint(condition=~Q(name=""), name="item_name_not_empty"),
        ]
        indexes = [
            # The task split order, folder lookups and the item browser all walk this.
            models.Index(fields=["dataset", "dir", "name", "id"], name="item_dataset_dir_name"),
        ]

    def __str__(self):
        return self.filename

    def save(self, *args, **kwargs):
        self.filename = self.join_filename(self.dir, self.name)
        super().save(*args, **kwargs)

    @staticmethod
    def join_filename(dir: str, name: str) -> str:
        return f"/{name}" if dir == "/" else f"{dir}/{name}"

    @property
    def is_image(self) -> bool:
        return self.mimetype.startswith("image/")

    @property
    def thumb_src(self) -> str:
        """A small picture of an image item for lists: its stored thumbnail (or file), else its URL."""
        if self.file:
            return reverse("datasets:item-thumbnail", args=[self.dataset_id, self.pk])
        return self.url

    @property
    def src(self) -> str:
        """Where pages load the item from: a stored file through the view that checks who may see
        it (MEDIA_URL is not served once DEBUG is off), else the item's own URL."""
        if self.file:
            return reverse("datasets:item-file", args=[self.dataset_id, self.pk])
        return self.url


class Annotation(models.Model):
    """A label on an item, by a user, within a task."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="annotations")
    task = models.ForeignKey(
        "annotation.AnnotationTask", on_delete=models.SET_NULL, null=True, blank=True, related_name="annotations"
    )
    label = models.ForeignKey(Label, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    label_name = models.CharField(max_length=100)
    data = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["item", "created_at"]
        indexes = [models.Index(fields=["task", "item"], name="annotation_task_item")]

    def __str__(self):
        return f"{self.label_name} on {self.item_id}"
