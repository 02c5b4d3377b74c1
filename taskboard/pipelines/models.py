"""Pipelines: task nodes on a grid, connections that route items by status, and the moves made.

A node keeps the JSON the SDK sent (`raw`) so the API echoes it back unchanged; the columns
beside it are what the server validates and acts on.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from taskboard.projects.access import PipelineQuerySet


class PipelineState(models.TextChoices):
    CREATED = "created", "Created"
    INSTALLED = "installed", "Installed"
    PAUSED = "paused", "Paused"


class Pipeline(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="pipelines")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    state = models.CharField(max_length=20, choices=PipelineState.choices, default=PipelineState.CREATED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Routing adds items to tasks in this person's name.
    installed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    installed_at = models.DateTimeField(null=True, blank=True)
    # Set when first installed: items uploaded into a dataset node's folder from then on enter,
    # including those that arrived while the pipeline was paused.
    intake_since = models.DateTimeField(null=True, blank=True)
    # Kept for the API: Dataloop's pipeline settings, variables and other top-level keys, as sent.
    settings = models.JSONField(default=dict, blank=True)
    variables = models.JSONField(default=list, blank=True)
    extra = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PipelineQuerySet.as_manager()

    class Meta:
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="pipeline_name_unique_in_project"),
            models.CheckConstraint(condition=Q(state__in=PipelineState.values), name="pipeline_state_valid"),
        ]

    def __str__(self):
        return self.name

    @property
    def is_installed(self) -> bool:
        return self.state == PipelineState.INSTALLED


class NodeKind(models.TextChoices):
    DATASET = "dataset", "Dataset"
    ANNOTATION = "annotation", "Annotation task"
    QA = "qa", "QA task"


TASK_KINDS = (NodeKind.ANNOTATION, NodeKind.QA)


def new_node_uid() -> str:
    return str(uuid.uuid4())


class Node(models.Model):
    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="nodes")
    # Dataloop's node id (a uuid4 string the SDK makes); connections in the API name nodes by it.
    node_uid = models.CharField(max_length=64, default=new_node_uid)
    kind = models.CharField(max_length=20, choices=NodeKind.choices)
    name = models.CharField(max_length=200)
    column = models.IntegerField(default=0)
    row = models.IntegerField(default=0)
    dataset = models.ForeignKey(
        "datasets.Dataset", on_delete=models.SET_NULL, null=True, blank=True, related_name="pipeline_nodes"
    )
    # Dataset nodes: the folder items enter from ("" = the whole dataset).
    folder = models.CharField(max_length=1000, blank=True)
    recipe = models.ForeignKey(
        "datasets.Recipe", on_delete=models.SET_NULL, null=True, blank=True, related_name="pipeline_nodes"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    due_at = models.DateTimeField(null=True, blank=True)
    priority = models.PositiveSmallIntegerField(default=2)
    batch_size = models.PositiveSmallIntegerField(null=True, blank=True)
    max_batch_workload = models.PositiveSmallIntegerField(null=True, blank=True)
    # [{"key","label","color","is_done"}]; empty means the defaults of the node's task type.
    statuses = models.JSONField(default=list, blank=True)
    task = models.ForeignKey(
        "annotation.AnnotationTask", on_delete=models.SET_NULL, null=True, blank=True, related_name="pipeline_nodes"
    )
    raw = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pipeline", "column", "row", "id"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "node_uid"], name="node_uid_unique_in_pipeline"),
            models.CheckConstraint(condition=Q(kind__in=NodeKind.values), name="node_kind_valid"),
            models.CheckConstraint(condition=Q(priority__gte=1, priority__lte=3), name="node_priority_1_to_3"),
        ]
        indexes = [models.Index(fields=["task"], name="node_task")]

    def __str__(self):
        return f"{self.name} ({self.get_kind_display()})"

    @property
    def is_task(self) -> bool:
        return self.kind in TASK_KINDS

    @property
    def task_type(self) -> str:
        return "qa" if self.kind == NodeKind.QA else "annotation"


class NodeWorkload(models.Model):
    node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="workload")
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    load = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["node", "id"]
        constraints = [
            models.UniqueConstraint(fields=["node", "assignee"], name="node_workload_one_per_person"),
            models.CheckConstraint(condition=Q(load__gte=1, load__lte=100), name="node_workload_load_1_to_100"),
        ]

    def __str__(self):
        return f"{self.assignee} {self.load}%"


class Connection(models.Model):
    """Items of `source` that get `status` move into `target`. From a dataset node the status is ""."""

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="connections")
    source = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="outgoing")
    target = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="incoming")
    status = models.CharField(max_length=50, blank=True)
    # A rework connection may close a cycle (e.g. QA sends items back to annotation).
    rework = models.BooleanField(default=False)
    # Dataloop's connection `condition` (a DQL filter), kept as sent and echoed; not applied.
    condition = models.JSONField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pipeline", "id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "status", "target"], name="connection_unique"),
        ]

    def __str__(self):
        return f"{self.source.name} —{self.status or 'items'}→ {self.target.name}"


class Move(models.Model):
    """One item moved along a connection (or entering the pipeline, status "").

    A routing step is (from node, to node, item, status, status_at): the time the item got
    the status. The unique constraint makes a replayed routing job move nothing twice, while
    an item that comes back for rework and gets the status again moves again.
    """

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="moves")
    item = models.ForeignKey("datasets.Item", on_delete=models.CASCADE, related_name="+")
    from_node = models.ForeignKey(Node, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    to_node = models.ForeignKey(Node, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    status = models.CharField(max_length=50, blank=True)
    status_at = models.DateTimeField()
    at = models.DateTimeField(default=timezone.now)
    job_id = models.CharField(max_length=64, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["from_node", "to_node", "item", "status", "status_at"], name="move_once_per_step"
            ),
        ]
        indexes = [models.Index(fields=["pipeline", "at"], name="move_pipeline_at")]

    def __str__(self):
        return f"item {self.item_id}: {self.from_node_id} → {self.to_node_id} ({self.status or 'entered'})"


class FailedStep(models.Model):
    """A routing step that could not be made, with the reason a manager can act on.

    One row per step (from node, to node, status). The items it holds up are those the catch-up
    would still move (a status with an outgoing connection and no move; for a dataset node, new
    uploads that have not entered), so a retry after fixing the cause moves each of them once.
    The row goes when a retry or a later routing leaves nothing waiting there.
    """

    pipeline = models.ForeignKey(Pipeline, on_delete=models.CASCADE, related_name="failed_steps")
    # Null for the entry of a pipeline without a dataset node.
    from_node = models.ForeignKey(Node, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    to_node = models.ForeignKey(Node, on_delete=models.CASCADE, related_name="failed_steps")
    status = models.CharField(max_length=50, blank=True)
    # The last item that failed to move (routing by status moves one item at a time).
    item = models.ForeignKey("datasets.Item", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    error = models.TextField()
    # The database was busy or unreachable after the automatic retries, as opposed to a rule.
    transient = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=1)
    first_failed_at = models.DateTimeField(default=timezone.now)
    last_failed_at = models.DateTimeField(default=timezone.now)
    job_id = models.CharField(max_length=64, blank=True)
    # Not stored: the editor's read (`queries.failed_steps`) sets how many items the step holds up now.
    waiting: int
    waiting_capped: bool

    class Meta:
        ordering = ["-last_failed_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["pipeline", "from_node", "to_node", "status"], name="failed_step_once"),
        ]

    def __str__(self):
        return f"{self.from_node_id} → {self.to_node_id} ({self.status or 'entry'}): {self.error[:60]}"
