"""Benchmark: reassigning N items from one person to another, and undoing it, against a raw UPDATE.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tb_reassignbench .venv/bin/python bench/reassign.py

PostgreSQL only. Builds, fresh on every run, two projects (items by one `INSERT … SELECT
generate_series`, tasks by the core `task_create`):

- small: one task of N items (default 100,000), all held by one person;
- large: the same, plus another task of `--other` items (default 1,000,000) held by ten people.

Then, VACUUM ANALYZE before each step:

1. floor (large): a raw `UPDATE task_item SET assignment_id = … FROM (the person's undone rows)`,
   the least a reassign must write; then the same back, untimed;
2. small: `taskboard.annotation.moves.assignment_reassign`, the service the page and the API call
   (the move, the counters, a change record per item, the operation that makes it undoable);
3. large: the same service in the large project;
4. undo (large): `taskboard.annotation.operations.operation_undo` of step 3.

Last line: `FIGURE reassign items=N floor_s=… small_s=… large_s=… undo_s=… ratio=… size_ratio=…`,
ratio = large / floor (goal ≤ 3), size_ratio = large / small (goal ≤ 1.5).

With `--job`, the service is called as a bulk job calls it (`BULK_JOB_THRESHOLD` and up): with a
progress report, so it records the rows first and changes them in runs, reporting after each; the
FIGURE line then ends in `path=job`.
"""

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskboard.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tb_reassignbench")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-" + "x" * 32)
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("TASK_JOB_THRESHOLD", str(10**9))

import django  # noqa: E402

django.setup()

import datetime  # noqa: E402

from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402
from pgbench_setup import REPORTS, insert_items, log, reset_database  # noqa: E402

from taskboard.accounts.models import User  # noqa: E402
from taskboard.annotation.creation import task_create  # noqa: E402
from taskboard.annotation.models import Assignment, BulkOperation, HoldingChange, TaskItem  # noqa: E402
from taskboard.annotation.moves import assignment_reassign  # noqa: E402
from taskboard.annotation.operations import operation_undo  # noqa: E402
from taskboard.annotation.selection import Selection  # noqa: E402
from taskboard.annotation.spec import TaskSpec, equal_people  # noqa: E402
from taskboard.datasets.models import Dataset, Item, Recipe  # noqa: E402
from taskboard.projects.models import Membership, Project, Role  # noqa: E402

TI = TaskItem._meta.db_table
IT = Item._meta.db_table
PREFIX = "tb_reassignbench"


def task_over(dataset, recipe, manager, name: str, folder: str, people) -> object:
    spec = TaskSpec(
        dataset_id=dataset.pk,
        name=name,
        selection=Selection(mode="folder", folder=folder),
        people=equal_people(u.pk for u in people),
        due_at=timezone.now() + datetime.timedelta(days=10),
        recipe_id=recipe.pk,
    )
    return task_create(spec=spec, by=manager)


def build(label: str, n: int, other: int):
    """A project whose task of n items is held by one person (plus `other` items in a second task)."""
    project = Project.objects.create(name=f"Reassign {label}")
    manager = User.objects.create_user(f"manager-{label}@example.com", "pw")
    holder = User.objects.create_user(f"holder-{label}@example.com", "pw")
    taker = User.objects.create_user(f"taker-{label}@example.com", "pw")
    crowd = [User.objects.create_user(f"crowd{i}-{label}@example.com", "pw") for i in range(10)] if other else []
    Membership.objects.create(project=project, user=manager, role=Role.MANAGER)
    Membership.objects.bulk_create(
        Membership(project=project, user=u, role=Role.ANNOTATOR) for u in [holder, taker, *crowd]
    )
    dataset = Dataset.objects.create(project=project, name="data")
    recipe = Recipe.objects.create(dataset=dataset, name="default", is_default=True)
    t0 = time.perf_counter()
    insert_items(dataset.pk, "/r", n)
    if other:
        insert_items(dataset.pk, "/other", other)
    task = task_over(dataset, recipe, manager, "Reassign", "/r", [holder])
    if other:
        task_over(dataset, recipe, manager, "Other work", "/other", crowd)
    log(f"  {label}: {n:,} items to move, {other:,} other task items, built in {time.perf_counter() - t0:.1f}s")
    return task, manager, holder, taker


