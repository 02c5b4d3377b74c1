"""Recount the core counters from the task item rows (GROUP BY in the database) and repair drift.

The services keep `Assignment.item_count`/`rework_count`/`issue_count` and `StatusCount` in the
same transaction as every change; this is the audit that proves it, and the repair if it ever
fails (a bug, a manual SQL edit). `DailyThroughput` is checked too: per assignment, its net sum
must equal the items holding a done status, and its active time the work view's per-item times;
`ReviewTally.sent_back`: per annotator and task, the REWORK change records QA left (one per copy
sent back); and `ConsensusTally`: per task, the work app's per-item agreement results (count, sum,
how many under half).
"""

import datetime
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate

from taskboard.annotation.models import (
    Assignment,
    AssignmentKind,
    ChangeKind,
    HoldingChange,
    StatusCount,
    TaskItem,
    TaskStatus,
    TaskType,
)
from taskboard.dashboards.models import ConsensusTally, DailyThroughput, ReviewTally
from taskboard.dashboards.services import LOW_AGREEMENT, active_time_add, throughput_add
from taskboard.work.models import ConsensusResult, ItemTime


@dataclass(frozen=True)
class Drift:
    task_id: int
    assignment_id: int | None  # None: a counter of the task, or of a person without an assignment
    who: str
    # item_count, rework_count, issue_count, status:<key>, throughput, active_time, sent_back,
    # consensus_items/_sum/_low
    counter: str
    stored: float  # a count; seconds (active_time) or a sum of agreements (consensus_sum)
    actual: float
    annotator_id: int | None = None  # sent_back: whose tally

    def __str__(self):
        where = (
            f"task {self.task_id}"
            if self.assignment_id is None
            else f"task {self.task_id} assignment {self.assignment_id}"
        )
        return f"{where} ({self.who}): {self.counter} stored {self.stored}, actual {self.actual}"


def _scope(qs, task_ids, field="task_id"):
    return qs if task_ids is None else qs.filter(**{f"{field}__in": list(task_ids)})


def _actual(task_ids):
    """Per assignment: (rows, rows flagged rework) and {status: rows}; two GROUP BY queries."""
    rows = {
        r["assignment_id"]: (r["n"], r["rework"])
        for r in _scope(TaskItem.objects.all(), task_ids)
        .order_by()
        .values("assignment_id")
        .annotate(n=Count("id"), rework=Count("id", filter=Q(rework=True)))
    }
    statuses: defaultdict[int, dict[str, int]] = defaultdict(dict)
    for r in (
        _scope(TaskItem.objects.filter(status__isnull=False), task_ids)
        .order_by()
        .values("assignment_id", "status")
        .annotate(n=Count("id"))
    ):
        statuses[r["assignment_id"]][r["status"]] = r["n"]
    return rows, statuses


