"""Claim leases: a pulled batch is held by its holder until its lease expires.

A lease runs `task.lease_seconds` from the claim and moves on whenever its holder works (a status
set or cleared, a heartbeat on the work page). When it expires, by the sweep that runs before every
claim of its task and by the periodic Celery beat job, or when a manager releases it, the batch's
items with no status go back to the queue, set-based, each with a change record; items with a
status stay with the person who did them, and items out for rework stay with their annotator.

Locks: expiry and renewal take lease and item rows with SKIP LOCKED, so neither ever waits for the
other (a holder working on an item keeps it; the next sweep looks again), and the holders' counter
rows are updated last, in id order.
"""

import datetime
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Exists, F, Min, OuterRef, QuerySet
from django.db.models.functions import Now
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation.models import (
    LEASE_SECONDS_MAX,
    AnnotationTask,
    Assignment,
    AssignmentKind,
    ChangeKind,
    Lease,
    LeaseEnd,
    TaskItem,
)
from taskboard.annotation.rows import CHANGE_TABLE, TASK_ITEM_TABLE

ASSIGNMENT_TABLE = Assignment._meta.db_table
LEASE_TABLE = Lease._meta.db_table


def _skip_locked(qs: QuerySet) -> QuerySet:
    """Rows another transaction holds are left for the next pass (SQLite has one writer anyway)."""
    if connection.vendor == "postgresql":
        return qs.select_for_update(skip_locked=True, of=("self",))
    return qs


def lease_expiry(task: AnnotationTask, now: datetime.datetime | None = None) -> datetime.datetime:
    return (now or timezone.now()) + datetime.timedelta(seconds=task.lease_seconds)


def _return_to_queue(*, row_ids: Sequence[int], kind: str, by: User | None, now: datetime.datetime) -> dict[int, int]:
    """Move the task item rows `row_ids` (locked by the caller, none with a status) to their task's
    queue: one change record each, the holders' counters by what they gave back. Returns the count
    per holder assignment."""
    if not row_ids:
        return {}
    marks = ", ".join(["%s"] * len(row_ids))
    queue_of = f"(SELECT q.id FROM {ASSIGNMENT_TABLE} q WHERE q.task_id = {TASK_ITEM_TABLE}.task_id AND q.kind = %s)"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT assignment_id, count(*) FROM {TASK_ITEM_TABLE} WHERE id IN ({marks}) GROUP BY assignment_id",
            list(row_ids),
        )
        per_holder: dict[int, int] = dict(cursor.fetchall())
        cursor.execute(
            f"INSERT INTO {CHANGE_TABLE} (task_id, item_id, kind, from_assignment_id, to_assignment_id, count, by_id, "
            f"at, note) SELECT task_id, item_id, %s, assignment_id, {queue_of}, 1, %s, %s, '' "
            f"FROM {TASK_ITEM_TABLE} WHERE id IN ({marks})",
            [kind, AssignmentKind.QUEUE.value, by.pk if by else None, now, *row_ids],
        )
        cursor.execute(
            f"UPDATE {TASK_ITEM_TABLE} SET assignment_id = {queue_of}, in_queue = %s, lease_id = NULL "
            f"WHERE id IN ({marks})",
            [AssignmentKind.QUEUE.value, True, *row_ids],
        )
    for assignment_id in sorted(per_holder):
        n = per_holder[assignment_id]
        # What went back leaves the holder and counts as no longer claimed from the queue.
        Assignment.objects.filter(pk=assignment_id).update(
            item_count=F("item_count") - n, claimed_count=F("claimed_count") - n
        )
    return per_holder


def return_rows_to_queue(*, row_ids: Sequence[int], kind: str, by: User | None) -> dict[int, int]:
    """Send these locked, pulled, unstarted rows back to their queue (a skip's way back)."""
    return _return_to_queue(row_ids=row_ids, kind=kind, by=by, now=timezone.now())


def _returnable(lease_ids: Sequence[int]) -> QuerySet[TaskItem]:
    """The rows of these leases that go back: still with the lease's holder, no status, not out for rework."""
    return TaskItem.objects.filter(lease_id__in=lease_ids, status__isnull=True, rework=False, in_queue=False).filter(
        assignment_id=F("lease__assignment_id")
    )


