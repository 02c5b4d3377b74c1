"""Permission-scoped reads for the pages: every object a page shows comes through here.

A user who is not a member of a project gets 404 for anything in it, never 403, so that
existence does not leak. Progress comes from the counters the services keep
(`Assignment.item_count`, `StatusCount`), never from counting task items.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, QuerySet, Sum

from taskboard.annotation.models import (
    HELD_ITEMS,
    AnnotationTask,
    Assignment,
    AssignmentKind,
    StatusCount,
    TaskItem,
    TaskState,
    TaskStatus,
    settle_queue,
)
from taskboard.projects.access import get_or_404, working_member_filter
from taskboard.projects.models import Membership, Project

# The assignments whose items make up a task's total: consensus originals are bookkeeping.
COUNTED_KINDS = (AssignmentKind.WORK, AssignmentKind.QUEUE)


def project_for_member(user, pk) -> Project:
    return get_or_404(Project.objects.visible_to(user), pk, "project")


def project_for_manager(user, pk) -> Project:
    return get_or_404(Project.objects.managed_by(user), pk, "project")


def membership_of(user, project) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, project=project).first()


def assignable_users(project) -> QuerySet:
    """Who may hold assignments in the project: active members with a working role."""
    return get_user_model().objects.filter(working_member_filter(project)).distinct().order_by("email")


def project_members(project) -> QuerySet:
    return get_user_model().objects.filter(memberships__project=project, is_active=True).distinct().order_by("email")


def tasks_for_project(project, user) -> QuerySet[AnnotationTask]:
    """The project's tasks the user may see: all of them for managers, their own work's for the others."""
    return AnnotationTask.objects.visible_to(user).filter(project=project).select_related("dataset", "owner")


def _done_status_filter():
    return Exists(
        TaskStatus.objects.filter(task_id=OuterRef("assignment__task_id"), key=OuterRef("status"), is_done=True)
    )


def tasks_progress(task_ids) -> dict[int, tuple[int, int]]:
    """{task_id: (done, total)} from the counters, in two grouped queries whatever the task size."""
    task_ids = list(task_ids)
    totals = dict(
        Assignment.objects.filter(task_id__in=task_ids, kind__in=COUNTED_KINDS)
        .values("task_id")
        .annotate(total=Sum(HELD_ITEMS))
        .values_list("task_id", "total")
    )
    done = dict(
        StatusCount.objects.filter(assignment__task_id__in=task_ids, assignment__kind__in=COUNTED_KINDS)
        .filter(_done_status_filter())
        .values("assignment__task_id")
        .annotate(done=Sum("count"))
        .values_list("assignment__task_id", "done")
    )
    return {pk: (done.get(pk) or 0, totals.get(pk) or 0) for pk in task_ids}


def with_progress(tasks) -> list[AnnotationTask]:
    """The tasks as a list, each with `.done`, `.total` and `.percent` set."""
    tasks = list(tasks)
    progress = tasks_progress(t.pk for t in tasks)
    for task in tasks:
        task.done, task.total = progress.get(task.pk, (0, 0))
        task.percent = int(100 * task.done / task.total) if task.total else 0
    return tasks


@dataclass
class AssigneeRow:
    assignment: Assignment
    assigned: int = 0
    done: int = 0
    discarded: int = 0
    issues: int = 0
    rework: int = 0
    by_status: dict[str, int] = field(default_factory=dict)

    @property
    def remaining(self) -> int:
        return max(self.assigned - self.done, 0)

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.assigned) if self.assigned else 0

    @property
    def label(self) -> str:
        a = self.assignment
        return a.assignee.email if a.assignee_id else a.get_kind_display()


@dataclass
class TaskProgress:
    total: int
    done: int
    statuses: list[tuple[TaskStatus, int]]
    todo: int
    rows: list[AssigneeRow]
    issues: int
    rework: int = 0

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0

    @property
    def remaining(self) -> int:
        return max(self.total - self.done, 0)


def task_progress(task: AnnotationTask) -> TaskProgress:
    """Overall, per status and per assignment progress of one task, from the counters; issues and
    rework on either side of the QA loop as the dashboards count them."""
    from taskboard.dashboards.queries import issues_and_rework

    statuses = list(TaskStatus.objects.filter(task=task))
    done_keys = {s.key for s in statuses if s.is_done}
    assignments = settle_queue(
        list(
            Assignment.objects.filter(task=task, kind__in=COUNTED_KINDS)
            .select_related("assignee")
            .order_by("kind", "id")
        )
    )
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for assignment_id, status, count in StatusCount.objects.filter(assignment__in=assignments).values_list(
        "assignment_id", "status", "count"
    ):
        counts[assignment_id][status] = count
    issues, rework, issues_by_assignment = issues_and_rework(task, assignments)
    rows = []
    per_status: dict[str, int] = defaultdict(int)
    for a in assignments:
        by_status = counts.get(a.pk, {})
        for key, n in by_status.items():
            per_status[key] += n
        if a.removed and not a.item_count:
            continue
        rows.append(
            AssigneeRow(
                assignment=a,
                assigned=a.item_count,
                done=sum(n for key, n in by_status.items() if key in done_keys),
                discarded=by_status.get("discard", 0),
                issues=issues_by_assignment[a.pk][0],
                rework=issues_by_assignment[a.pk][1],
                by_status=by_status,
            )
        )
    total = sum(a.item_count for a in assignments)
    done = sum(n for key, n in per_status.items() if key in done_keys)
    with_status = sum(per_status.values())
    return TaskProgress(
        total=total,
        done=done,
        statuses=[(s, per_status.get(s.key, 0)) for s in statuses],
        todo=max(total - with_status, 0),
        rows=rows,
        issues=issues,
        rework=rework,
    )


def my_assignments(user) -> list[Assignment]:
    """The user's own open work across projects, most urgent first, each with `.done` set."""
    if not user.is_authenticated:
        return []
    assignments = list(
        Assignment.objects.filter(assignee=user, kind=AssignmentKind.WORK, removed=False, task__state=TaskState.OPEN)
        .select_related("task", "task__project")
        .order_by("task__due_at", "-task__priority", "id")
    )
    done = dict(
        StatusCount.objects.filter(assignment__in=assignments)
        .filter(_done_status_filter())
        .values("assignment_id")
        .annotate(done=Sum("count"))
        .values_list("assignment_id", "done")
    )
    for a in assignments:
        a.done = done.get(a.pk) or 0
        a.remaining = max(a.item_count - a.done, 0)
    return assignments


