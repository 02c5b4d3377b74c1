"""Honest active time: time counts only while a person works.

The work view reports signs of activity (marks); the time between two consecutive marks of one
person counts when it is no longer than the project's idle cut-off (5 minutes unless the project
says otherwise) and not at all when it is longer: a coffee break, a tab left open overnight. Nor
does it count after a mark that ended a span, the last input before the work view was hidden or
another window took the focus: a minute in the mail or the chat is not work on the item, though it
is shorter than the cut-off. A person's marks form one timeline over every task, so two tabs never
count twice. Each counted gap belongs to the later mark's item, the item the person came back to or
stayed on.

The rule is written once (`_counted_gaps`); both the running totals (`activity_record`, called by
the work view's heartbeat) and the reports (`active_seconds_by_person_task`) sum it in one window
query over the marks, never a loop per mark.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction

from taskboard.annotation.models import AnnotationTask
from taskboard.quality.models import DEFAULT_IDLE_CUTOFF_SECONDS, ActivityMark, ProjectQuality

MARK_TABLE = ActivityMark._meta.db_table
# A beat holds at most this many marks (the browser sends one at least every 15 s, a mark every 2 s).
MAX_MARKS_PER_BEAT = 500
# Marks from further back than this are not believed: a beat is sent every 15 s.
MAX_MARK_AGE_MS = 10 * 60 * 1000


def idle_cutoff_seconds(project_id: int) -> int:
    cutoff = ProjectQuality.objects.filter(project_id=project_id).values_list("idle_cutoff_seconds", flat=True).first()
    return cutoff if cutoff is not None else DEFAULT_IDLE_CUTOFF_SECONDS


def to_ms(at: datetime.datetime) -> int:
    return int(at.timestamp() * 1000)


def marks_from_ages(*, now: datetime.datetime, ages_ms: Iterable[int]) -> list[int]:
    """The browser says how long ago each mark was (its clock may be off; durations are not)."""
    now_ms = to_ms(now)
    return sorted({now_ms - age for age in ages_ms if 0 <= age <= MAX_MARK_AGE_MS})


def _counted_gaps(*, where: str, join: str = "", cutoff_ms: str) -> str:
    """The rule, once: per mark (user_id, task_id, counted), the milliseconds since the person's
    previous mark when that gap counts. `where` narrows the marks `m` (the window runs over what it
    keeps); `cutoff_ms` is an SQL expression over `m` and `join`."""
    return f"""
        SELECT user_id, task_id,
               CASE WHEN gap <= cutoff_ms AND NOT after_end THEN gap ELSE 0 END AS counted
        FROM (
          SELECT m.user_id, m.task_id, {cutoff_ms} AS cutoff_ms,
                 m.at_ms - LAG(m.at_ms) OVER w AS gap,
                 LAG(m.ends_span) OVER w AS after_end
          FROM {MARK_TABLE} m {join}
          WHERE {where}
          WINDOW w AS (PARTITION BY m.user_id ORDER BY m.at_ms, m.id)
        ) gaps
        WHERE gap IS NOT NULL
    """


@transaction.atomic
def activity_record(
    *,
    user_id: int,
    task_id: int,
    assignment_id: int,
    item_id: int,
    project_id: int,
    marks_ms: list[int],
    ended_ms: int | None = None,
) -> float:
    """Store a beat's marks and return the active seconds they add (the rule of `_counted_gaps`).

    Marks at or before the person's latest stored mark add nothing (another tab already covered
    that time), so each moment counts once however many tabs report it. `ended_ms`, when the
    beat closes a span (the page was hidden or lost the focus), is the moment of its last input:
    the person's latest mark at or before it ends the span.
    """
    last = (
        ActivityMark.objects.select_for_update()
        .filter(user_id=user_id)
        .order_by("-at_ms")
        .values_list("at_ms", flat=True)
        .first()
    )
    fresh = sorted({m for m in marks_ms if last is None or m > last})[:MAX_MARKS_PER_BEAT]
    if fresh:
        ActivityMark.objects.bulk_create(
            ActivityMark(user_id=user_id, task_id=task_id, assignment_id=assignment_id, item_id=item_id, at_ms=m)
            for m in fresh
        )
    if ended_ms is not None:
        # One statement: the latest mark at or before the span's last input (a beat of another tab
        # that came first keeps its own marks open).
        latest = ActivityMark.objects.filter(user_id=user_id, at_ms__lte=ended_ms).order_by("-at_ms", "-id")
        ActivityMark.objects.filter(pk__in=latest.values("pk")[:1]).update(ends_span=True)
    if not fresh:
        return 0.0
    start = last if last is not None else fresh[0]
    gaps = _counted_gaps(where="m.user_id = %s AND m.at_ms >= %s", cutoff_ms="%s")
    sql = f"SELECT COALESCE(SUM(counted), 0) FROM ({gaps}) c"
    with connection.cursor() as cursor:
        cursor.execute(sql, [idle_cutoff_seconds(project_id) * 1000, user_id, start])
        (counted_ms,) = cursor.fetchone()
    return float(counted_ms) / 1000.0


@dataclass(frozen=True)
class ActiveTime:
    user_id: int
    task_id: int
    seconds: float


def active_seconds_by_person_task(
    *, task_ids: Iterable[int], since: datetime.datetime | None = None, until: datetime.datetime | None = None
) -> list[ActiveTime]:
    """Active time per person and task, recounted from the marks in one query (each task's project
    cut-off applies to the gaps that end in it). The window runs over each person's whole timeline
    so a gap that ends in one of these tasks is measured from the mark before it, in any task."""
    ids = sorted(set(task_ids))
    if not ids:
        return []
    low = to_ms(since) if since else -(2**62)
    high = to_ms(until) if until else 2**62
    placeholders = ", ".join(["%s"] * len(ids))
    task_table = AnnotationTask._meta.db_table
    # Each gap is held to the cut-off of the project of the task it ends in.
    gaps = _counted_gaps(
        where="m.at_ms BETWEEN %s AND %s AND m.user_id IN (SELECT user_id FROM people)",
        join=f"""JOIN {task_table} t ON t.id = m.task_id
                 LEFT JOIN {ProjectQuality._meta.db_table} q ON q.project_id = t.project_id""",
        cutoff_ms="COALESCE(q.idle_cutoff_seconds, %s) * 1000",
    )
    sql = f"""
        WITH people AS (
          SELECT DISTINCT user_id FROM {MARK_TABLE} WHERE task_id IN ({placeholders}) AND at_ms BETWEEN %s AND %s
        )
        SELECT g.user_id, g.task_id, SUM(g.counted)
        FROM ({gaps}) g
        WHERE g.task_id IN ({placeholders})
        GROUP BY g.user_id, g.task_id
    """
    params = [*ids, low, high, DEFAULT_IDLE_CUTOFF_SECONDS, low, high, *ids]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [ActiveTime(user_id=u, task_id=t, seconds=float(ms) / 1000.0) for u, t, ms in cursor.fetchall()]
