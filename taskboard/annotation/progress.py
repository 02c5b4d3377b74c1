"""How far tasks and assignments have got: the one read model of progress.

Everything is read from the counters the services keep in the same transaction as each change
(`Assignment.item_count`/`claimed_count`/`rework_count`/`issue_count` and `StatusCount`), never by
counting task items, so a page costs the same at ten items and at ten million. The task page, the
dashboards, pipeline node counts, the API, my work and the admin all read `Progress` from here.

The rules (docs/progress.md):
- A task's items are those its work assignments hold plus those still waiting in its pulling
  queue (the queue's intake less what was claimed from it). Consensus originals are bookkeeping:
  a consensus task's items are its copies.
- An item is done when its status counts as done in its task; "to do" is an item with no status.
- Issues and rework are the two sides of the QA loop: on an annotation task, a person's open issues
  are their items out for rework and the task's are what its QA tasks hold open; on a QA task, a
  reviewer's issues are the rejections still waiting for their rework.
- An assignment whose person was taken off the task is shown while it still holds items.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import OuterRef, QuerySet, Subquery, Sum
from django.db.models.base import ModelState
from django.db.models.functions import Coalesce
from django.db.models.signals import post_init, pre_init

from taskboard.annotation.models import AnnotationTask, Assignment, AssignmentKind, StatusCount, TaskStatus, TaskType
from taskboard.sql import Compiled

# The assignments whose items make up a task: work assignments and the pulling queue.
COUNTED_KINDS = (AssignmentKind.WORK, AssignmentKind.QUEUE)
DISCARD = "discard"


@dataclass(frozen=True)
class Progress:
    """Progress of one task or one assignment.

    A task's `rows` hold its assignments' progress (each with its `assignment`), and its `statuses`
    every status of the task with how many items have it."""

    total: int = 0
    done: int = 0
    by_status: Mapping[str, int] = field(default_factory=dict)
    issues: int = 0
    rework: int = 0
    assignment: Assignment | None = None
    rows: tuple[Progress, ...] = ()
    statuses: tuple[tuple[TaskStatus, int], ...] = ()

    @property
    def with_status(self) -> int:
        return sum(self.by_status.values())

    @property
    def todo(self) -> int:
        """Items with no status yet."""
        return max(self.total - self.with_status, 0)

    @property
    def in_work(self) -> int:
        """Items with a status that does not count as done."""
        return max(self.with_status - self.done, 0)

    @property
    def remaining(self) -> int:
        return max(self.total - self.done, 0)

    @property
    def discarded(self) -> int:
        return self.by_status.get(DISCARD, 0)

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def is_finished(self) -> bool:
        return bool(self.total) and self.done >= self.total

    @property
    def task(self) -> AnnotationTask | None:
        """An assignment's task."""
        return self.assignment.task if self.assignment is not None else None

    def row_of(self, assignment_id: int) -> Progress | None:
        """A task's row for one of its assignments (None when it is not shown)."""
        return next(
            (row for row in self.rows if row.assignment is not None and row.assignment.pk == assignment_id), None
        )

    @property
    def queued(self) -> int:
        """A pulling task's items still waiting in its queue."""
        return sum(
            row.total
            for row in self.rows
            if row.assignment is not None and row.assignment.kind == AssignmentKind.QUEUE
        )

    @property
    def label(self) -> str:
        """Who a row is: the assignee's email, or the hidden pool's name."""
        a = self.assignment
        if a is None:
            return ""
        return a.assignee.email if a.assignee is not None else a.get_kind_display()


@dataclass
class _Counts:
    """One assignment's counters as read, before they become a Progress."""

    assignment: Assignment
    by_status: dict[str, int] = field(default_factory=dict)


def _done_keys(task_ids: Iterable[int]) -> dict[int, set[str]]:
    keys: dict[int, set[str]] = defaultdict(set)
    for task_id, key in (
        TaskStatus.objects.filter(task_id__in=task_ids, is_done=True).order_by().values_list("task_id", "key")
    ):
        keys[task_id].add(key)
    return keys


# An assignment's fields the progress read builds it from, in the order its rows hold them.
_ASSIGNMENT_FIELDS = (
    "id",
    "task_id",
    "kind",
    "removed",
    "item_count",
    "claimed_count",
    "rework_count",
    "issue_count",
    "created_at",
    "assignee_id",
)


