"""Stuck work: in a distributed task with a stuck policy, an item its holder has not touched for
`after_hours` (no status, not moved to them, no active time on it since) is flagged; by the rule it
stays (flag only), goes to someone else, or is handed to the task's owner; the holder and the
project's managers are told. The sweep runs periodically (Celery beat) and from the task page.

Set-based: one query per task finds the idle rows (at most SWEEP_LIMIT per pass, the longest idle
first); flags are written with one bulk insert.
"""

import datetime
from collections import defaultdict
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from taskboard.accounts.models import User
from taskboard.annotation.models import Allocation, AnnotationTask, ChangeKind, TaskItem
from taskboard.annotation.rows import CHANGE_TABLE, TASK_ITEM_TABLE
from taskboard.annotation.skips import hand_over, owner_assignment, someone_else
from taskboard.annotation.statuses import lock_task
from taskboard.notifications.models import EventKind
from taskboard.notifications.services import notify
from taskboard.projects.access import manager_ids
from taskboard.work.models import ItemTime, StuckAction, StuckItem, StuckPolicy

SWEEP_LIMIT = 1000
ITEM_TIME_TABLE = ItemTime._meta.db_table
ASSIGNMENT_TABLE = "annotation_assignment"


def stuck_policy_check(*, task: AnnotationTask, after_hours: object, action: object) -> None:
    """Every rule of a stuck rule (the page, the API and the admin's form ask it); no hours is none."""
    if task.allocation != Allocation.DISTRIBUTION:
        raise ValidationError(
            {
                "after_hours": "Stuck work is watched in distributed tasks. A pulling task needs no rule: a batch "
                f"left untouched goes back to the queue when its lease runs out ({task.lease_seconds // 60} minutes "
                "after its holder last worked on it)."
            }
        )
    if after_hours in (None, ""):
        return
    if isinstance(after_hours, bool) or not isinstance(after_hours, int) or not 1 <= after_hours <= 24 * 30:
        raise ValidationError({"after_hours": "Give whole hours from 1 to 720."})
    if action not in StuckAction.values:
        raise ValidationError({"action": f"Choose one of: {', '.join(StuckAction.values)}."})


@transaction.atomic
def stuck_policy_set(*, task: AnnotationTask, after_hours: object, action: str, by: User) -> StuckPolicy | None:
    """Set the task's stuck rule; no hours turns it off."""
    stuck_policy_check(task=task, after_hours=after_hours, action=action)
    if after_hours in (None, ""):
        StuckPolicy.objects.filter(task=task).delete()
        return None
    assert isinstance(after_hours, int)  # stuck_policy_check
    policy, _ = StuckPolicy.objects.update_or_create(
        task=task, defaults={"after_hours": after_hours, "action": action}
    )
    return policy


def _idle_rows(task: AnnotationTask, cutoff: datetime.datetime) -> list[tuple[int, int, int, datetime.datetime]]:
    """(row id, item id, holder id, idle since) of the task's undone held rows nobody touched since
    `cutoff`, longest idle first; not those already flagged and open."""
    sql = f"""
    SELECT t.id, t.item_id, a.assignee_id, COALESCE(
        (SELECT max(c.at) FROM {CHANGE_TABLE} c WHERE c.item_id = t.item_id AND c.task_id = t.task_id), %s) AS since
    FROM {TASK_ITEM_TABLE} t JOIN {ASSIGNMENT_TABLE} a ON a.id = t.assignment_id
    WHERE t.task_id = %s AND t.status IS NULL AND NOT t.in_queue AND a.kind = 'work'
      AND NOT EXISTS (SELECT 1 FROM {ITEM_TIME_TABLE} it WHERE it.assignment_id = t.assignment_id
                      AND it.item_id = t.item_id AND it.ended_at >= %s)
      AND NOT EXISTS (SELECT 1 FROM {StuckItem._meta.db_table} s WHERE s.task_id = t.task_id
                      AND s.item_id = t.item_id AND s.holder_id = a.assignee_id AND s.resolved_at IS NULL)
    """
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT * FROM ({sql}) x WHERE x.since < %s ORDER BY x.since, x.id LIMIT %s",
            [task.created_at, task.pk, cutoff, cutoff, SWEEP_LIMIT],
        )
        return cursor.fetchall()


def _aware(value: object) -> datetime.datetime:
    """SQLite answers a raw aggregate of datetimes as text, or without its zone (stored in UTC)."""
    parsed = parse_datetime(value) if isinstance(value, str) else value
    assert isinstance(parsed, datetime.datetime)
    return timezone.make_aware(parsed, datetime.UTC) if timezone.is_naive(parsed) else parsed


