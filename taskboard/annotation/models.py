"""Tasks, their assignments and the rows that say who holds which item.

Counters (`Assignment.item_count`, `StatusCount`) are changed in the same transaction
as the rows they count, so progress pages never count task items.
"""

from collections import defaultdict
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from taskboard.projects.access import AssignmentQuerySet, TaskQuerySet

if TYPE_CHECKING:
    from taskboard.annotation.progress import Progress


class TaskType(models.TextChoices):
    ANNOTATION = "annotation", "Annotation"
    QA = "qa", "QA"


class Allocation(models.TextChoices):
    DISTRIBUTION = "distribution", "Distribution"
    PULLING = "pulling", "Pulling"


class TaskState(models.TextChoices):
    OPEN = "open", "Open"
    COMPLETED = "completed", "Completed"
    COMPLETED_WITH_ISSUES = "completed with issues", "Completed with issues"


class SkipTo(models.TextChoices):
    # Distributed tasks have no queue: "back" gives the item to someone else there.
    BACK = "back", "Back to the queue (pulling) or to someone else (distributed)"
    OTHER = "other", "To someone else"
    MANAGER = "manager", "To the task's owner"


class Priority(models.IntegerChoices):
    LOW = 1, "Low"
    MEDIUM = 2, "Medium"
    HIGH = 3, "High"


BATCH_SIZE_MIN = 3
# An item's priority within its task (higher first); tasks have their own (Priority).
ITEM_PRIORITY_MIN = 0
ITEM_PRIORITY_MAX = 100
ITEM_PRIORITY_DEFAULT = 50
# A pulled batch is held this long unless its holder keeps working (docs/tasks.md, Leases).
LEASE_SECONDS_DEFAULT = 60 * 60
LEASE_SECONDS_MAX = 7 * 24 * 60 * 60
BATCH_SIZE_MAX = 100
DEFAULT_ANNOTATION_STATUSES = [
    # key, label, colour, counts as done
    ("completed", "Completed", "#2e7d32", True),
    ("discard", "Discard", "#757575", True),
]
DEFAULT_QA_STATUSES = [
    ("approved", "Approved", "#2e7d32", True),
    ("discard", "Discard", "#757575", True),
]