@contextmanager
def _snapshot():
    """One transaction whose every statement sees the same instant. The services change rows and
    counters in one transaction, so within a snapshot they agree unless something is wrong; and
    a repair of a row someone changed since fails to serialize instead of overwriting. (PostgreSQL
    REPEATABLE READ; SQLite transactions are snapshots already.) No locks: writers never wait."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


def find_drift(task_ids=None) -> list[Drift]:
    """Every counter that disagrees with the rows, compared within one snapshot."""
    with _snapshot():
        return _find_drift(task_ids)


def _find_drift(task_ids) -> list[Drift]:
    assignments = list(_scope(Assignment.objects.select_related("task", "assignee"), task_ids).order_by("pk"))
    actual_rows, actual_statuses = _actual(task_ids)
    stored_statuses: defaultdict[int, dict[str, int]] = defaultdict(dict)
    for assignment_id, status, count in _scope(StatusCount.objects.all(), task_ids, "assignment__task_id").values_list(
        "assignment_id", "status", "count"
    ):
        stored_statuses[assignment_id][status] = count
    done_keys: defaultdict[int, set[str]] = defaultdict(set)
    for task_id, key in _scope(TaskStatus.objects.filter(is_done=True).order_by(), task_ids).values_list(
        "task_id", "key"
    ):
        done_keys[task_id].add(key)
    throughput, daily_active = {}, {}
    for assignment_id, n, seconds in (
        _scope(DailyThroughput.objects.all(), task_ids)
        .order_by()
        .values("assignment_id")
        .annotate(n=Sum("done"), seconds=Sum("active_seconds"))
        .values_list("assignment_id", "n", "seconds")
    ):
        throughput[assignment_id], daily_active[assignment_id] = n, seconds or 0.0
    actual_active = dict(
        _scope(ItemTime.objects.all(), task_ids)
        .order_by()
        .values("assignment_id")
        .annotate(seconds=Sum("active_seconds"))
        .values_list("assignment_id", "seconds")
    )

    # What each work assignment took from its pulling queue, by the claim records; a queue's
    # item_count is its intake, what is still queued plus all of that.
    claims = dict(
        _scope(HoldingChange.objects.filter(kind=ChangeKind.CLAIM, to_assignment__isnull=False), task_ids)
        .order_by()
        .values("to_assignment_id")
        .annotate(n=Sum("count"))
        .values_list("to_assignment_id", "n")
    )
    claimed_in_task: defaultdict[int, int] = defaultdict(int)
    for a in assignments:
        if a.kind == AssignmentKind.WORK:
            claimed_in_task[a.task_id] += claims.get(a.pk, 0)

    drift = []
    for a in assignments:
        who = a.assignee.email if a.assignee_id else a.get_kind_display()
        rows, flagged = actual_rows.get(a.pk, (0, 0))
        # A flagged row is rework waiting with its annotator on an annotation task, and the
        # issue that QA raised on a QA task (see work.services.qa_reject).
        is_qa = a.task.type == TaskType.QA
        is_queue = a.kind == AssignmentKind.QUEUE
        expected = {
            "item_count": rows + (claimed_in_task[a.task_id] if is_queue else 0),
            "claimed_count": claims.get(a.pk, 0) if a.kind == AssignmentKind.WORK else 0,
            "rework_count": 0 if is_qa else flagged,
            "issue_count": flagged if is_qa else 0,
        }
        for counter, value in expected.items():
            if getattr(a, counter) != value:
                drift.append(Drift(a.task_id, a.pk, who, counter, getattr(a, counter), value))
        stored, actual = stored_statuses.get(a.pk, {}), actual_statuses.get(a.pk, {})
        for key in sorted(set(stored) | set(actual)):
            if stored.get(key, 0) != actual.get(key, 0):
                drift.append(Drift(a.task_id, a.pk, who, f"status:{key}", stored.get(key, 0), actual.get(key, 0)))
        done = sum(n for key, n in actual.items() if key in done_keys[a.task_id])
        if (throughput.get(a.pk) or 0) != done:
            drift.append(Drift(a.task_id, a.pk, who, "throughput", throughput.get(a.pk) or 0, done))
        stored_active, active = daily_active.get(a.pk, 0.0), actual_active.get(a.pk) or 0.0
        if abs(stored_active - active) > SUM_TOLERANCE * max(1.0, active):
            drift.append(Drift(a.task_id, a.pk, who, "active_time", round(stored_active, 3), round(active, 3)))
    drift += _sent_back_drift(task_ids, assignments)
    drift += _consensus_drift(task_ids)
    return drift


# A float sum kept by adding and subtracting: allow for rounding, never for a lost item.
SUM_TOLERANCE = 1e-6


def _consensus_drift(task_ids) -> list[Drift]:
    actual = {
        r["task_id"]: (r["items"], r["total"] or 0.0, r["low"])
        for r in _scope(ConsensusResult.objects.all(), task_ids)
        .order_by()
        .values("task_id")
        .annotate(items=Count("id"), total=Sum("agreement"), low=Count("id", filter=Q(agreement__lt=LOW_AGREEMENT)))
    }
    stored = {t.task_id: (t.items, t.agreement_sum, t.low) for t in _scope(ConsensusTally.objects.all(), task_ids)}
    drift = []
    for task_id in sorted(set(actual) | set(stored)):
        s_items, s_sum, s_low = stored.get(task_id, (0, 0.0, 0))
        a_items, a_sum, a_low = actual.get(task_id, (0, 0.0, 0))
        if s_items != a_items:
            drift.append(Drift(task_id, None, "task", "consensus_items", s_items, a_items))
        if s_low != a_low:
            drift.append(Drift(task_id, None, "task", "consensus_low", s_low, a_low))
        if abs(s_sum - a_sum) > SUM_TOLERANCE * max(1, a_items):
            drift.append(Drift(task_id, None, "task", "consensus_sum", s_sum, a_sum))
    return drift


def _sent_back_drift(task_ids, assignments) -> list[Drift]:
    """Per (annotation task, annotator): the tally's sent_back against the REWORK records."""
    actual = {
        (task_id, user_id): n
        for task_id, user_id, n in _scope(HoldingChange.objects.filter(kind=ChangeKind.REWORK), task_ids)
        .exclude(to_assignment__assignee_id=None)
        .order_by()
        .values("task_id", "to_assignment__assignee_id")
        .annotate(n=Count("id"))
        .values_list("task_id", "to_assignment__assignee_id", "n")
    }
    stored = {
        (task_id, user_id): n
        for task_id, user_id, n in _scope(ReviewTally.objects.all(), task_ids).values_list(
            "task_id", "annotator_id", "sent_back"
        )
    }
    work = {(a.task_id, a.assignee_id): a for a in assignments if a.kind == AssignmentKind.WORK}
    drift = []
    for task_id, user_id in sorted(set(actual) | set(stored)):
        s, n = stored.get((task_id, user_id), 0), actual.get((task_id, user_id), 0)
        if s != n:
            a = work.get((task_id, user_id))
            who = a.assignee.email if a else f"user {user_id}"
            drift.append(Drift(task_id, a.pk if a else None, who, "sent_back", s, n, annotator_id=user_id))
    return drift


