"""The people view of a project (distribution control): for each member who works, their open load
by task, items done today and this week, when they were last active, where they are paused, their
caps and the pulled batches they hold. Read from counters and small tables (assignments, status
counts, daily throughput, active time, pauses, caps, leases); last active also takes each person's
latest status, one grouped read over the task items' status_by index.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count, Max, Sum
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation.caps import cap_items, task_items
from taskboard.annotation.models import (
    AnnotationTask,
    Assignment,
    AssignmentKind,
    Cap,
    Lease,
    Pause,
    StatusCount,
    TaskItem,
    TaskStatus,
)
from taskboard.dashboards.models import DailyThroughput
from taskboard.projects.models import Membership, Project
from taskboard.work.models import AssignmentTime


@dataclass
class TaskLoad:
    task: AnnotationTask
    open: int
    held: int
    cap: int | None = None
    cap_label: str = ""
    paused: bool = False


@dataclass
class PersonRow:
    user: User
    role: str
    loads: list[TaskLoad] = field(default_factory=list)
    done_today: int = 0
    done_week: int = 0
    last_active: datetime.datetime | None = None
    paused_everywhere: bool = False
    leases: int = 0
    leased_items: int = 0

    @property
    def open_total(self) -> int:
        return sum(load.open for load in self.loads)

    @property
    def paused_tasks(self) -> list[AnnotationTask]:
        return [load.task for load in self.loads if load.paused]

    @property
    def caps(self) -> list[TaskLoad]:
        return [load for load in self.loads if load.cap is not None]


def _done_keys(task_ids: list[int]) -> dict[int, set[str]]:
    keys: defaultdict[int, set[str]] = defaultdict(set)
    for task_id, key in TaskStatus.objects.filter(task_id__in=task_ids, is_done=True).values_list("task_id", "key"):
        keys[task_id].add(key)
    return keys


def people_rows(project: Project, *, only_user_id: int | None = None) -> list[PersonRow]:
    members = Membership.objects.filter(project=project).select_related("user").order_by("user__email")
    if only_user_id is not None:
        members = members.filter(user_id=only_user_id)
    rows = {m.user_id: PersonRow(user=m.user, role=m.get_role_display()) for m in members}
    tasks = {t.pk: t for t in AnnotationTask.objects.filter(project=project, closed_at__isnull=True)}
    task_ids = list(tasks)
    done_keys = _done_keys(task_ids)
    assignments = Assignment.objects.filter(
        task_id__in=task_ids, kind=AssignmentKind.WORK, removed=False, assignee_id__in=list(rows)
    )
    done_by_assignment: defaultdict[int, int] = defaultdict(int)
    for assignment_id, task_id, status, n in StatusCount.objects.filter(assignment__in=assignments).values_list(
        "assignment_id", "assignment__task_id", "status", "count"
    ):
        if status in done_keys[task_id]:
            done_by_assignment[assignment_id] += n
    loads: dict[tuple[int, int], TaskLoad] = {}
    for a in assignments.order_by("task_id"):
        assert a.assignee_id is not None
        load = TaskLoad(task=tasks[a.task_id], open=a.item_count - done_by_assignment[a.pk], held=a.item_count)
        loads[(a.assignee_id, a.task_id)] = load
        rows[a.assignee_id].loads.append(load)

    def load_of(user_id: int, task_id: int) -> TaskLoad:
        if (user_id, task_id) not in loads:
            loads[(user_id, task_id)] = TaskLoad(task=tasks[task_id], open=0, held=0)
            rows[user_id].loads.append(loads[(user_id, task_id)])
        return loads[(user_id, task_id)]

    totals: dict[int, int] = {}
    for cap in Cap.objects.filter(task_id__in=task_ids, user_id__in=list(rows)):
        load = load_of(cap.user_id, cap.task_id)
        if cap.task_id not in totals:
            totals[cap.task_id] = task_items(tasks[cap.task_id])
        load.cap = cap_items(cap, totals[cap.task_id])
        load.cap_label = f"{cap.max_share}%" if cap.max_share is not None else ""
    for pause in Pause.objects.filter(project=project, user_id__in=list(rows)):
        if pause.task_id is None:
            rows[pause.user_id].paused_everywhere = True
        elif pause.task_id in tasks:
            load_of(pause.user_id, pause.task_id).paused = True
    today = timezone.localdate()
    week_start = today - datetime.timedelta(days=today.weekday())
    throughput = (
        DailyThroughput.objects.filter(task_id__in=task_ids, day__gte=week_start, assignment__in=assignments)
        .values_list("assignment__assignee_id", "day")
        .annotate(n=Sum("done"))
    )
    for user_id, day, n in throughput:
        rows[user_id].done_week += n or 0
        if day == today:
            rows[user_id].done_today += n or 0
    active = (
        AssignmentTime.objects.filter(task_id__in=task_ids, user_id__in=list(rows))
        .values_list("user_id")
        .annotate(last=Max("updated_at"))
    )
    for user_id, last in active:
        rows[user_id].last_active = last
    status_last = (
        TaskItem.objects.filter(status_by_id__in=list(rows), task_id__in=task_ids)
        .values_list("status_by_id")
        .annotate(last=Max("status_at"))
    )
    for user_id, last in status_last:
        row = rows[user_id]
        if last is not None and (row.last_active is None or last > row.last_active):
            row.last_active = last
    running = Lease.objects.filter(task_id__in=task_ids, ended_at__isnull=True, holder_id__in=list(rows))
    for user_id, n in running.values_list("holder_id").annotate(n=Count("id")):
        rows[user_id].leases = n
    held = TaskItem.objects.filter(lease__in=running, status__isnull=True, in_queue=False)
    for user_id, n in held.values_list("assignment__assignee_id").annotate(n=Count("id")):
        if user_id in rows:
            rows[user_id].leased_items = n
    for row in rows.values():
        row.loads.sort(key=lambda load: (-load.task.priority, load.task.name))
    return list(rows.values())