def _end(*, leases: QuerySet[Lease], end: str, kind: str, by: User | None, now: datetime.datetime) -> int:
    """End the running `leases`: their returnable items go back to the queue. Returns how many went."""
    lease_ids = list(_skip_locked(leases.filter(ended_at__isnull=True)).order_by("id").values_list("id", flat=True))
    if not lease_ids:
        return 0
    row_ids = list(_skip_locked(_returnable(lease_ids)).order_by("id").values_list("id", flat=True))
    per_lease: dict[int, int] = defaultdict(int)
    for lease_id in TaskItem.objects.filter(id__in=row_ids).values_list("lease_id", flat=True):
        per_lease[lease_id] += 1
    _return_to_queue(row_ids=row_ids, kind=kind, by=by, now=now)
    # The batch's done items forget the ended lease (the lease keeps its counts).
    TaskItem.objects.filter(lease_id__in=lease_ids).exclude(id__in=row_ids).update(lease=None)
    Lease.objects.filter(id__in=lease_ids).update(ended_at=now, end=end)
    for lease_id, n in per_lease.items():
        Lease.objects.filter(pk=lease_id).update(returned=n)
    return len(row_ids)


@transaction.atomic
def leases_expire(*, task: AnnotationTask | None = None, now: datetime.datetime | None = None) -> int:
    """Send the items of every expired lease (of `task`, or everywhere) back to the queue; returns how
    many went. Runs before each claim of a task and from the periodic beat job."""
    now = now or timezone.now()
    leases = Lease.objects.filter(ended_at__isnull=True, expires_at__lte=now)
    if task is not None:
        leases = leases.filter(task=task)
    return _end(leases=leases, end=LeaseEnd.EXPIRED, kind=ChangeKind.EXPIRE, by=None, now=now)


# Whether a running lease of the task needs ending, when read with the task's row (`expired_exists`).
EXPIRED = "leases_expired"


def expired_exists() -> Exists:
    return Exists(Lease.objects.filter(task_id=OuterRef("pk"), ended_at__isnull=True, expires_at__lte=Now()))


def expired_waiting(task: AnnotationTask, now: datetime.datetime | None = None) -> bool:
    """A cheap look (one index probe, none when read with the task's row) before a claim: does any
    running lease of the task need ending?"""
    known = task.__dict__.get(EXPIRED)
    if known is not None and now is None:
        return bool(known)
    return Lease.objects.filter(task=task, ended_at__isnull=True, expires_at__lte=now or timezone.now()).exists()


def lease_renew(*, assignment_id: int, task: AnnotationTask, now: datetime.datetime | None = None) -> int:
    """The holder is working: their running leases in the task run `lease_seconds` from now.
    A lease being ended right now (locked) is skipped, never waited for."""
    if not task.is_pulling:
        return 0
    now = now or timezone.now()
    expires = lease_expiry(task, now)
    if connection.vendor != "postgresql":  # one writer at a time: nothing to skip
        return Lease.objects.filter(assignment_id=assignment_id, ended_at__isnull=True).update(expires_at=expires)
    # One statement, skipping leases another transaction is ending.
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {LEASE_TABLE} SET expires_at = %s WHERE id IN (SELECT id FROM {LEASE_TABLE} "
            "WHERE assignment_id = %s AND ended_at IS NULL FOR UPDATE SKIP LOCKED)",
            [expires, assignment_id],
        )
        return cursor.rowcount


@dataclass
class Released:
    items: int
    leases: int


def _require_pulling(task: AnnotationTask) -> None:
    if not task.is_pulling:
        raise ValidationError({"task": "Only pulling tasks have leases."})


@transaction.atomic
def lease_release_person(*, task: AnnotationTask, user: User, by: User) -> Released:
    """A manager ends every running lease `user` holds in `task`: their unstarted pulled items go back."""
    _require_pulling(task)
    leases = Lease.objects.filter(task=task, holder=user, ended_at__isnull=True)
    count = leases.count()
    items = _end(leases=leases, end=LeaseEnd.RELEASED, kind=ChangeKind.RELEASE, by=by, now=timezone.now())
    return Released(items=items, leases=count)


@transaction.atomic
def leases_release(*, lease_ids: Sequence[int], by: User) -> Released:
    """A manager (the admin's action) ends these running leases: their unstarted items go back."""
    leases = Lease.objects.filter(id__in=list(lease_ids), ended_at__isnull=True)
    count = leases.count()
    items = _end(leases=leases, end=LeaseEnd.RELEASED, kind=ChangeKind.RELEASE, by=by, now=timezone.now())
    return Released(items=items, leases=count)


@transaction.atomic
def lease_release_item(*, task: AnnotationTask, item_id: int, by: User) -> Released:
    """A manager sends one held, unstarted pulled item back to the queue; its lease runs on for the rest."""
    return lease_release_items(task=task, item_ids=[item_id], by=by)