class AnnotationTask(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="tasks")
    dataset = models.ForeignKey("datasets.Dataset", on_delete=models.CASCADE, related_name="tasks")
    # RESTRICT, not PROTECT: a recipe in use cannot be deleted, but its dataset (and tasks) can.
    recipe = models.ForeignKey("datasets.Recipe", on_delete=models.RESTRICT, related_name="tasks")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    type = models.CharField(max_length=20, choices=TaskType.choices, default=TaskType.ANNOTATION)
    parent = models.ForeignKey("self", on_delete=models.CASCADE, null=True, blank=True, related_name="qa_tasks")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_tasks")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    due_at = models.DateTimeField()
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.MEDIUM)
    allocation = models.CharField(max_length=20, choices=Allocation.choices, default=Allocation.DISTRIBUTION)
    batch_size = models.PositiveSmallIntegerField(null=True, blank=True)
    max_batch_workload = models.PositiveSmallIntegerField(null=True, blank=True)
    # Pulling: how long a claimed batch stays with its holder without them working on it.
    lease_seconds = models.PositiveIntegerField(default=LEASE_SECONDS_DEFAULT)
    # Skip policy: may a holder skip an item, must they say why, and where does it go.
    skip_allowed = models.BooleanField(default=True)
    skip_reason_required = models.BooleanField(default=False)
    skip_to = models.CharField(max_length=20, choices=SkipTo.choices, default=SkipTo.BACK)
    consensus_percentage = models.PositiveSmallIntegerField(null=True, blank=True)
    consensus_assignees = models.PositiveSmallIntegerField(null=True, blank=True)
    consensus_seed = models.BigIntegerField(null=True, blank=True)
    # The selection as the user gave it: a wizard selection or a DQL query (API).
    selection = models.JSONField(default=dict, blank=True)
    query = models.JSONField(null=True, blank=True)
    qa_intake = models.BooleanField(
        default=True, help_text="QA tasks: take in parent items as they get a status later."
    )
    lock_after_due = models.BooleanField(default=False)
    state = models.CharField(max_length=30, choices=TaskState.choices, default=TaskState.OPEN)
    closed_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=64, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TaskQuerySet.as_manager()
    # Not stored: the project page puts each task's progress and the dashboards' forecast beside it.
    progress: "Progress"
    forecast: object

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="task_name_unique_in_project"),
            models.UniqueConstraint(
                fields=["project", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="task_idempotency_key_unique",
            ),
            models.CheckConstraint(condition=Q(priority__gte=1, priority__lte=3), name="task_priority_1_to_3"),
            models.CheckConstraint(condition=Q(type__in=TaskType.values), name="task_type_valid"),
            models.CheckConstraint(
                condition=Q(lease_seconds__gte=1, lease_seconds__lte=LEASE_SECONDS_MAX),
                name="task_lease_seconds_range",
            ),
            models.CheckConstraint(condition=Q(state__in=TaskState.values), name="task_state_valid"),
            models.CheckConstraint(
                condition=Q(
                    allocation=Allocation.DISTRIBUTION, batch_size__isnull=True, max_batch_workload__isnull=True
                )
                | Q(
                    allocation=Allocation.PULLING,
                    batch_size__gte=BATCH_SIZE_MIN,
                    batch_size__lte=BATCH_SIZE_MAX,
                    max_batch_workload__gte=F("batch_size") + 2,
                    max_batch_workload__lte=F("batch_size") * 2,
                ),
                name="task_pulling_limits",
            ),
            models.CheckConstraint(
                condition=Q(consensus_percentage__isnull=True, consensus_assignees__isnull=True)
                | Q(
                    allocation=Allocation.DISTRIBUTION,
                    consensus_percentage__gte=0,
                    consensus_percentage__lte=100,
                    consensus_assignees__gte=2,
                ),
                name="task_consensus_limits",
            ),
            models.CheckConstraint(
                condition=Q(type=TaskType.ANNOTATION) | Q(parent__isnull=False), name="task_qa_has_parent"
            ),
        ]
        indexes = [models.Index(fields=["project", "state", "due_at"], name="task_project_state_due")]

    def __str__(self):
        return self.name

    @property
    def is_pulling(self) -> bool:
        return self.allocation == Allocation.PULLING

    @property
    def discussion_task_id(self) -> int:
        """Where this task's items are talked about: a QA task's items in its annotation task, so the
        annotator and the reviewer read one thread."""
        return self.parent_id if self.type == TaskType.QA and self.parent_id else self.pk

    @property
    def is_consensus(self) -> bool:
        return self.consensus_assignees is not None

    @property
    def is_open(self) -> bool:
        return self.state == TaskState.OPEN and self.closed_at is None

    @property
    def is_closed(self) -> bool:
        """Closed by a manager: it takes no items, moves and statuses any more. A completed task
        is not closed: adding items or a cleared status reopens it."""
        return self.closed_at is not None

    @property
    def is_overdue(self) -> bool:
        return self.is_open and self.due_at < timezone.now()

    @property
    def accepts_work(self) -> bool:
        """Statuses may be set: the task is not closed nor locked past its due date.

        A completed task still accepts work: a cleared status (or a QA rejection) reopens it.
        """
        return self.closed_at is None and not (self.lock_after_due and self.due_at < timezone.now())


class TaskStatus(models.Model):
    """A status an item can have in a task: the defaults or the task's own."""

    task = models.ForeignKey(AnnotationTask, on_delete=models.CASCADE, related_name="statuses")
    key = models.CharField(max_length=50)
    label = models.CharField(max_length=100)
    color = models.CharField(max_length=7, default="#607d8b")
    is_done = models.BooleanField(default=True, help_text="An item with this status counts as done.")
    position = models.PositiveSmallIntegerField(default=0)
    # Not stored: the work page sets the key that picks this status.
    shortcut: str

    class Meta:
        ordering = ["task", "position", "key"]
        verbose_name_plural = "task statuses"
        constraints = [
            models.UniqueConstraint(fields=["task", "key"], name="task_status_key_unique"),
            models.CheckConstraint(condition=~Q(key=""), name="task_status_key_not_empty"),
        ]

    def __str__(self):
        return self.label


class AssignmentKind(models.TextChoices):
    WORK = "work", "Work"
    # Hidden pools: the pulling queue and the originals of consensus items.
    QUEUE = "queue", "Pulling queue"
    CONSENSUS = "consensus", "Consensus originals"