def rebuild(task_ids=None) -> list[Drift]:
    """Find the drift and write the actual values in the same snapshot; returns what was wrong."""
    with _snapshot():
        drift = _find_drift(task_ids)
        _repair(drift)
    return drift


def _repair(drift: list[Drift]) -> None:
    by_assignment: defaultdict[int, dict[str, float]] = defaultdict(dict)
    status_fixes: list[tuple[int, str, float]] = []  # (assignment id, status, count)
    throughput_fixes: set[tuple[int, int]] = set()
    active_fixes: set[int] = set()
    consensus_fixes: set[int] = set()
    for d in drift:
        if d.counter.startswith("consensus_"):
            consensus_fixes.add(d.task_id)
        elif d.counter == "sent_back":
            ReviewTally.objects.update_or_create(
                task_id=d.task_id, annotator_id=d.annotator_id, defaults={"sent_back": d.actual}
            )
        elif d.assignment_id is None:
            continue  # the two above are the only counters kept per task or per person
        elif d.counter.startswith("status:"):
            status_fixes.append((d.assignment_id, d.counter.removeprefix("status:"), d.actual))
        elif d.counter == "throughput":
            throughput_fixes.add((d.task_id, d.assignment_id))
        elif d.counter == "active_time":
            active_fixes.add(d.assignment_id)
        else:
            by_assignment[d.assignment_id][d.counter] = d.actual
    for assignment_id, values in by_assignment.items():
        Assignment.objects.filter(pk=assignment_id).update(**values)
    existing = {
        (sc.assignment_id, sc.status): sc
        for sc in StatusCount.objects.filter(assignment_id__in={a for a, _, _ in status_fixes})
    }
    updates, creates = [], []
    for assignment_id, key, actual in status_fixes:
        row = existing.get((assignment_id, key))
        if row is None:
            creates.append(StatusCount(assignment_id=assignment_id, status=key, count=actual))
        else:
            row.count = actual
            updates.append(row)
    StatusCount.objects.bulk_update(updates, ["count"], batch_size=1000)
    StatusCount.objects.bulk_create(creates, batch_size=1000)
    if throughput_fixes:
        _rebuild_throughput(throughput_fixes)
    if active_fixes:
        _rebuild_active_time(active_fixes)
    if consensus_fixes:
        _rebuild_consensus(consensus_fixes)


def _rebuild_consensus(task_ids: set[int]) -> None:
    actual = {
        r["task_id"]: r
        for r in ConsensusResult.objects.filter(task_id__in=task_ids)
        .order_by()
        .values("task_id")
        .annotate(items=Count("id"), total=Sum("agreement"), low=Count("id", filter=Q(agreement__lt=LOW_AGREEMENT)))
    }
    for task_id in task_ids:
        r = actual.get(task_id, {"items": 0, "total": 0.0, "low": 0})
        ConsensusTally.objects.update_or_create(
            task_id=task_id, defaults={"items": r["items"], "agreement_sum": r["total"] or 0.0, "low": r["low"]}
        )


def _rebuild_active_time(assignment_ids: set[int]) -> None:
    """Each item's active time goes to the day its last beat came (the per-beat days are lost)."""
    DailyThroughput.objects.filter(assignment_id__in=assignment_ids).update(active_seconds=0)
    for r in (
        ItemTime.objects.filter(assignment_id__in=assignment_ids)
        .order_by()
        .values("task_id", "assignment_id", day=TruncDate("ended_at"))
        .annotate(seconds=Sum("active_seconds"))
    ):
        active_time_add(task_id=r["task_id"], assignment_id=r["assignment_id"], day=r["day"], seconds=r["seconds"])


def _rebuild_throughput(pairs: set[tuple[int, int]]) -> None:
    """The net history is lost once it drifted; what is left is when each done item got its status.
    Only `done` is rewritten: the same rows keep the day's active time."""
    assignment_ids = {a for _, a in pairs}
    DailyThroughput.objects.filter(assignment_id__in=assignment_ids).update(done=0)
    done_keys: defaultdict[int, set[str]] = defaultdict(set)
    for task_id, key in (
        TaskStatus.objects.filter(task_id__in={t for t, _ in pairs}, is_done=True)
        .order_by()
        .values_list("task_id", "key")
    ):
        done_keys[task_id].add(key)
    rows = []
    for r in (
        TaskItem.objects.filter(assignment_id__in=assignment_ids, status__isnull=False)
        .order_by()
        .values("task_id", "assignment_id", "status", day=TruncDate("status_at"))
        .annotate(n=Count("id"))
    ):
        if r["status"] in done_keys[r["task_id"]] and r["day"] is not None:
            rows.append((r["task_id"], r["assignment_id"], r["day"], r["n"]))
    merged: defaultdict[tuple[int, int, datetime.date], int] = defaultdict(int)
    for task_id, assignment_id, day, n in rows:
        merged[(task_id, assignment_id, day)] += n
    for (task_id, assignment_id, day), n in merged.items():
        throughput_add(task_id=task_id, assignment_id=assignment_id, day=day, done=n)
