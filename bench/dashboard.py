"""Benchmark: the task dashboard at a million items against a GROUP BY recount of the same numbers.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tb_dashbench .venv/bin/python bench/dashboard.py
    .venv/bin/python bench/dashboard.py                      # SQLite file /tmp/tb_dashbench.sqlite3, 100,000 items

Builds (once; --rebuild to start over) a project with 10 annotators and 2 reviewers, a task over N
items made by the core `task_create` (set-based INSERT … SELECT) with 10% of its items as consensus
items (two copies each), a realistic spread of statuses over the last 14 days written set-based, a QA
task over the done items with verdicts (60% approved, 5% discarded, 5% sent back for rework: the
parent copies cleared and flagged, one REWORK change record each), the consensus agreement of every
item whose copies are all done, active time per item, then `rebuild_counters` to make the counters,
the daily throughput, the QA tallies and the consensus tally right. A second task of 10,000 items is
the yardstick. Each dashboard is fetched through the Django test client (`--requests` times, after a
warm-up) and the same numbers (per status and assignment, sent back per annotator, agreement) are
recounted with GROUP BY.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskboard.settings")
os.environ.setdefault("DATABASE_URL", "sqlite:////tmp/tb_dashbench.sqlite3")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-" + "x" * 32)
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("SECURE_COOKIES", "0")
# Web processes keep their connection; reconnecting per request would time PostgreSQL's fork, not us.
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "600")
os.environ.setdefault("TASK_JOB_THRESHOLD", str(10**9))

import django  # noqa: E402

django.setup()

import datetime  # noqa: E402

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Sum  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from taskboard.accounts.models import User  # noqa: E402
from taskboard.annotation.creation import task_create  # noqa: E402
from taskboard.annotation.models import AnnotationTask, Assignment, HoldingChange, TaskItem  # noqa: E402
from taskboard.annotation.selection import Selection  # noqa: E402
from taskboard.annotation.spec import Consensus, TaskSpec, equal_people  # noqa: E402
from taskboard.dashboards import counters  # noqa: E402
from taskboard.dashboards.models import ConsensusTally, ReviewTally  # noqa: E402
from taskboard.datasets.models import Dataset, Item, Recipe  # noqa: E402
from taskboard.projects.models import Membership, Project, Role  # noqa: E402

PEOPLE = 10
REVIEWERS = 2
DAYS = 14
PROJECT = "Dashboard bench"
# Bumped when the data the bench builds changes, so an old bench database builds the new tasks.
VERSION = 2
CONSENSUS_PERCENTAGE = 10


def log(msg):
    print(msg, flush=True)


def setup_people():
    project, _ = Project.objects.get_or_create(name=PROJECT)
    manager, _ = User.objects.get_or_create(email="bench-manager@example.com")
    Membership.objects.get_or_create(project=project, user=manager, defaults={"role": Role.MANAGER})
    people = []
    for n in range(PEOPLE):
        user, _ = User.objects.get_or_create(email=f"bench-annotator{n}@example.com")
        Membership.objects.get_or_create(project=project, user=user, defaults={"role": Role.ANNOTATOR})
        people.append(user)
    reviewers = []
    for n in range(REVIEWERS):
        user, _ = User.objects.get_or_create(email=f"bench-reviewer{n}@example.com")
        Membership.objects.get_or_create(project=project, user=user, defaults={"role": Role.REVIEWER})
        reviewers.append(user)
    return project, manager, people, reviewers


def insert_items(dataset, folder: str, n: int) -> None:
    """n items in `folder`, set-based."""
    table = Item._meta.db_table
    now = timezone.now()
    if connection.vendor == "postgresql":
        sql = (
            f"INSERT INTO {table} (dataset_id, dir, name, filename, mimetype, metadata, file, url, annotated, "
            f"created_at) SELECT %s, %s, 'img' || lpad(g::text, 7, '0') || '.jpg', "
            f"%s || '/img' || lpad(g::text, 7, '0') || '.jpg', 'image/jpeg', '{{}}'::jsonb, '', '', false, %s "
            f"FROM generate_series(1, %s) g"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [dataset.pk, folder, folder, now, n])
        return
    rows = (
        Item(dataset=dataset, dir=folder, name=f"img{i:07d}.jpg", filename=f"{folder}/img{i:07d}.jpg")
        for i in range(1, n + 1)
    )
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == 20_000:
            Item.objects.bulk_create(batch)
            batch = []
    Item.objects.bulk_create(batch)


def spread_statuses(task) -> None:
    """About 55% done (50% completed, 5% discard), faster people doing more, over the last 14 days."""
    now = timezone.now()
    day_cases = " ".join(f"WHEN {d} THEN %s" for d in range(DAYS))
    day_params = [now - datetime.timedelta(days=d, hours=1) for d in range(DAYS)]
    table = TaskItem._meta.db_table
    for n, a in enumerate(Assignment.objects.filter(task=task, kind="work").order_by("pk")):
        share = 35 + 4 * n  # 35% .. 71% of each person's items have a status
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET status = CASE WHEN (id * 7919) %% 100 < %s THEN 'discard' ELSE 'completed' END, "
                f"status_by_id = %s, status_at = CASE (id %% {DAYS}) {day_cases} END "
                f"WHERE assignment_id = %s AND (id * 104729) %% 100 < %s",
                [share // 10, a.assignee_id, *day_params, a.pk, share],
            )


def analyze() -> None:
    """Fresh statistics after bulk writes: without them PostgreSQL plans the QA joins below as nested
    loops over a million rows each."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            for table in (TaskItem, HoldingChange, "work_itemtime", "work_consensusresult"):
                cursor.execute(f"ANALYZE {table if isinstance(table, str) else table._meta.db_table}")