class Assignment(models.Model):
    task = models.ForeignKey(AnnotationTask, on_delete=models.CASCADE, related_name="assignments")
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="assignments"
    )
    kind = models.CharField(max_length=20, choices=AssignmentKind.choices, default=AssignmentKind.WORK)
    # Kept, zeroed, for analytics when its person leaves the task (Dataloop's markForDeletion).
    removed = models.BooleanField(default=False)
    # A pulling queue's item_count is what was put in it; a work assignment's claimed_count is what
    # it took out of the queue. Claims write only the claimer's row: one row every claimer updated
    # (the queue's) would serialise them all. See HELD_ITEMS and settle_queue.
    item_count = models.PositiveIntegerField(default=0)
    claimed_count = models.PositiveIntegerField(default=0)
    rework_count = models.PositiveIntegerField(default=0)
    issue_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AssignmentQuerySet.as_manager()

    class Meta:
        ordering = ["task", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "assignee"], condition=Q(assignee__isnull=False), name="assignment_one_per_person"
            ),
            models.UniqueConstraint(
                fields=["task", "kind"], condition=~Q(kind=AssignmentKind.WORK), name="assignment_one_pool_per_kind"
            ),
            models.CheckConstraint(
                condition=Q(kind=AssignmentKind.WORK, assignee__isnull=False)
                | (~Q(kind=AssignmentKind.WORK) & Q(assignee__isnull=True)),
                name="assignment_work_has_assignee",
            ),
        ]
        indexes = [models.Index(fields=["assignee", "task"], name="assignment_assignee_task")]

    def __str__(self):
        who = self.assignee.email if self.assignee is not None else self.get_kind_display()
        return f"{self.task} · {who}"

    @property
    def is_hidden(self) -> bool:
        return self.kind != AssignmentKind.WORK


# Summed over a task's assignments, the task's items: the queue's intake less what was claimed
# from it, plus what each work assignment holds.
HELD_ITEMS = F("item_count") - F("claimed_count")


def settle_queue(assignments):
    """Set each pulling queue's item_count in `assignments` (in memory) to the items still queued:
    its intake less the claimed_count of its task's work assignments in the same list, which must
    hold all of them. Returns the list."""
    claimed: defaultdict[int, int] = defaultdict(int)
    for a in assignments:
        if a.kind == AssignmentKind.WORK:
            claimed[a.task_id] += a.claimed_count
    for a in assignments:
        if a.kind == AssignmentKind.QUEUE and not getattr(a, "queue_settled", False):
            a.item_count -= claimed[a.task_id]
            a.queue_settled = True
    return assignments


class StatusCount(models.Model):
    """How many of an assignment's items have a status; kept with every change."""

    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="status_counts")
    status = models.CharField(max_length=50)
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["assignment", "status"], name="status_count_unique"),
        ]

    def __str__(self):
        return f"{self.assignment_id} {self.status}={self.count}"


