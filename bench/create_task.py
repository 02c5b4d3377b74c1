"""Time task creation against the floor: a raw INSERT … SELECT of the same rows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tb_bench .venv/bin/python bench/create_task.py --items 1000000
    .venv/bin/python bench/create_task.py --items 100000          # SQLite (the checkout's file)

Fills N items folder by folder in a fresh dataset, then times (a) the floor: the same ranked
SELECT inserted into a plain table shaped like annotation_taskitem with only a bigint primary
key, and (b) `task_create` over all of them for two assignees; prints both and the ratio.
The database must be migrated (`DEBUG=1 manage.py migrate`).
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskboard.settings")
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402

django.setup()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from taskboard.accounts.models import User  # noqa: E402
from taskboard.annotation.creation import task_create  # noqa: E402
from taskboard.annotation.models import AnnotationTask, Assignment, TaskItem  # noqa: E402
from taskboard.annotation.rows import ranked_sql  # noqa: E402
from taskboard.annotation.selection import Selection, select_items  # noqa: E402
from taskboard.annotation.spec import TaskSpec, equal_people  # noqa: E402
from taskboard.datasets.models import Dataset, Recipe  # noqa: E402
from taskboard.projects.models import Membership, Project, Role  # noqa: E402

PER_FOLDER = 1000
FOLDERS_PER_SITE = 10


def setup(n: int):
    project, _ = Project.objects.get_or_create(name="Bench")
    people = []
    for email, role in [
        ("bench-manager@example.com", Role.MANAGER),
        ("bench-a1@example.com", Role.ANNOTATOR),
        ("bench-a2@example.com", Role.ANNOTATOR),
    ]:
        user, _ = User.objects.get_or_create(email=email)
        Membership.objects.get_or_create(project=project, user=user, defaults={"role": role})
        people.append(user)
    dataset = Dataset.objects.create(project=project, name=f"bench-{n}-{time.time_ns()}")
    Recipe.objects.create(dataset=dataset, name="default", is_default=True)
    return project, dataset, people


def fill(dataset, n: int) -> float:
    """N items, folder by folder (/site0000/cam0/img000000.jpg …), ids rising in folder order."""
    started = time.perf_counter()
    now = timezone.now()
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                """
                INSERT INTO datasets_item (dataset_id, dir, name, filename, mimetype, metadata, file, url, annotated,
                                           created_at)
                SELECT %s, d.dir, d.name, d.dir || '/' || d.name, 'image/jpeg', '{}'::jsonb, '', '', g %% 3 = 0, %s
                FROM generate_series(0, %s - 1) g,
                LATERAL (SELECT '/site' || lpad((g / %s)::text, 4, '0') || '/cam' || ((g / %s) %% %s)::text AS dir,
                                'img' || lpad((g %% %s)::text, 6, '0') || '.jpg' AS name) d
                ORDER BY g
                """,
                [dataset.pk, now, n, PER_FOLDER * FOLDERS_PER_SITE, PER_FOLDER, FOLDERS_PER_SITE, PER_FOLDER],
            )
        else:
            cursor.execute(
                """
                WITH RECURSIVE g(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM g WHERE x < %s - 1)
                INSERT INTO datasets_item (dataset_id, dir, name, filename, mimetype, metadata, file, url, annotated,
                                           created_at)
                SELECT %s, d.dir, d.name, d.dir || '/' || d.name, 'image/jpeg', '{}', '', '', x %% 3 = 0, %s
                FROM (SELECT x, printf('/site%%04d/cam%%d', x / %s, (x / %s) %% %s) AS dir,
                             printf('img%%06d.jpg', x %% %s) AS name FROM g) d
                """,
                [n, dataset.pk, now, PER_FOLDER * FOLDERS_PER_SITE, PER_FOLDER, FOLDERS_PER_SITE, PER_FOLDER],
            )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return time.perf_counter() - started


def checkpoint():
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("CHECKPOINT")
    else:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def floor(dataset) -> float:
    """The same ranked SELECT into a table with the task item's columns and only a bigint primary key."""
    qs = select_items(dataset=dataset, selection=Selection(mode="all")).order_by()
    ranked, params = ranked_sql(qs)
    pk = "bigserial PRIMARY KEY" if connection.vendor == "postgresql" else "INTEGER PRIMARY KEY AUTOINCREMENT"
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_floor")
        cursor.execute(
            f"CREATE TABLE bench_floor (id {pk}, task_id bigint NOT NULL, item_id bigint NOT NULL, "
            "assignment_id bigint NOT NULL, copy smallint NOT NULL, rank bigint NOT NULL, in_queue boolean NOT NULL, "
            "status varchar(50), status_by_id bigint, status_at timestamp with time zone, rework boolean NOT NULL, "
            "comment text NOT NULL)"
        )
    checkpoint()
    started, cpu = time.perf_counter(), time.process_time()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO bench_floor (task_id, item_id, assignment_id, copy, rank, in_queue, status, status_by_id, "
            "status_at, rework, comment) SELECT 1, r.item_id, CASE WHEN r.rn <= %s THEN 1 ELSE 2 END, 0, r.rn, %s, "
            f"NULL, NULL, NULL, %s, '' FROM ({ranked}) r",
            [qs.count() // 2, False, False, *params],
        )
        rows = cursor.rowcount
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_floor")
    return elapsed, rows, cpu


def create(dataset, people, run: int = 0, progress=None) -> tuple[float, AnnotationTask]:
    manager, a1, a2 = people
    checkpoint()
    started, cpu = time.perf_counter(), time.process_time()
    spec = TaskSpec(
        dataset_id=dataset.pk,
        name=f"bench {dataset.name} {run}",
        due_at=timezone.now() + timezone.timedelta(days=7),
        selection=Selection(mode="all"),
        people=equal_people([a1.pk, a2.pk]),
    )
    task = task_create(spec=spec, by=manager, progress=progress)
    return time.perf_counter() - started, task, time.process_time() - cpu


def drop_task(task):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM annotation_taskitem WHERE task_id = %s", [task.pk])
        AnnotationTask.objects.filter(pk=task.pk).delete()


def cleanup(dataset, task):
    drop_task(task)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM datasets_item WHERE dataset_id = %s", [dataset.pk])
        dataset.delete()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="time each side this many times; the best counts")
    parser.add_argument("--keep", action="store_true", help="keep the dataset and task afterwards")
    args = parser.parse_args()
    n = args.items
    print(f"database: {connection.vendor} · items: {n:,}")
    _, dataset, people = setup(n)
    print(f"fill: {fill(dataset, n):.2f} s ({n // PER_FOLDER or 1} folders of {PER_FOLDER})")
    # Best of --repeat runs each: a shared machine's noise only ever adds time.
    floors, creates, floor_cpus, create_cpus, task = [], [], [], [], None
    for run in range(args.repeat):
        floor_s, floor_rows, floor_cpu = floor(dataset)
        if task is not None:
            drop_task(task)
        task_s, task, task_cpu = create(dataset, people, run)
        floors.append(floor_s), creates.append(task_s), floor_cpus.append(floor_cpu), create_cpus.append(task_cpu)
        print(f"run {run + 1}: floor {floor_s:.2f} s · task_create {task_s:.2f} s", flush=True)
    floor_s, task_s = min(floors), min(creates)
    rows = TaskItem.objects.filter(task=task).count()
    print(f"floor (INSERT … SELECT into a primary-key-only table): {floor_s:.2f} s for {floor_rows:,} rows")
    print(f"task_create (2 assignees, indexes, integrity triggers, counters): {task_s:.2f} s for {rows:,} rows")
    split = list(Assignment.objects.filter(task=task).order_by("id").values_list("assignee__email", "item_count"))
    print("split:", ", ".join(f"{email} {count:,}" for email, count in split))
    print(f"ratio: {task_s / floor_s:.2f} (goal ≤ 3) · {rows / task_s:,.0f} rows/s")
    if connection.vendor == "sqlite":
        # SQLite works inside this process: its CPU time is the work, whatever else the machine runs.
        cpu_floor, cpu_task = min(floor_cpus), min(create_cpus)
        print(f"cpu time: floor {cpu_floor:.2f} s · task_create {cpu_task:.2f} s · ratio {cpu_task / cpu_floor:.2f}")
    # As a job runs it: watched, so the rows go in runs and the progress bar moves.
    drop_task(task)
    updates = []
    job_s, task, _ = create(dataset, people, args.repeat, progress=lambda done, total: updates.append(done))
    print(
        f"task_create as a job (rows in runs, {len(set(updates))} progress steps): {job_s:.2f} s · "
        f"ratio to the floor {job_s / floor_s:.2f}"
    )
    if not args.keep:
        cleanup(dataset, task)
    print(f"FIGURE create_task items={n} floor_s={floor_s:.3f} service_s={task_s:.3f} ratio={task_s / floor_s:.2f}")


if __name__ == "__main__":
    main()