def vacuum() -> None:
    connection.ensure_connection()
    connection.connection.autocommit = True
    with connection.cursor() as cursor:
        for table in (TI, HoldingChange._meta.db_table, Assignment._meta.db_table):
            cursor.execute(f"VACUUM ANALYZE {table}")


def raw_move(from_id: int, to_id: int) -> tuple[float, int]:
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TI} SET assignment_id = %s FROM (SELECT id FROM {TI} WHERE assignment_id = %s "
            f"AND status IS NULL) s WHERE {TI}.id = s.id",
            [to_id, from_id],
        )
        n = cursor.rowcount
    return time.perf_counter() - t0, n


def timed_reassign(task, manager, holder, taker) -> float:
    assignment = Assignment.objects.get(task=task, assignee=holder)
    vacuum()
    t0 = time.perf_counter()
    assignment_reassign(assignment=assignment, to_user=taker, by=manager, progress=REPORTS.report())
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--other", type=int, default=1_000_000)
    parser.add_argument("--job", action="store_true", help="call the service as a bulk job does (runs, progress)")
    args = parser.parse_args()
    REPORTS.watched = args.job
    if connection.vendor != "postgresql":
        raise SystemExit(f"bench/reassign.py measures PostgreSQL; set DATABASE_URL=postgres://…/{PREFIX}")
    log(f"database: {connection.settings_dict['NAME']} · {args.items:,} items · {args.other:,} other task items")
    reset_database(PREFIX)
    small = build("small", args.items, 0)
    large = build("large", args.items, args.other)

    task, manager, holder, taker = large
    source = Assignment.objects.get(task=task, assignee=holder)
    spare = Assignment.objects.create(task=task, assignee=manager)  # the raw UPDATE's target, then back
    vacuum()
    floor_s, n = raw_move(source.pk, spare.pk)
    raw_move(spare.pk, source.pk)
    spare.delete()
    log(f"  floor (raw UPDATE … FROM, large): {floor_s:.2f}s for {n:,} rows")
    if n != args.items:
        raise SystemExit(f"the raw UPDATE moved {n:,} rows, expected {args.items:,}")

    small_s = timed_reassign(*small)
    log(f"  service reassign, small project: {small_s:.2f}s")
    large_s = timed_reassign(*large)
    log(f"  service reassign, large project: {large_s:.2f}s")
    held = TaskItem.objects.filter(task=task, assignment__assignee=taker).count()
    if held != args.items:
        raise SystemExit(f"the reassign moved {held:,} items, expected {args.items:,}")

    operation = BulkOperation.objects.filter(task=task).latest("id")
    vacuum()
    t0 = time.perf_counter()
    restored = operation_undo(operation=operation, by=manager)
    undo_s = time.perf_counter() - t0
    back = TaskItem.objects.filter(task=task, assignment__assignee=holder).count()
    log(f"  undo, large project: {undo_s:.2f}s, {restored:,} items back ({back:,} with the first holder)")
    if back != args.items:
        raise SystemExit(f"the undo brought {back:,} items back, expected {args.items:,}")

    ratio, size_ratio = large_s / floor_s, large_s / small_s
    log(f"ratio large/floor {ratio:.2f} (goal <= 3), size_ratio large/small {size_ratio:.2f} (goal <= 1.5)")
    log(
        f"FIGURE reassign items={args.items} floor_s={floor_s:.2f} small_s={small_s:.2f} large_s={large_s:.2f} "
        f"undo_s={undo_s:.2f} ratio={ratio:.2f} size_ratio={size_ratio:.2f}" + REPORTS.suffix()
    )


if __name__ == "__main__":
    main()