class TaskItem(models.Model):
    """One item in one task (one row per consensus copy), with who holds it and its status."""

    # No per-row FK triggers here: at a million rows they cost more than the insert itself.
    # Integrity is enforced set-based by statement-level triggers (see the migrations).
    # Indexed through task_item_unique_copy (task first); a separate index would only slow inserts.
    task = models.ForeignKey(
        AnnotationTask, on_delete=models.CASCADE, related_name="task_items", db_constraint=False, db_index=False
    )
    item = models.ForeignKey("datasets.Item", on_delete=models.CASCADE, related_name="task_items", db_constraint=False)
    # Indexed through task_item_assignment_rank.
    assignment = models.ForeignKey(
        Assignment, on_delete=models.CASCADE, related_name="task_items", db_constraint=False, db_index=False
    )
    copy = models.PositiveSmallIntegerField(default=0)
    # Position in the task's (dir, name, id) order: contiguous runs and next/previous.
    rank = models.BigIntegerField(default=0)
    # Higher first: pulls and an annotator's next item follow (priority, rank). A database default,
    # since task items are written by INSERT … SELECT.
    priority = models.PositiveSmallIntegerField(default=ITEM_PRIORITY_DEFAULT, db_default=ITEM_PRIORITY_DEFAULT)
    in_queue = models.BooleanField(default=False)
    status = models.CharField(max_length=50, null=True, blank=True)
    status_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        # A partial index below: most rows have no status, and indexing NULLs costs every insert.
        db_index=False,
    )
    status_at = models.DateTimeField(null=True, blank=True)
    # Annotation task: sent back by QA. QA task: waiting for that rework.
    rework = models.BooleanField(default=False)
    comment = models.TextField(blank=True)
    # Pulling: the claim (lease) that brought the item to its holder, while the lease runs.
    # No FK trigger (as above); a lease ends before its rows forget it.
    lease = models.ForeignKey(
        "Lease",
        on_delete=models.DO_NOTHING,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["task", "item", "copy"], name="task_item_unique_copy"),
            # Consensus copies of one item go to different people.
            models.UniqueConstraint(
                fields=["assignment", "item"], condition=Q(copy__gt=0), name="task_item_copies_distinct_people"
            ),
            models.CheckConstraint(
                condition=Q(status__isnull=True) | ~Q(status=""), name="task_item_status_null_or_named"
            ),
            models.CheckConstraint(
                condition=Q(priority__gte=ITEM_PRIORITY_MIN, priority__lte=ITEM_PRIORITY_MAX),
                name="task_item_priority_range",
            ),
        ]
        indexes = [
            models.Index(fields=["assignment", "rank"], name="task_item_assignment_rank"),
            # Pulling claims walk only the queued rows of a task, highest priority first.
            models.Index(
                fields=["task", "-priority", "rank"], condition=Q(in_queue=True), name="task_item_queue_priority"
            ),
            models.Index(fields=["status_by"], condition=Q(status_by__isnull=False), name="task_item_status_by"),
            models.Index(fields=["lease"], condition=Q(lease__isnull=False), name="task_item_lease"),
        ]

    def __str__(self):
        return f"task {self.task_id} item {self.item_id} copy {self.copy}"


class StatusAction(models.TextChoices):
    CREATE = "create", "Set"
    DELETE = "delete", "Cleared"


class StatusLog(models.Model):
    """One status set or cleared on a task item, kept as history: Dataloop's
    `metadata.system.taskStatusLog` on the item. Appended by the status write itself
    (`annotation.statuses`), in its transaction; never changed afterwards."""

    task = models.ForeignKey(AnnotationTask, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    item = models.ForeignKey(
        "datasets.Item", on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    # The assignment that held the item then (a reassign may since have moved it or removed the assignment).
    assignment_pk = models.PositiveBigIntegerField()
    copy = models.PositiveSmallIntegerField(default=0)
    status = models.CharField(max_length=50)
    action = models.CharField(max_length=10, choices=StatusAction.choices)
    # Who set or cleared it, as they were known then.
    creator = models.CharField(max_length=254)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["item", "at"], name="status_log_item_at")]

    def __str__(self):
        return f"{self.action} {self.status} on item {self.item_id} in task {self.task_id}"


class WorkloadEntry(models.Model):
    """A person's share of a task's items (distribution) or their place in a pulling task."""

    task = models.ForeignKey(AnnotationTask, on_delete=models.CASCADE, related_name="workload")
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    load = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["task", "id"]
        verbose_name_plural = "workload entries"
        constraints = [
            models.UniqueConstraint(fields=["task", "assignee"], name="workload_one_per_person"),
            models.CheckConstraint(condition=Q(load__gte=1, load__lte=100), name="workload_load_1_to_100"),
        ]

    def __str__(self):
        return f"{self.assignee} {self.load}%"


class ChangeKind(models.TextChoices):
    CREATE = "create", "Task created"
    ADD = "add", "Items added"
    REMOVE = "remove", "Items removed"
    REASSIGN = "reassign", "Reassigned"
    REDISTRIBUTE = "redistribute", "Redistributed"
    CLAIM = "claim", "Pulled from queue"
    REWORK = "rework", "Sent back for rework"
    RETURN = "return", "Returned to review"
    EXPIRE = "expire", "Lease expired, back to queue"
    RELEASE = "release", "Released to queue"
    SKIP = "skip", "Skipped"
    STUCK = "stuck", "Stuck, handed on"
    UNDO = "undo", "Undone"