@transaction.atomic
def lease_release_items(*, task: AnnotationTask, item_ids: Sequence[int], by: User) -> Released:
    """Send these held, unstarted pulled items back to the queue (their leases run on for the rest),
    all or none: an item nobody holds, with a status, out for rework or given rather than pulled is
    refused, naming how many."""
    _require_pulling(task)
    wanted = sorted(set(item_ids))
    rows = list(
        TaskItem.objects.select_for_update()
        .filter(task=task, item_id__in=wanted, in_queue=False, assignment__kind=AssignmentKind.WORK)
        .order_by("pk")
    )
    one = len(wanted) == 1
    problems = (
        (len(wanted) - len({r.item_id for r in rows}), "Nobody holds this item in the task.", "nobody holds"),
        (
            sum(r.status is not None for r in rows),
            "The item has a status: it stays with the person who did it.",
            "have a status (they stay with the person who did them)",
        ),
        (
            sum(r.rework for r in rows),
            "The item is out for rework: it stays with its annotator.",
            "are out for rework (they stay with their annotator)",
        ),
        (
            sum(r.lease_id is None and r.status is None and not r.rework for r in rows),
            "The item is not held under a lease (it was given, not pulled).",
            "were given, not pulled (no lease)",
        ),
    )
    for count, alone, many in problems:
        if count:
            raise ValidationError({"item": alone if one else f"{count} of the {len(wanted)} items: {many}."})
    _return_to_queue(row_ids=[r.pk for r in rows], kind=ChangeKind.RELEASE, by=by, now=timezone.now())
    return Released(items=len(rows), leases=0)


@dataclass
class Holding:
    """One person's running leases in a task: what they hold unstarted and until when."""

    assignment_id: int
    holder: User
    leases: int
    held: int
    expires_at: datetime.datetime
    expired: bool


def task_holdings(task: AnnotationTask) -> list[Holding]:
    """Who holds what under a running lease, soonest to expire first. One grouped query over leases,
    one over their unstarted rows (partial index on lease)."""
    now = timezone.now()
    running = Lease.objects.filter(task=task, ended_at__isnull=True)
    per_holder = list(running.values("assignment_id", "holder_id").annotate(n=Count("id"), soonest=Min("expires_at")))
    if not per_holder:
        return []
    held = dict(
        TaskItem.objects.filter(lease__in=running, status__isnull=True, in_queue=False)
        .values("assignment_id")
        .annotate(n=Count("id"))
        .values_list("assignment_id", "n")
    )
    users = User.objects.in_bulk([r["holder_id"] for r in per_holder])
    rows = [
        Holding(
            assignment_id=r["assignment_id"],
            holder=users[r["holder_id"]],
            leases=r["n"],
            held=held.get(r["assignment_id"], 0),
            expires_at=r["soonest"],
            expired=r["soonest"] <= now,
        )
        for r in per_holder
    ]
    return sorted(rows, key=lambda h: (h.expires_at, h.holder.email))


def held_items(task: AnnotationTask, user_id: int, limit: int = 50) -> QuerySet[TaskItem]:
    """A holder's unstarted items under running leases, with their lease's expiry: the release list."""
    return (
        TaskItem.objects.filter(task=task, lease__isnull=False, lease__ended_at__isnull=True, status__isnull=True)
        .filter(assignment__assignee_id=user_id, in_queue=False)
        .select_related("item", "lease")
        .order_by("lease__expires_at", "rank")[:limit]
    )


def running_leases(*, user: User | None = None, project_id: int | None = None) -> QuerySet[Lease]:
    leases = Lease.objects.filter(ended_at__isnull=True)
    if user is not None:
        leases = leases.filter(holder=user)
    if project_id is not None:
        leases = leases.filter(task__project_id=project_id)
    return leases


LEASE_MINUTES_MAX = LEASE_SECONDS_MAX // 60


@transaction.atomic
def lease_length_set(*, task: AnnotationTask, minutes: object, by: User) -> AnnotationTask:
    """How long the task's pulled batches are held without work: 1 minute to 7 days. Running leases
    keep their expiry until their holder next works."""
    _require_pulling(task)
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= LEASE_MINUTES_MAX:
        raise ValidationError({"lease_minutes": f"Give a whole number of minutes from 1 to {LEASE_MINUTES_MAX}."})
    AnnotationTask.objects.filter(pk=task.pk).update(lease_seconds=minutes * 60, updated_at=timezone.now())
    task.lease_seconds = minutes * 60
    return task