def _counted_rows(*task_ids: int) -> QuerySet[Assignment, tuple[Any, ...]]:
    return (
        Assignment.objects.filter(task_id__in=task_ids, kind__in=COUNTED_KINDS)
        .order_by("task_id", "-kind", "id")
        .values_list(
            *_ASSIGNMENT_FIELDS,
            "assignee__email",
            "status_counts__status",
            "status_counts__count",
        )
    )


# One task's: every work page and progress poll reads them, compiled once per process.
_COUNTED_OF_ONE = Compiled(lambda task_id: _counted_rows(task_id))


class _Instances:
    """Builds a model's instances from values read, every other field at its default as keyword
    arguments would set it, without Model.__init__ when nothing listens to its signals (the values
    go where __init__ would put them). The keyword path looks each field up and computes its default
    per instance: a task's progress builds two instances per assignment, and that was a fifth of a
    work page's CPU (issue 22)."""

    def __init__(self, model: Any, *attnames: str):
        fields = model._meta.concrete_fields
        self.model = model
        self.attnames = attnames
        self.positions = [next(i for i, f in enumerate(fields) if f.attname == name) for name in attnames]
        self.defaults = [f.get_default() for f in fields]  # once per read: created_at's now, say
        self.default_values = {f.attname: value for f, value in zip(fields, self.defaults, strict=True)}
        # A shared default must not be one an instance could change in place (a JSON field's dict).
        self.direct = not (pre_init.has_listeners(model) or post_init.has_listeners(model)) and all(
            value is None or isinstance(value, (bool, int, float, str, datetime)) for value in self.defaults
        )

    def __call__(self, *values: Any) -> Any:
        if self.direct:
            obj = self.model.__new__(self.model)
            obj.__dict__.update(self.default_values)
            obj.__dict__.update(zip(self.attnames, values, strict=True))
            obj._state = ModelState()
            return obj
        args = self.defaults.copy()
        for position, value in zip(self.positions, values, strict=True):
            args[position] = value
        return self.model(*args)


def _counted_assignments(tasks: Mapping[int, AnnotationTask]) -> dict[int, list[_Counts]]:
    """{task id: its counted assignments with their status counts}, in one query; a pulling queue's
    item_count is settled to what is still queued (its intake less the claims)."""
    rows = _COUNTED_OF_ONE.rows(*tasks) if len(tasks) == 1 else _counted_rows(*tasks)
    new_user = _Instances(get_user_model(), "id", "email")
    new_assignment = _Instances(Assignment, *_ASSIGNMENT_FIELDS)
    by_id: dict[int, _Counts] = {}
    for pk, task_id, kind, removed, items, claimed, rework, issues, created, user_id, email, status, n in rows:
        counts = by_id.get(pk)
        if counts is None:
            assignment = new_assignment(pk, task_id, kind, removed, items, claimed, rework, issues, created, user_id)
            assignment.assignee = new_user(user_id, email) if user_id else None
            assignment.task = tasks[task_id]
            counts = by_id[pk] = _Counts(assignment)
        if status is not None:
            counts.by_status[status] = n
    per_task: dict[int, list[_Counts]] = defaultdict(list)
    claimed_from_queue: dict[int, int] = defaultdict(int)
    for counts in by_id.values():
        a = counts.assignment
        per_task[a.task_id].append(counts)
        if a.kind == AssignmentKind.WORK:
            claimed_from_queue[a.task_id] += a.claimed_count
    for counts in by_id.values():
        a = counts.assignment
        if a.kind == AssignmentKind.QUEUE:
            a.item_count -= claimed_from_queue[a.task_id]
    return per_task


def _qa_issue_totals(**parent: Any) -> Any:
    """Open issues of QA tasks per parent task, `n` each; `parent` narrows the parents."""
    return (
        Assignment.objects.filter(task__type=TaskType.QA, **parent)
        .order_by()
        .values("task__parent_id")
        .annotate(n=Sum("issue_count"))
    )


def _qa_open_issues(annotation_task_ids: list[int]) -> dict[int, int]:
    """Open issues the QA tasks of these annotation tasks raised: their reviewers' issue counters."""
    if not annotation_task_ids:
        return {}
    rows = _qa_issue_totals(task__parent_id__in=annotation_task_ids).values_list("task__parent_id", "n")
    return {parent_id: n for parent_id, n in rows if parent_id is not None}