class HoldingChange(models.Model):
    """A record of a change to who holds what.

    Bulk creation and additions are recorded once per assignment (with a count);
    moves of existing items (reassign, redistribute, claim, rework) once per item.
    """

    # No per-row FK constraints: deferred to commit, their checks cost more than a big move itself.
    # A statement-level trigger checks every inserted row in one join (see the migrations).
    # Indexed through change_task_at and change_item_at (task and item first).
    task = models.ForeignKey(
        AnnotationTask, on_delete=models.CASCADE, related_name="changes", db_constraint=False, db_index=False
    )
    item = models.ForeignKey(
        "datasets.Item",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="holding_changes",
        db_constraint=False,
        db_index=False,
    )
    kind = models.CharField(max_length=20, choices=ChangeKind.choices)
    from_assignment = models.ForeignKey(
        Assignment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_constraint=False
    )
    to_assignment = models.ForeignKey(
        Assignment, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_constraint=False
    )
    count = models.PositiveIntegerField(default=1)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    at = models.DateTimeField(default=timezone.now)
    note = models.TextField(blank=True)
    # The bulk operation (reassign, redistribute, hand-off) this move was part of: undone together.
    operation = models.ForeignKey(
        "BulkOperation",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="changes",
        db_constraint=False,
        db_index=False,
    )

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["task", "at"], name="change_task_at"),
            models.Index(fields=["item", "at"], name="change_item_at"),
            models.Index(fields=["operation"], condition=Q(operation__isnull=False), name="change_operation"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.count})"


class Pause(models.Model):
    """A person paused in one task, or (no task) in every task of a project: they pull nothing there
    and get no new work handed to them, until resumed. What they hold stays theirs; with `stops_work`
    they also set no status on it until resumed."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="pauses")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="pauses")
    task = models.ForeignKey(AnnotationTask, on_delete=models.CASCADE, null=True, blank=True, related_name="pauses")
    reason = models.TextField(blank=True)
    # A quality rule's pause: a person whose answers fall below the mark would otherwise go on
    # spoiling the items already handed to them, which in a distributed task is all of them.
    stops_work = models.BooleanField(
        default=False, help_text="They also set no status on the items they hold, until resumed."
    )
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "task"], condition=Q(task__isnull=False), name="pause_once_per_task"
            ),
            models.UniqueConstraint(
                fields=["user", "project"], condition=Q(task__isnull=True), name="pause_once_per_project"
            ),
        ]
        indexes = [models.Index(fields=["user", "project"], name="pause_user_project")]

    def __str__(self) -> str:
        where = f"task {self.task_id}" if self.task_id else f"project {self.project_id}"
        return f"{self.user_id} paused in {where}"


class LeaseEnd(models.TextChoices):
    EXPIRED = "expired", "Expired"
    RELEASED = "released", "Released by a manager"


class Lease(models.Model):
    """A pulled batch: held by its holder until `expires_at`, which moves on while they work.

    When it expires (or a manager releases it) the items of the batch that have no status go back
    to the queue; the ones with a status stay with the person who did them."""

    task = models.ForeignKey(AnnotationTask, on_delete=models.CASCADE, related_name="leases")
    assignment = models.ForeignKey(Assignment, on_delete=models.CASCADE, related_name="leases")
    holder = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="leases")
    items = models.PositiveIntegerField(default=0, help_text="Items the batch brought.")
    returned = models.PositiveIntegerField(default=0, help_text="Items that went back to the queue when it ended.")
    claimed_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    end = models.CharField(max_length=20, choices=LeaseEnd.choices, blank=True)

    class Meta:
        ordering = ["expires_at", "id"]
        indexes = [
            # The sweep and the claim's expiry walk only running leases.
            models.Index(fields=["task", "expires_at"], condition=Q(ended_at__isnull=True), name="lease_running"),
            models.Index(fields=["expires_at"], condition=Q(ended_at__isnull=True), name="lease_running_all"),
            models.Index(fields=["assignment"], condition=Q(ended_at__isnull=True), name="lease_running_holder"),
        ]

    def __str__(self) -> str:
        return f"lease {self.pk} of {self.holder_id} in task {self.task_id}"

    @property
    def is_running(self) -> bool:
        return self.ended_at is None


class Cap(models.Model):
    """The most items one person may hold in one task: a count, or a share of the task's items.
    Pulls stop at it; moves (reassign, redistribute, hand-offs) refuse to pass it."""

    task = models.ForeignKey(AnnotationTask, on_delete=models.CASCADE, related_name="caps")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="caps")
    max_items = models.PositiveIntegerField(null=True, blank=True)
    max_share = models.PositiveSmallIntegerField(null=True, blank=True, help_text="Percent of the task's items.")
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["task", "user"]
        constraints = [
            models.UniqueConstraint(fields=["task", "user"], name="cap_once_per_person"),
            models.CheckConstraint(
                condition=Q(max_items__isnull=False, max_share__isnull=True)
                | Q(max_items__isnull=True, max_share__gte=1, max_share__lte=100),
                name="cap_count_or_share",
            ),
        ]

    def __str__(self) -> str:
        limit = f"{self.max_items} items" if self.max_items is not None else f"{self.max_share}%"
        return f"{self.user_id} capped at {limit} in task {self.task_id}"


class OperationKind(models.TextChoices):
    REASSIGN = "reassign", "Reassign"
    REDISTRIBUTE = "redistribute", "Redistribute"
    HAND_OFF = "hand_off", "Hand-off"
    PRIORITY = "priority", "Bulk priority"
    STATUS = "status", "Bulk status"


class BulkOperation(models.Model):
    """One manager's bulk change, recorded so it can be undone as one operation while the items it
    touched have not moved (or changed) since. Moves are its change records (HoldingChange.operation);
    a bulk priority keeps each row's value before (OperationRow)."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="operations")
    task = models.ForeignKey(
        AnnotationTask, on_delete=models.CASCADE, null=True, blank=True, related_name="operations"
    )
    kind = models.CharField(max_length=20, choices=OperationKind.choices)
    summary = models.CharField(max_length=300, blank=True)
    count = models.PositiveIntegerField(default=0, help_text="Task item rows it changed.")
    # What a row-level record cannot say: the workload before a reassign, the value a priority set.
    data = models.JSONField(default=dict, blank=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    undone_at = models.DateTimeField(null=True, blank=True)
    undone_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "created_at"], name="operation_project_at")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.count})"

    @property
    def is_undone(self) -> bool:
        return self.undone_at is not None