def make_qa(task, manager, reviewers) -> AnnotationTask:
    """The QA task over the parent's items with a status (the core's set-based creation)."""
    spec = TaskSpec(
        dataset_id=task.dataset_id,
        name=f"{task.name}_qa",
        type="qa",
        parent_id=task.pk,
        people=equal_people(u.pk for u in reviewers),
        due_at=timezone.now() + datetime.timedelta(days=10),
        recipe_id=task.recipe_id,
    )
    return task_create(spec=spec, by=manager)


def review(task, qa) -> None:
    """The QA task's verdicts, set-based, as the QA loop leaves them: 65% judged (approved, 1 in 13 of
    them discarded), 5% sent back (the parent's copies cleared and flagged for rework, one REWORK
    change record per copy, the QA row waiting), the rest to review."""
    table, assignments = TaskItem._meta.db_table, Assignment._meta.db_table
    now = timezone.now()
    work_ids = list(Assignment.objects.filter(task=task, kind="work").values_list("pk", flat=True))
    marks = ", ".join(["%s"] * len(work_ids))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET status = CASE WHEN (id * 31) %% 13 = 0 THEN 'discard' ELSE 'approved' END, "
            f"status_by_id = (SELECT a.assignee_id FROM {assignments} a WHERE a.id = {table}.assignment_id), "
            f"status_at = %s WHERE task_id = %s AND (id * 7) %% 100 < 65",
            [now, qa.pk],
        )
        # Credited to whoever did the item in the parent (its first copy with a status), before rework.
        cursor.execute(
            f"INSERT INTO {ReviewTally._meta.db_table} (task_id, annotator_id, approved, first_pass, discarded, "
            f"sent_back) SELECT p.task_id, p.status_by_id, "
            f"SUM(CASE WHEN q.status = 'approved' THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN q.status = 'approved' THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN q.status = 'discard' THEN 1 ELSE 0 END), 0 "
            f"FROM {table} q JOIN {table} p ON p.task_id = %s AND p.item_id = q.item_id AND p.copy <= 1 "
            f"AND p.status_by_id IS NOT NULL WHERE q.task_id = %s AND q.status IS NOT NULL "
            f"GROUP BY p.task_id, p.status_by_id",
            [task.pk, qa.pk],
        )
        cursor.execute(
            f"UPDATE {table} SET rework = %s, comment = 'bench: tighter box' "
            f"WHERE task_id = %s AND status IS NULL AND (id * 7) %% 100 >= 95",
            [True, qa.pk],
        )
        cursor.execute(
            f"UPDATE {table} SET status = NULL, status_by_id = NULL, status_at = NULL, rework = %s, "
            f"comment = 'bench: tighter box' WHERE task_id = %s AND assignment_id IN ({marks}) AND item_id IN "
            f"(SELECT item_id FROM {table} WHERE task_id = %s AND rework = %s)",
            [True, task.pk, *work_ids, qa.pk, True],
        )
        cursor.execute(
            f"INSERT INTO {HoldingChange._meta.db_table} (task_id, item_id, kind, to_assignment_id, count, at, note) "
            f"SELECT task_id, item_id, 'rework', assignment_id, 1, %s, 'bench: tighter box' FROM {table} "
            f"WHERE task_id = %s AND rework = %s",
            [now, task.pk, True],
        )


def score_consensus(task) -> None:
    """The agreement of every consensus item whose copies all have a status (a quarter of them split)."""
    from django.apps import apps

    try:
        results = apps.get_model("work", "ConsensusResult")
    except LookupError:
        return
    empty = "'[]'::jsonb" if connection.vendor == "postgresql" else "'[]'"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {results._meta.db_table} (task_id, item_id, agreement, copies, majority, computed_at) "
            f"SELECT task_id, item_id, CASE WHEN item_id %% 4 = 0 THEN 0.5 ELSE 1.0 END, COUNT(*), {empty}, %s "
            f"FROM {TaskItem._meta.db_table} WHERE task_id = %s AND copy > 0 GROUP BY task_id, item_id "
            f"HAVING COUNT(status) = COUNT(*)",
            [timezone.now(), task.pk],
        )


