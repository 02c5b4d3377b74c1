"""Pulling: items wait in a hidden queue and come to each allowed person in batches.

The rule (docs/tasks.md): a person's next batch comes when their undone items fall to
max_batch_workload − batch_size or fewer, never taking them above max_batch_workload. No item is
ever held by two people: PostgreSQL claims with row locks that skip locked rows, SQLite with a
compare-and-set update.
"""

from collections.abc import Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from taskboard.accounts.models import User
from taskboard.annotation.caps import CAP_SQL, room_left
from taskboard.annotation.leases import expired_waiting, lease_expiry, leases_expire
from taskboard.annotation.models import (
    AnnotationTask,
    Assignment,
    AssignmentKind,
    ChangeKind,
    HoldingChange,
    Lease,
    Pause,
    StatusCount,
    TaskItem,
    WorkloadEntry,
)
from taskboard.annotation.people import pause_q
from taskboard.annotation.rows import CHANGE_TABLE, TASK_ITEM_TABLE
from taskboard.annotation.statuses import ensure_status_counts
from taskboard.annotation.workload import may_work
from taskboard.projects.access import working_member_filter
from taskboard.projects.models import WORKING_ROLES, Membership

# The whole claim on PostgreSQL as ONE statement: the rule under the claimer's row lock, the next
# rows of the queue (skipping rows another claim has locked), the move, the claimer's counters
# and the change record. It writes no row that another claimer writes (the queue's intake count
# stays; claimed_count says what left it), so claimers never wait for each other, and one
# statement keeps Python out of the loop.
PG_CLAIM_SQL = f"""
WITH me AS (
  SELECT a.id, a.item_count AS held, a.item_count - COALESCE(
    (SELECT SUM(s.count) FROM {StatusCount._meta.db_table} s WHERE s.assignment_id = a.id), 0) AS undone
  FROM {Assignment._meta.db_table} a
  WHERE a.task_id = %(task)s AND a.assignee_id = %(user)s AND a.kind = 'work' AND NOT a.removed
    -- workload.may_work, read here rather than asked first: an active member with a working role.
    AND EXISTS (SELECT 1 FROM {User._meta.db_table} u JOIN {Membership._meta.db_table} m ON m.user_id = u.id
      WHERE u.id = %(user)s AND u.is_active AND m.project_id = %(project)s AND m.role = ANY(%(roles)s))
  FOR NO KEY UPDATE OF a
), want AS (
  -- Under the rule (undone <= max - batch) a whole batch always fits under max. A paused person gets
  -- none; a capped one no more than their cap leaves room for (docs/tasks.md, Caps).
  SELECT id, LEAST(%(batch)s, GREATEST(0, COALESCE({CAP_SQL} - held, %(batch)s))) AS n
  FROM me WHERE undone <= %(max)s - %(batch)s AND NOT EXISTS (
    SELECT 1 FROM {Pause._meta.db_table} p WHERE p.user_id = %(user)s
      AND (p.task_id = %(task)s OR (p.task_id IS NULL AND p.project_id = %(project)s)))
), picked AS (
  SELECT t.id FROM {TASK_ITEM_TABLE} t
  WHERE t.task_id = %(task)s AND t.in_queue AND EXISTS (SELECT 1 FROM want WHERE n > 0)
  ORDER BY t.priority DESC, t.rank LIMIT COALESCE((SELECT n FROM want), 0) FOR UPDATE SKIP LOCKED
), lease AS (
  -- The batch is a lease: its holder keeps it until it expires (docs/tasks.md, Leases).
  INSERT INTO {Lease._meta.db_table}
    (task_id, assignment_id, holder_id, items, returned, claimed_at, expires_at, "end")
  SELECT %(task)s, id, %(user)s, (SELECT count(*) FROM picked), 0, now(), now() + make_interval(secs => %(lease)s), ''
  FROM want WHERE EXISTS (SELECT 1 FROM picked) RETURNING id
), moved AS (
  UPDATE {TASK_ITEM_TABLE} t SET assignment_id = (SELECT id FROM want), in_queue = false,
    lease_id = (SELECT id FROM lease)
  WHERE t.id = ANY(ARRAY(SELECT id FROM picked)) AND t.in_queue RETURNING t.item_id
), queue AS (
  SELECT id FROM {Assignment._meta.db_table} WHERE task_id = %(task)s AND kind = 'queue'
), bump AS (
  UPDATE {Assignment._meta.db_table} SET item_count = item_count + (SELECT count(*) FROM moved),
    claimed_count = claimed_count + (SELECT count(*) FROM moved)
  WHERE id = (SELECT id FROM want) AND EXISTS (SELECT 1 FROM moved)
), record AS (
  INSERT INTO {CHANGE_TABLE} (task_id, item_id, kind, from_assignment_id, to_assignment_id, count, by_id, at, note)
  SELECT %(task)s, item_id, '{ChangeKind.CLAIM.value}', (SELECT id FROM queue), (SELECT id FROM want), 1,
    CAST(%(by)s AS bigint), now(), '' FROM moved
)
SELECT (SELECT count(*) FROM me), (SELECT count(*) FROM moved)
"""