def _assignment_progress(counts: _Counts, done_keys: set[str], *, is_qa: bool) -> Progress:
    a = counts.assignment
    # On either side of the QA loop a person's open issues are the items out for rework they hold.
    loop = a.issue_count if is_qa else a.rework_count
    return Progress(
        total=a.item_count,
        done=sum(n for key, n in counts.by_status.items() if key in done_keys),
        by_status=dict(counts.by_status),
        issues=loop,
        rework=loop,
        assignment=a,
    )


def _task_progress(
    task: AnnotationTask,
    assignments: list[_Counts],
    done_keys: set[str],
    qa_issues: int,
    statuses: list[TaskStatus] | None = None,
) -> Progress:
    is_qa = task.type == TaskType.QA
    rows = [_assignment_progress(c, done_keys, is_qa=is_qa) for c in assignments]
    by_status: dict[str, int] = defaultdict(int)
    for row in rows:
        for key, n in row.by_status.items():
            by_status[key] += n
    rework = sum(row.rework for row in rows)
    return Progress(
        total=sum(row.total for row in rows),
        done=sum(row.done for row in rows),
        by_status=dict(by_status),
        issues=rework if is_qa else qa_issues,
        rework=rework,
        rows=tuple(
            row for row in rows if not (row.assignment is not None and row.assignment.removed and not row.total)
        ),
        statuses=tuple((s, by_status.get(s.key, 0)) for s in statuses) if statuses is not None else (),
    )


def tasks_progress(tasks: Iterable[AnnotationTask]) -> dict[int, Progress]:
    """{task id: Progress} for many tasks in three queries, whatever their number and size."""
    by_id = {task.pk: task for task in tasks}
    if not by_id:
        return {}
    done_keys = _done_keys(by_id)
    assignments = _counted_assignments(by_id)
    qa_issues = _qa_open_issues([pk for pk, t in by_id.items() if t.type == TaskType.ANNOTATION])
    return {
        pk: _task_progress(task, assignments.get(pk, []), done_keys.get(pk, set()), qa_issues.get(pk) or 0)
        for pk, task in by_id.items()
    }


def _statuses_query(task_id: int, *, qa_issues: bool) -> QuerySet[TaskStatus]:
    statuses = TaskStatus.objects.filter(task_id=task_id).order_by("position", "key")
    if qa_issues:
        issues = _qa_issue_totals(task__parent_id=OuterRef("task_id")).values("n")[:1]
        statuses = statuses.annotate(qa_issues=Coalesce(Subquery(issues), 0))
    return statuses


_STATUSES = Compiled(lambda task_id: _statuses_query(task_id, qa_issues=False))
_STATUSES_WITH_QA_ISSUES = Compiled(lambda task_id: _statuses_query(task_id, qa_issues=True))


def task_progress(task: AnnotationTask) -> Progress:
    """One task's progress with a row per assignment and a count per status, in two queries: the
    statuses (read with the open issues of the task's QA tasks) and the counted assignments."""
    read = _STATUSES_WITH_QA_ISSUES if task.type == TaskType.ANNOTATION else _STATUSES
    statuses: list[TaskStatus] = read.rows(task.pk)
    done_keys = {s.key for s in statuses if s.is_done}
    assignments = _counted_assignments({task.pk: task}).get(task.pk, [])
    qa_issues = getattr(statuses[0], "qa_issues", 0) if statuses else 0
    return _task_progress(task, assignments, done_keys, qa_issues, statuses)


def assignments_progress(assignments: Iterable[Assignment]) -> dict[int, Progress]:
    """{assignment id: Progress} for these assignments (their `task` loaded), in two queries."""
    assignments = list(assignments)
    if not assignments:
        return {}
    done_keys = _done_keys({a.task_id for a in assignments})
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for assignment_id, status, n in (
        StatusCount.objects.filter(assignment__in=[a.pk for a in assignments])
        .order_by()
        .values_list("assignment_id", "status", "count")
    ):
        counts[assignment_id][status] = n
    return {
        a.pk: _assignment_progress(
            _Counts(a, counts.get(a.pk, {})), done_keys.get(a.task_id, set()), is_qa=a.task.type == TaskType.QA
        )
        for a in assignments
    }


def assignment_progress(assignment: Assignment) -> Progress:
    return assignments_progress([assignment])[assignment.pk]