def record_item_times(task) -> None:
    """Active time on every item that has a status (5 to 64 s), as the work view's heartbeats leave it."""
    from django.apps import apps

    try:
        item_time = apps.get_model("work", "ItemTime")
    except LookupError:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {item_time._meta.db_table} (user_id, task_id, assignment_id, item_id, active_seconds, "
            f"started_at, ended_at) SELECT status_by_id, task_id, assignment_id, item_id, 5 + (id %% 60), "
            f"status_at, status_at FROM {TaskItem._meta.db_table} WHERE task_id = %s AND status IS NOT NULL",
            [task.pk],
        )
    try:
        totals = apps.get_model("work", "AssignmentTime")
    except LookupError:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {totals._meta.db_table} "
            "(assignment_id, task_id, user_id, active_seconds, items, updated_at) "
            f"SELECT assignment_id, task_id, user_id, SUM(active_seconds), COUNT(*), MAX(ended_at) "
            f"FROM {item_time._meta.db_table} WHERE task_id = %s GROUP BY assignment_id, task_id, user_id",
            [task.pk],
        )


def build(size: int, project, manager, people, reviewers) -> AnnotationTask:
    name = f"bench-{size}-v{VERSION}"
    task = AnnotationTask.objects.filter(project=project, name=name).first()
    if task is not None and task.qa_tasks.exists():
        return task
    if task is not None:  # a build that was cut short: start that task again
        family = [task.pk, *task.qa_tasks.values_list("pk", flat=True)]
        TaskItem.objects.filter(task_id__in=family).delete()
        AnnotationTask.objects.filter(pk__in=family).delete()
    dataset, _ = Dataset.objects.get_or_create(project=project, name=f"bench-{size}")
    recipe, _ = Recipe.objects.get_or_create(dataset=dataset, name="default", defaults={"is_default": True})
    t0 = time.perf_counter()
    if not Item.objects.filter(dataset=dataset).exists():
        insert_items(dataset, "/bench", size)
    log(f"  {size:,} items in {time.perf_counter() - t0:.1f}s")
    t0 = time.perf_counter()
    spec = TaskSpec(
        dataset_id=dataset.pk,
        name=name,
        selection=Selection(mode="all"),
        people=equal_people(u.pk for u in people),
        due_at=timezone.now() + datetime.timedelta(days=10),
        recipe_id=recipe.pk,
        consensus=Consensus(percentage=CONSENSUS_PERCENTAGE, assignees=2),
    )
    task = task_create(spec=spec, by=manager)
    log(f"  task_create over {size:,} items in {time.perf_counter() - t0:.1f}s")
    # As if created three weeks ago, so the burn-down has history.
    AnnotationTask.objects.filter(pk=task.pk).update(created_at=timezone.now() - datetime.timedelta(days=21))
    t0 = time.perf_counter()
    with transaction.atomic():
        spread_statuses(task)
    log(f"  statuses spread in {time.perf_counter() - t0:.1f}s")
    t0 = time.perf_counter()
    analyze()
    qa = make_qa(task, manager, reviewers)
    analyze()
    with transaction.atomic():
        review(task, qa)
        score_consensus(task)
    log(f"  QA verdicts, rework and consensus agreement in {time.perf_counter() - t0:.1f}s")
    t0 = time.perf_counter()
    record_item_times(task)
    log(f"  active time recorded in {time.perf_counter() - t0:.1f}s")
    analyze()
    t0 = time.perf_counter()
    drift = counters.rebuild([task.pk, qa.pk])
    log(f"  rebuild_counters repaired {len(drift)} counters in {time.perf_counter() - t0:.1f}s")
    return AnnotationTask.objects.get(pk=task.pk)


CPU_MS: dict[str, list[float]] = {}


def timed(fns: dict, n: int) -> dict[str, list[float]]:
    """Wall-clock ms per call, the calls interleaved (a, b, a, b, …) so that both sizes meet the
    same load on a shared machine; a warm-up call each first (templates parsed, connection open).
    This process's CPU ms per call go to CPU_MS: on a busy machine they show the cost without the
    wait for a core (the database server's own time is not in them)."""
    for fn in fns.values():
        fn()
    out = {name: [] for name in fns}
    for name in fns:
        CPU_MS[name] = []
    for _ in range(n):
        for name, fn in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            out[name].append((time.perf_counter() - t0) * 1000)
            CPU_MS[name].append((time.process_time() - c0) * 1000)
    return out


def stats(ms: list[float]) -> tuple[float, float]:
    ms = sorted(ms)
    return statistics.median(ms), ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]