def pulling_claim(*, task: AnnotationTask, user: User, requested: bool = False) -> int:
    """Give `user` their next batch from the queue if their undone items are low; returns how many.

    `requested` is True when the person asked for it ("Get more items"); otherwise the system pulls
    on their behalf (the first batches, a refill after a status, a pipeline's hand-out), and the
    change record names no one as its author (`by` is empty), so the history says so.

    The rule (docs/tasks.md): refill when undone ≤ max_batch_workload − batch_size, never above
    max_batch_workload undone. Concurrent claimers never get the same item: PostgreSQL skips rows
    another claim has locked, SQLite's compare-and-set only moves rows still in the queue.
    A claim changes no done count, so the task's state stays as it is.
    """
    if not task.is_pulling:
        raise ValidationError({"allocation": "Only pulling tasks hand out batches."})
    if not task.accepts_work:
        return 0
    if expired_waiting(task):
        # Expired batches go back first, so what they held can be claimed (this one or the next).
        leases_expire(task=task)
    if connection.vendor == "postgresql":
        params: dict[str, Any] = {
            "task": task.pk,
            "project": task.project_id,
            "roles": sorted(WORKING_ROLES),
            "user": user.pk,
            "by": user.pk if requested else None,
            "batch": task.batch_size,
            "max": task.max_batch_workload,
            "lease": task.lease_seconds,
        }
        holders: int
        moved: int
        with connection.cursor() as cursor:
            cursor.execute(PG_CLAIM_SQL, params)
            holders, moved = cursor.fetchone()
        if holders:
            return moved
    # SQLite, and a first claim of an allowed assignee (their assignment is made here). No savepoint
    # (the status flow claims inside its own transaction): nothing raises inside, a refusal is
    # raised once the block is left.
    with transaction.atomic(savepoint=False):
        claimed = _pulling_claim_orm(task=task, user=user, requested=requested)
    if claimed is None:
        raise ValidationError({"allowed_assignees": "You are not among this task's assignees."})
    return claimed


def _claimer(*, task: AnnotationTask, user: User) -> Mapping[str, Any] | None:
    """The claimer's work assignment under its row lock, read with what the rule needs."""
    with_status = (
        StatusCount.objects.filter(assignment_id=OuterRef("pk")).values("assignment_id").annotate(n=Sum("count"))
    )
    return (
        Assignment.objects.select_for_update(of=("self",))
        .filter(task=task, assignee=user, kind=AssignmentKind.WORK)
        .annotate(
            with_status=Coalesce(Subquery(with_status.values("n")[:1]), 0),
            paused=Exists(Pause.objects.filter(pause_q(user_id=user.pk, task=task))),
            may_work=Exists(get_user_model().objects.filter(working_member_filter(task.project_id), pk=user.pk)),
        )
        .values("id", "item_count", "removed", "with_status", "paused", "may_work")
        .first()
    )


def _pulling_claim_orm(*, task: AnnotationTask, user: User, requested: bool) -> int | None:
    """How many items `user` claimed; None when they are not among the task's assignees."""
    assignment = _claimer(task=task, user=user)
    if assignment is None:
        if not WorkloadEntry.objects.filter(task=task, assignee=user).exists():
            return None
        if not may_work(task.project_id, [user.pk]):
            return 0
        Assignment.objects.get_or_create(task=task, assignee=user, kind=AssignmentKind.WORK)
        assignment = _claimer(task=task, user=user)
        assert assignment is not None  # made just above, in this transaction
        ensure_status_counts(assignment_ids=[assignment["id"]], keys=list(task.statuses.values_list("key", flat=True)))
    if assignment["removed"] or assignment["paused"] or not assignment["may_work"]:
        return 0
    undone = assignment["item_count"] - assignment["with_status"]
    batch, most = task.batch_size, task.max_batch_workload
    assert batch is not None and most is not None  # a pulling task has both (task_pulling_limits)
    if undone > most - batch:
        return 0
    want = min(batch, most - undone)
    room = room_left(task=task, user_id=user.pk, held=assignment["item_count"])
    if room is not None:
        want = min(want, room)
    if want <= 0:
        return 0
    queue = Assignment.objects.filter(task=task, kind=AssignmentKind.QUEUE).first()
    if queue is None:
        return 0
    lock = " FOR UPDATE SKIP LOCKED" if connection.vendor == "postgresql" else ""
    sql = (
        f"UPDATE {TASK_ITEM_TABLE} SET assignment_id = %s, in_queue = %s "
        f"WHERE id IN (SELECT id FROM {TASK_ITEM_TABLE} WHERE task_id = %s AND in_queue = %s "
        f"ORDER BY priority DESC, rank LIMIT %s{lock}) AND in_queue = %s RETURNING id, item_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [assignment["id"], False, task.pk, True, want, True])
        rows = cursor.fetchall()
    if not rows:
        return 0
    claimed = [item_id for _, item_id in rows]
    n = len(claimed)
    now = timezone.now()
    lease = Lease.objects.create(
        task=task,
        assignment_id=assignment["id"],
        holder=user,
        items=n,
        claimed_at=now,
        expires_at=lease_expiry(task, now),
    )
    TaskItem.objects.filter(id__in=[row_id for row_id, _ in rows]).update(lease=lease)
    Assignment.objects.filter(pk=assignment["id"]).update(
        item_count=F("item_count") + n, claimed_count=F("claimed_count") + n
    )
    HoldingChange.objects.bulk_create(
        [
            HoldingChange(
                task=task,
                item_id=item_id,
                kind=ChangeKind.CLAIM,
                from_assignment=queue,
                to_assignment_id=assignment["id"],
                by=user if requested else None,
                at=now,
            )
            for item_id in claimed
        ]
    )
    return n