@dataclass
class Swept:
    flagged: int = 0
    moved: int = 0


@transaction.atomic
def stuck_sweep_task(*, task: AnnotationTask, now: datetime.datetime | None = None) -> Swept:
    policy = StuckPolicy.objects.filter(task=task).first()
    if policy is None or task.is_closed or task.allocation != Allocation.DISTRIBUTION:
        return Swept()
    now = now or timezone.now()
    task = lock_task(task)
    rows = _idle_rows(task, now - datetime.timedelta(hours=policy.after_hours))
    if not rows:
        return Swept()
    result = Swept()
    flags: list[StuckItem] = []
    per_holder: defaultdict[int, int] = defaultdict(int)
    task_rows = {r.pk: r for r in TaskItem.objects.select_for_update().filter(pk__in=[r[0] for r in rows])}
    for row_id, item_id, holder_id, since in rows:
        since = _aware(since)
        went_to = ""
        row = task_rows.get(row_id)
        if row is not None and policy.action != StuckAction.FLAG:
            target = (
                owner_assignment(task) if policy.action == StuckAction.MANAGER else someone_else(task, row, holder_id)
            )
            if target is not None and target.pk != row.assignment_id and target.assignee is not None:
                hand_over(row, target, None, kind=ChangeKind.STUCK)
                went_to = target.assignee.email
                result.moved += 1
        flags.append(
            StuckItem(
                task=task,
                item_id=item_id,
                holder_id=holder_id,
                idle_since=since,
                flagged_at=now,
                action=policy.action,
                went_to=went_to,
                resolved_at=now if went_to else None,
            )
        )
        per_holder[holder_id] += 1
    StuckItem.objects.bulk_create(flags, ignore_conflicts=True)
    result.flagged = len(flags)
    managers = list(manager_ids(task.project_id))
    what: dict[str, str] = {
        StuckAction.FLAG: "flagged",
        StuckAction.REQUEUE: "given to others",
        StuckAction.MANAGER: "handed to the owner",
    }
    for holder_id, n in per_holder.items():
        notify(
            kind=EventKind.STUCK,
            recipients=[holder_id, *managers],
            event_key=f"stuck:{task.pk}:{holder_id}:{now.isoformat()}",
            title=f"{n} item(s) untouched for {policy.after_hours} h in {task.name}: {what[policy.action]}",
            project=task.project,
            data={"task": task.pk, "holder": holder_id, "items": n},
        )
    return result


def stuck_sweep(*, now: datetime.datetime | None = None) -> Swept:
    """Every task with a stuck policy (the periodic job)."""
    total = Swept()
    for policy in StuckPolicy.objects.select_related("task"):
        swept = stuck_sweep_task(task=policy.task, now=now)
        total.flagged += swept.flagged
        total.moved += swept.moved
    return total


def stuck_items(*, task: AnnotationTask | None = None, project_id: int | None = None, open_only: bool = True):
    items = StuckItem.objects.select_related("task", "item", "holder")
    if task is not None:
        items = items.filter(task=task)
    if project_id is not None:
        items = items.filter(task__project_id=project_id)
    return items.filter(resolved_at__isnull=True) if open_only else items


@dataclass
class Unwatched:
    """The project's open tasks the sweep does not look at, so the panel can say why they are not in it."""

    pulling: list[AnnotationTask]  # their leases send untouched batches back to the queue by themselves
    no_rule: list[AnnotationTask]  # distributed, with no stuck-work rule set


def unwatched_tasks(*, project_id: int) -> Unwatched:
    open_tasks = AnnotationTask.objects.filter(project_id=project_id, closed_at__isnull=True).order_by("name", "pk")
    ruled = StuckPolicy.objects.filter(task_id=OuterRef("pk"))
    return Unwatched(
        pulling=list(open_tasks.filter(allocation=Allocation.PULLING)),
        no_rule=list(open_tasks.filter(allocation=Allocation.DISTRIBUTION).exclude(Exists(ruled))),
    )


def stuck_resolve_touched(*, now: datetime.datetime | None = None) -> int:
    """Flags whose item has since got a status or left its holder are resolved, in one UPDATE: the
    panel lists only what is still stuck."""
    still_there = TaskItem.objects.filter(
        task_id=OuterRef("task_id"),
        item_id=OuterRef("item_id"),
        assignment__assignee_id=OuterRef("holder_id"),
        status__isnull=True,
    )
    open_flags = StuckItem.objects.filter(resolved_at__isnull=True).exclude(Exists(still_there))
    return open_flags.update(resolved_at=now or timezone.now())
