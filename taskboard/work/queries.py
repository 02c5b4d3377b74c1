"""Permission-scoped reads for the work pages, and the figures dashboards take from work."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation.models import AnnotationTask, Assignment, AssignmentKind, HoldingChange, TaskItem, TaskType
from taskboard.annotation.people import paused_exists, tasks_stopped_in
from taskboard.annotation.progress import Progress, assignments_progress
from taskboard.datasets.models import Annotation, Item, Label
from taskboard.inputs import parse_pk
from taskboard.projects.access import anyone_with_id, is_person
from taskboard.quality import qualification
from taskboard.quality import reads as quality_reads
from taskboard.sql import Compiled

# The user's own live work: managers see others' assignments too, but "my work" is one's own. Compiled
# once per process: the policy's subqueries cost more to build than to run (issue 22).
_MY_ASSIGNMENTS: Compiled[Assignment] = Compiled(
    lambda user_id: (
        Assignment.objects.visible_to(anyone_with_id(user_id))
        .filter(assignee_id=user_id, removed=False)
        .select_related("task", "task__project", "task__parent")
    )
)


def my_work(*, user: User) -> list[Progress]:
    """The user's assignments across projects, the most urgent first:
    unfinished before finished, overdue first, then the nearest due date, then the highest priority."""
    assignments = _MY_ASSIGNMENTS.rows(user.pk) if is_person(user) else []
    rows = list(assignments_progress(assignments).values())
    now = timezone.now()

    def urgency(row: Progress) -> tuple[bool, bool, datetime.datetime, int, int]:
        task = row.task
        assert task is not None  # an assignment's progress carries the assignment
        finished = not task.is_open or row.remaining == 0
        return (finished, task.due_at >= now, task.due_at, -task.priority, task.pk)

    return sorted(rows, key=urgency)


QUALIFY, STOPPED = "qualify", "stopped"


def my_work_gates(*, user: User, rows: list[Progress]) -> dict[int, str]:
    """{task id: the gate that keeps `user` from working there}, for the open tasks of My work, so
    a gated task is marked before it is clicked: STOPPED (a pause that stops work, until a manager
    resumes them) before QUALIFY (a qualification not passed yet). Two queries, whatever the count."""
    tasks = [row.task for row in rows if row.task is not None and row.task.is_open]
    gates = dict.fromkeys(qualification.tasks_to_qualify_for(user=user, task_ids=[t.pk for t in tasks]), QUALIFY)
    gates.update(dict.fromkeys(tasks_stopped_in(user=user, tasks=tasks), STOPPED))
    return gates


def _ordered(assignment: Assignment) -> QuerySet[TaskItem]:
    return TaskItem.objects.filter(assignment=assignment).select_related("item")


def _later() -> Q:
    """Rows after the outer row in the assignment's order (rank, then id)."""
    return Q(rank__gt=OuterRef("rank")) | Q(rank=OuterRef("rank"), id__gt=OuterRef("pk"))


def _earlier() -> Q:
    return Q(rank__lt=OuterRef("rank")) | Q(rank=OuterRef("rank"), id__lt=OuterRef("pk"))


def _in_outer_assignment() -> QuerySet[TaskItem]:
    return TaskItem.objects.filter(assignment_id=OuterRef("assignment_id")).order_by()


def _first_id(rows: QuerySet[TaskItem], *order: Any) -> Subquery:
    return Subquery(rows.order_by(*order).values("id")[:1])


def _next_open_id() -> Coalesce:
    """After a status is set: the next item still to do, wrapping round to the start (see `_open_items`)."""
    open_rows = (
        _in_outer_assignment()
        .filter(status__isnull=True)
        .exclude(pk=OuterRef("pk"))
        .exclude(task__type=TaskType.QA, rework=True)
    )
    return Coalesce(_first_id(open_rows.filter(_later()), "rank", "id"), _first_id(open_rows, "rank", "id"))


@dataclass(frozen=True)
class Around:
    """Where an item sits in its assignment, read with it for the work page."""

    previous_id: int | None
    next_id: int | None
    position: int
    holder_paused: bool
    holder_stopped: bool


def _read_with(row: TaskItem, name: str) -> Any:
    # Annotations land on the instance; django-stubs cannot see them as attributes.
    return row.__dict__[name]