class OperationRow(models.Model):
    """A task item row a bulk priority or a bulk status changed, with its values before."""

    # No FK triggers: written a million at a time by INSERT … SELECT.
    operation = models.ForeignKey(
        BulkOperation, on_delete=models.CASCADE, related_name="rows", db_constraint=False, db_index=False
    )
    task_item_id = models.BigIntegerField()
    before_priority = models.PositiveSmallIntegerField()
    # A bulk status: the row's status, who set it and when, before (all null: it had none).
    before_status = models.CharField(max_length=50, null=True, blank=True)
    before_status_by_id = models.BigIntegerField(null=True, blank=True)
    before_status_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["operation", "task_item_id"], name="operation_row")]

    def __str__(self) -> str:
        return f"{self.operation_id}: row {self.task_item_id} was {self.before_priority}"


class Skip(models.Model):
    """A holder skipped an item: why, and where the task's rule sent it."""

    task = models.ForeignKey(AnnotationTask, on_delete=models.CASCADE, related_name="skips")
    item = models.ForeignKey("datasets.Item", on_delete=models.CASCADE, related_name="+")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    reason = models.TextField(blank=True)
    went_to = models.CharField(max_length=200, help_text="The queue, or who holds it now.")
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["task", "at"], name="skip_task_at")]

    def __str__(self) -> str:
        return f"{self.by_id} skipped {self.item_id} in {self.task_id}"


class Pick(models.Model):
    """Items picked for one bulk action, where listing their ids would not do: the admin's "select
    all" over many task items. Its rows are written by one INSERT … SELECT (`picks.items_pick`) and a
    selection names it (`Selection(mode="picked")`); picks older than a day are swept."""

    dataset = models.ForeignKey("datasets.Dataset", on_delete=models.CASCADE, related_name="+")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    def __str__(self) -> str:
        return f"{self.count} items picked"


class PickedItem(models.Model):
    pick = models.ForeignKey(Pick, on_delete=models.CASCADE, related_name="+")
    item = models.ForeignKey("datasets.Item", on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["pick", "item"], name="picked_item_once")]

    def __str__(self) -> str:
        return f"item {self.item_id} of pick {self.pick_id}"
