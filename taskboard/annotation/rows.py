"""Task item rows written set-based: a selection numbered in split order, split into contiguous runs,
and inserted with one `INSERT … SELECT` per run.

Creating a task over a million items costs about what the database needs to write the rows.
"""

from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import QuerySet

from taskboard.annotation.models import HoldingChange, TaskItem
from taskboard.datasets.models import Item

# A job's progress: called with (done, total) as work goes.
Report = Callable[[int, int], None]
# An item's place in split order: (dir, name, id).
SortKey = tuple[Any, ...]

TASK_ITEM_TABLE = TaskItem._meta.db_table
CHANGE_TABLE = HoldingChange._meta.db_table


def ordered(qs: QuerySet[Item], limit: int | None) -> QuerySet[Item]:
    """The items in split order, capped at `limit`; unordered when no limit needs the order."""
    if limit:
        return qs.order_by("dir", "name", "id")[:limit]
    return qs.order_by()


def ranked_sql(
    qs: QuerySet[Item], *, after: SortKey | None = None, upto: SortKey | None = None, offset: int = 0
) -> tuple[str, list[Any]]:
    """SQL yielding (item_id, rn): the queryset's items numbered 1… in (dir, name, id) order.

    With `after`/`upto` (a `(dir, name, id)` key) only the items past `after` and up to `upto`, numbered
    from `offset + 1`: one run of a selection inserted in several statements."""
    inner, query_params = qs.values("id", "dir", "name").query.sql_with_params()
    params = list(query_params)
    # The plain bounds on `dir` beside the row comparisons let PostgreSQL walk the (dataset, dir,
    # name, id) index for one run instead of scanning and sorting the whole selection for each.
    where: list[str] = []
    if after is not None:
        where.append("s.dir >= %s AND (s.dir, s.name, s.id) > (%s, %s, %s)")
        params += [after[0], *after]
    if upto is not None:
        where.append("s.dir <= %s AND (s.dir, s.name, s.id) <= (%s, %s, %s)")
        params += [upto[0], *upto]
    sql = (
        f"SELECT s.id AS item_id, {int(offset)} + row_number() OVER (ORDER BY s.dir, s.name, s.id) AS rn "
        f"FROM ({inner}) s"
    )
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql, params


# A job's selection goes in runs of this many rows (at most PROGRESS_RUNS of them) so that its
# progress bar moves while the rows go in; the task is still written in one transaction.
PROGRESS_RUN_ROWS = 50_000
PROGRESS_RUNS = 20


def ranked_runs(qs: QuerySet[Item], total: int, progress: Report | None) -> Iterator[tuple[str, list[Any], int]]:
    """(ranked SQL, params, rows before this run) for each run of the selection, in rank order.

    One run, the plain `_ranked_sql`, unless a job is watching a selection larger than a run."""
    if progress is None or total <= PROGRESS_RUN_ROWS:
        yield (*ranked_sql(qs), 0)
        return
    step = max(PROGRESS_RUN_ROWS, -(-total // PROGRESS_RUNS))
    inner, params = qs.values("id", "dir", "name").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT b.dir, b.name, b.id FROM (SELECT s.dir, s.name, s.id, "
            f"row_number() OVER (ORDER BY s.dir, s.name, s.id) AS rn FROM ({inner}) s) b "
            f"WHERE b.rn %% %s = 0 ORDER BY b.rn",
            [*params, step],
        )
        keys: list[SortKey] = [tuple(row) for row in cursor.fetchall()]
    after: SortKey | None = None
    for run, upto in enumerate([*keys, None]):
        yield (*ranked_sql(qs, after=after, upto=upto, offset=run * step), run * step)
        after = upto


# A bulk job's rows change in runs of at least a quarter of BULK_JOB_THRESHOLD (PROGRESS_RUNS at most),
# all in the job's one transaction, so its bar moves run by run and a failure still leaves nothing.
KeyRange = tuple[Any, Any]


def bulk_run_rows(total: int) -> int:
    return max(-(-total // PROGRESS_RUNS), -(-settings.BULK_JOB_THRESHOLD // 4), 1)


def key_runs(*, sql: str, params: list[Any], key: str, total: int, watched: bool) -> list[KeyRange]:
    """(after, upto] ranges of `key` over the rows `sql` yields (a column named `key`), each about
    `bulk_run_rows(total)` rows, in key order; one open range (None, None) when nobody watches the
    work or it fits one run. The bounds are read in one pass over the keys."""
    step = bulk_run_rows(total)
    if not watched or total <= step:
        return [(None, None)]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT b.k FROM (SELECT s.{key} AS k, row_number() OVER (ORDER BY s.{key}) AS rn FROM ({sql}) s) b "
            f"WHERE b.rn %% %s = 0 ORDER BY b.rn",
            [*params, step],
        )
        keys = [row[0] for row in cursor.fetchall()]
    if keys and len(keys) * step >= total:
        keys.pop()  # the last key ends the rows: the open last run takes them, no empty run after
    runs: list[KeyRange] = []
    after = None
    for upto in [*keys, None]:
        runs.append((after, upto))
        after = upto
    return runs


def in_run(column: str, run: KeyRange) -> tuple[str, list[Any]]:
    """SQL (and params) keeping the rows whose `column` lies in `run`."""
    after, upto = run
    parts, params = ["1 = 1"], []
    if after is not None:
        parts.append(f"{column} > %s")
        params.append(after)
    if upto is not None:
        parts.append(f"{column} <= %s")
        params.append(upto)
    return " AND ".join(parts), params


def case_by_boundaries(column: str, bounds: list[int], assignment_ids: list[int]) -> tuple[str, list[int]]:
    """CASE giving the assignment of rank `column` for contiguous runs ending at `bounds`."""
    parts: list[str] = []
    params: list[int] = []
    for bound, assignment_id in zip(bounds[:-1], assignment_ids[:-1], strict=True):
        parts.append(f"WHEN {column} <= %s THEN %s")
        params += [bound, assignment_id]
    if not parts:
        return "%s", [assignment_ids[-1]]
    return "CASE " + " ".join(parts) + " ELSE %s END", params + [assignment_ids[-1]]


def insert_task_items(*, task_id: int, select_sql: str, params: list[Any]) -> int:
    """Insert rows from `select_sql`, which yields (item_id, assignment_id, copy, rank, in_queue)."""
    sql = (
        f"INSERT INTO {TASK_ITEM_TABLE} "
        "(task_id, item_id, assignment_id, copy, rank, in_queue, status, status_by_id, status_at, rework, comment) "
        f"SELECT %s, x.item_id, x.assignment_id, x.copy, x.rank, x.in_queue, NULL, NULL, NULL, %s, '' "
        f"FROM ({select_sql}) x"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [task_id, False] + params)
        inserted: int = cursor.rowcount
        return inserted