def _task_item_read(*, page: bool, next_open: bool) -> Compiled[TaskItem]:
    def build(user_id: int, assignment_id: int, task_item_id: int) -> QuerySet[TaskItem]:
        mine = Assignment.objects.visible_to(anyone_with_id(user_id)).filter(pk=assignment_id)
        rows = TaskItem.objects.filter(assignment__in=mine, pk=task_item_id).select_related(
            "item", "assignment__assignee", "assignment__task__project", "assignment__task__recipe"
        )
        if page:
            rows = rows.annotate(
                previous_id=_first_id(_in_outer_assignment().filter(_earlier()), "-rank", "-id"),
                next_id=_first_id(_in_outer_assignment().filter(_later()), "rank", "id"),
                position=Subquery(
                    _in_outer_assignment()
                    .filter(_earlier())
                    .values("assignment_id")
                    .annotate(n=Count("id"))
                    .values("n")
                ),
                **{quality_reads.RULE: quality_reads.rule_of_outer_task("task_id")},
                holder_paused=paused_exists(
                    user_id=OuterRef("assignment__assignee_id"),
                    task_id=OuterRef("task_id"),
                    project_id=OuterRef("task__project_id"),
                ),
                holder_stopped=paused_exists(
                    user_id=OuterRef("assignment__assignee_id"),
                    task_id=OuterRef("task_id"),
                    project_id=OuterRef("task__project_id"),
                    stopping=True,
                ),
            )
        if next_open:
            rows = rows.annotate(next_open_id=_next_open_id())
        return rows.order_by()[:1]

    return Compiled(build)


# The work loop's reads of one item, each compiled once per process (taskboard.sql.Compiled).
_TASK_ITEM_READS = {
    (page, next_open): _task_item_read(page=page, next_open=next_open)
    for page in (False, True)
    for next_open in (False, True)
}


def task_item_for_viewer(
    user: User, *, assignment_id: object, task_item_id: object, page: bool = False, next_open: bool = False
) -> TaskItem:
    """One read: an item of an assignment the user may open (its holder or the project's managers),
    with its item, assignment and task; anyone else gets 404.

    `page`: read with what the work page shows around it (`previous_id`, `next_id`, `position`,
    `holder_paused` and `holder_stopped`); `next_open`: with `next_open_id`, where the person goes
    after setting a status."""
    assignment_key, key = parse_pk(assignment_id), parse_pk(task_item_id)
    task_item: TaskItem | None = None
    if is_person(user) and assignment_key is not None and key is not None:
        task_item = _TASK_ITEM_READS[(page, next_open)].first(user.pk, assignment_key, key)
    if task_item is None:
        raise Http404("No such item.")
    task_item.task = task_item.assignment.task
    if page:
        task_item.task.__dict__[quality_reads.RULE] = _read_with(task_item, quality_reads.RULE)
    return task_item


def task_item_page(user: User, *, assignment_id: object, task_item_id: object) -> tuple[TaskItem, Around]:
    """The work page's item with where it sits (see `task_item_for_viewer`)."""
    row = task_item_for_viewer(user, assignment_id=assignment_id, task_item_id=task_item_id, page=True)
    around = Around(
        previous_id=_read_with(row, "previous_id"),
        next_id=_read_with(row, "next_id"),
        position=(_read_with(row, "position") or 0) + 1,
        holder_paused=bool(_read_with(row, "holder_paused")),
        holder_stopped=bool(_read_with(row, "holder_stopped")),
    )
    return row, around


def task_item_for_status(user: User, *, assignment_id: object, task_item_id: object) -> tuple[TaskItem, int | None]:
    """An item whose status the user is about to set, with the item they go on to afterwards."""
    row = task_item_for_viewer(user, assignment_id=assignment_id, task_item_id=task_item_id, next_open=True)
    return row, _read_with(row, "next_open_id")


# The next item, preloaded by every work page: compiled once per process.
_WITH_ITEM = Compiled(lambda task_item_id: TaskItem.objects.select_related("item").filter(pk=task_item_id)[:1])


def task_item_with_item(task_item_id: int) -> TaskItem | None:
    found: TaskItem | None = _WITH_ITEM.first(task_item_id)
    return found


def _labels_query(recipe_id: int, task_id: int, item_id: int, holder_id: int) -> QuerySet[Label]:
    chosen = Annotation.objects.filter(
        task_id=task_id, item_id=item_id, created_by_id=holder_id, label_id=OuterRef("pk")
    )
    return Label.objects.filter(recipe_id=recipe_id).annotate(chosen=Exists(chosen))


_LABELS = Compiled(_labels_query)


def labels_with_choice(*, task_item: TaskItem) -> list[tuple[Label, bool]]:
    """The recipe's labels, each with whether the holder chose it on this copy (their own labels only:
    consensus annotators never see each other's)."""
    keys = (task_item.task.recipe_id, task_item.task_id, task_item.item_id, task_item.assignment.assignee_id)
    # A work assignment always has its holder; were it missing, the query would ask for IS NULL.
    labels: Any = _LABELS.rows(*keys) if keys[3] is not None else _labels_query(*keys)  # type: ignore[arg-type]
    return [(label, label.chosen) for label in labels]