def recount(task_id: int):
    """The same numbers the dashboard shows, counted from the rows: per assignment and status, items
    sent back per annotator (the REWORK records), and the consensus agreement."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT assignment_id, status, COUNT(*) FROM {TaskItem._meta.db_table} WHERE task_id = %s "
            f"GROUP BY assignment_id, status",
            [task_id],
        )
        rows = cursor.fetchall()
        cursor.execute(
            f"SELECT to_assignment_id, COUNT(*) FROM {HoldingChange._meta.db_table} WHERE task_id = %s "
            f"AND kind = 'rework' GROUP BY to_assignment_id",
            [task_id],
        )
        rows += cursor.fetchall()
        cursor.execute(
            "SELECT COUNT(*), AVG(agreement), SUM(CASE WHEN agreement < 0.5 THEN 1 ELSE 0 END) "
            "FROM work_consensusresult WHERE task_id = %s",
            [task_id],
        )
        return rows + cursor.fetchall()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=None, help="default 1,000,000 on PostgreSQL, 100,000 on SQLite")
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--recounts", type=int, default=15)
    parser.add_argument("--rebuild", action="store_true", help="drop the bench project first")
    args = parser.parse_args()
    size = args.items or (1_000_000 if connection.vendor == "postgresql" else 100_000)
    log(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    call_command("migrate", verbosity=0)
    if args.rebuild:
        project = Project.objects.filter(name=PROJECT).first()
        if project is not None:
            ids = list(AnnotationTask.objects.filter(project=project).values_list("pk", flat=True))
            TaskItem.objects.filter(task_id__in=ids).delete()
            AnnotationTask.objects.filter(pk__in=ids).delete()
            project.delete()
    project, manager, people, reviewers = setup_people()
    log(f"building tasks of {args.small:,} and {size:,} items (once)")
    small = build(args.small, project, manager, people, reviewers)
    big = build(size, project, manager, people, reviewers)

    family = [small.pk, big.pk, *AnnotationTask.objects.filter(parent__in=[small, big]).values_list("pk", flat=True)]
    drift = counters.find_drift(family)
    log(f"drift check: {len(drift)} counters off")
    for label, task in (("small", small), ("big", big)):
        tallies = ReviewTally.objects.filter(task=task).aggregate(
            approved=Sum("approved"), discarded=Sum("discarded"), sent_back=Sum("sent_back")
        )
        consensus = ConsensusTally.objects.filter(task=task).first()
        log(
            f"  {label}: QA approved {tallies['approved'] or 0:,}, discarded {tallies['discarded'] or 0:,}, "
            f"sent back {tallies['sent_back'] or 0:,}; consensus items scored {consensus.items if consensus else 0:,}"
        )

    client = Client()
    client.force_login(manager)
    tasks = {"small": small, "big": big}
    sizes = {label: TaskItem.objects.filter(task=task).count() for label, task in tasks.items()}

    def page(task, **headers):
        url = reverse("dashboards:task", args=[task.pk])

        def get():
            response = client.get(url, headers=headers)
            assert response.status_code == 200, response.status_code

        return get

    pages = timed({label: page(task) for label, task in tasks.items()}, args.requests)
    page_cpu = {label: statistics.median(ms) for label, ms in CPU_MS.items()}
    fragments = timed({label: page(task, **{"HX-Request": "true"}) for label, task in tasks.items()}, args.requests)
    recounts = timed({label: (lambda task=task: recount(task.pk)) for label, task in tasks.items()}, args.recounts)
    for label in tasks:
        p, f, c = stats(pages[label]), stats(fragments[label]), stats(recounts[label])
        log(
            f"{sizes[label]:>9,} items | dashboard page median {p[0]:6.1f} ms p95 {p[1]:6.1f} ms "
            f"(CPU {page_cpu[label]:4.1f} ms) | "
            f"live fragment median {f[0]:6.1f} ms p95 {f[1]:6.1f} ms | "
            f"GROUP BY recount median {c[0]:7.1f} ms p95 {c[1]:7.1f} ms | recount / dashboard {c[0] / p[0]:5.1f}x"
        )
    big_median, small_median = stats(pages["big"])[0], stats(pages["small"])[0]
    log(
        f"dashboard median at {sizes['big']:,} vs {sizes['small']:,} items: {big_median:.1f} / {small_median:.1f} ms "
        f"= {big_median / small_median:.2f} ({'within' if big_median <= 1.2 * small_median else 'NOT within'} 20%); "
        f"goal median < 50 ms: {'met' if big_median < 50 else 'NOT met'}; "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    log(
        f"FIGURE dashboard items={sizes['big']} median_ms={big_median:.1f} small_median_ms={small_median:.1f} "
        f"size_ratio={big_median / small_median:.2f}"
    )


if __name__ == "__main__":
    main()