def items_in_other_open_tasks(items: QuerySet, *, exclude_task=None) -> int:
    """How many of these items some open task already holds (a warning on the wizard's review)."""
    rows = TaskItem.objects.filter(item__in=items.values("pk"), task__state=TaskState.OPEN)
    if exclude_task is not None:
        rows = rows.exclude(task=exclude_task)
    return rows.values("item_id").distinct().count()


def seconds_per_item(users, *, days: int = 30) -> dict[int, float]:
    """Each person's measured pace (active seconds per item) over recent work; absent when unknown."""
    try:
        from taskboard.work.models import ItemTime
    except ImportError:  # the work app records time; without it, pace is unknown
        return {}
    from django.db.models import Count
    from django.utils import timezone

    since = timezone.now() - timezone.timedelta(days=days)
    rows = (
        ItemTime.objects.filter(user__in=[u.pk for u in users], ended_at__gte=since, active_seconds__gt=0)
        .values("user_id")
        .annotate(seconds=Sum("active_seconds"), items=Count("id"))
    )
    return {row["user_id"]: row["seconds"] / row["items"] for row in rows if row["items"]}


def task_agreement(task) -> dict | None:
    """Consensus agreement: items scored and the mean share, from the dashboards' tally (one row),
    and the first page of the per-item list (the least agreed first)."""
    from taskboard.dashboards.models import ConsensusTally
    from taskboard.dashboards.queries import agreement_page

    tally = ConsensusTally.objects.filter(task=task).first()
    if tally is None or not tally.items:
        return {"items": 0, "percent": None, "page": None}
    return {"items": tally.items, "percent": round(100 * tally.agreement), "page": agreement_page(task)}


def dataset_folders(dataset, *, limit: int = 500) -> list[str]:
    """Folders of a dataset with their parents, for the folder pickers (capped: a hint, not a listing)."""
    from taskboard.datasets.models import Item

    folders = set()
    for path in Item.objects.filter(dataset=dataset).order_by("dir").values_list("dir", flat=True).distinct()[:limit]:
        parts = path.strip("/").split("/") if path != "/" else []
        for i in range(len(parts) + 1):
            folders.add("/" + "/".join(parts[:i]))
    return sorted(folders)


def task_forecasts(project) -> dict:
    """{task_id: Forecast} from the dashboards' counters: will each task make its due date?"""
    from taskboard.dashboards import queries as dashboard_queries

    return {summary.task.pk: summary.forecast for summary in dashboard_queries.project_tasks(project)}


def task_forecast(task):
    from taskboard.dashboards import queries as dashboard_queries

    return dashboard_queries.task_numbers(task).forecast