def _open_items(assignment: Assignment) -> QuerySet[TaskItem]:
    """Items still to do. In a QA task an item sent back for rework waits for its annotator;
    in an annotation task it is to do again."""
    items = _ordered(assignment).filter(status__isnull=True)
    if assignment.task.type == TaskType.QA:
        items = items.filter(rework=False)
    return items


# What to do next: the highest item priority first, then the task's (folder, name) order.
TO_DO_ORDER = ("-priority", "rank", "id")


def _first_query(assignment_id: int, *, qa: bool, which: str) -> QuerySet[TaskItem]:
    items = TaskItem.objects.filter(assignment_id=assignment_id).select_related("item")
    if which == "any":
        return items.order_by("rank", "id")[:1]
    items = items.filter(status__isnull=True)
    if qa:
        items = items.filter(rework=False)
    if which == "rework":
        items = items.filter(rework=True)
    return items.order_by(*TO_DO_ORDER)[:1]


def _first(qa: bool, which: str) -> Compiled[TaskItem]:
    return Compiled(lambda assignment_id: _first_query(assignment_id, qa=qa, which=which))


# Opening an assignment and every status change look for where work resumes: compiled once per process.
_FIRST = {(qa, which): _first(qa, which) for qa in (False, True) for which in ("rework", "to do", "any")}


def first_open_item(assignment: Assignment) -> TaskItem | None:
    """Where work resumes: items sent back for rework first, then the first item to do (TO_DO_ORDER)."""
    qa = assignment.task.type == TaskType.QA
    found: TaskItem | None = None
    for which in ("rework", "to do", "any"):
        found = _FIRST[(qa, which)].first(assignment.pk)
        if found is not None:
            break
    return found


def next_open_item(task_item: TaskItem) -> TaskItem | None:
    """After a status is set: the next item still to do, wrapping round to the start."""
    items = _open_items(task_item.assignment).exclude(pk=task_item.pk)
    p, rank = task_item.priority, task_item.rank
    after = items.filter(
        Q(priority__lt=p) | Q(priority=p, rank__gt=rank) | Q(priority=p, rank=rank, id__gt=task_item.pk)
    )
    return after.order_by(*TO_DO_ORDER).first() or items.order_by(*TO_DO_ORDER).first()


def parent_annotations(*, task_item: TaskItem) -> list[Annotation]:
    """What a reviewer checks: the labels the parent task's annotators put on the item."""
    task = task_item.task
    if task.type != TaskType.QA or not task.parent_id:
        return []
    return list(
        Annotation.objects.filter(task_id=task.parent_id, item_id=task_item.item_id).select_related("created_by")
    )


def parent_task_item(task_item: TaskItem) -> TaskItem | None:
    task = task_item.task
    if task.type != TaskType.QA or not task.parent_id:
        return None
    return (
        TaskItem.objects.filter(
            task_id=task.parent_id, item_id=task_item.item_id, assignment__kind=AssignmentKind.WORK
        )
        .select_related("status_by", "assignment__assignee")
        .order_by("copy")
        .first()
    )


def _history_query(item_id: int, *tasks: int) -> QuerySet[HoldingChange]:
    """The item's changes; with `tasks` (a task and its parent) only theirs and their QA tasks'."""
    changes = HoldingChange.objects.filter(item_id=item_id).select_related(
        "by", "task", "from_assignment__assignee", "to_assignment__assignee"
    )
    if tasks:
        task_id, *parent = tasks
        near = Q(task_id=task_id) | Q(task__parent_id=task_id)
        changes = changes.filter(near | Q(task_id=parent[0]) if parent else near)
    return changes.order_by("-at", "-id")[:HISTORY_LIMIT]


HISTORY_LIMIT = 50
# The work page shows it each time: compiled once per process, with and without a parent task.
_HISTORY_IN_TASK = Compiled(lambda item_id, task_id: _history_query(item_id, task_id))
_HISTORY_IN_CHILD_TASK = Compiled(lambda item_id, task_id, parent_id: _history_query(item_id, task_id, parent_id))


def item_history(item: Item, *, task: AnnotationTask | None = None) -> list[HoldingChange]:
    """The item's own change records (moves, claims, rework), newest first."""
    if task is None:
        return list(_history_query(item.pk))
    if task.parent_id is None:
        return _HISTORY_IN_TASK.rows(item.pk, task.pk)
    return _HISTORY_IN_CHILD_TASK.rows(item.pk, task.pk, task.parent_id)
