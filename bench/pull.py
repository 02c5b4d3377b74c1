"""Benchmark: pulling batches of 10 from a queue of 1,000,000 items, the service against raw SQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tb_pullbench .venv/bin/python bench/pull.py

PostgreSQL only (SKIP LOCKED is what is measured). Builds, fresh on every run, one pulling task
(batch 10, max workload 20) whose N items (default 1,000,000) wait in the queue: the items by one
`INSERT … SELECT generate_series`, the task by the core `task_create`. Then, in the same run:

1. service: P processes (default 20, each its own connection) call
   `taskboard.annotation.pulling.pulling_claim` for `--seconds`;
2. raw: P processes run `UPDATE … WHERE id IN (SELECT … ORDER BY rank LIMIT 10 FOR UPDATE SKIP LOCKED)`
   against the same queue for the same time.

3. lease: the task's lease is cut to `--lease-seconds` (default 3); a quarter of P fresh holders
   claim a batch, complete one item and vanish; the other holders pull through the service for
   `--seconds` as in phase 1. Their claims sweep the expired batches back to the queue.

Between two claims each process marks what it holds as completed (not timed, the same in both
loops), so the pulling rule (undone ≤ max − batch) lets it claim again. VACUUM ANALYZE runs before
each phase so neither inherits the other's dead index entries. Prints claims/s, p50 and p99 per
phase, the ratio service/raw, the claim query's plan, how many items two people got (must be 0:
two rows, or a second claim of an item never given back), and how many items are still held by a
lease that expired `grace` seconds before the end (min(60, seconds/2); must be 0).
"""

import argparse
import multiprocessing
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "taskboard.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tb_pullbench")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-" + "x" * 32)
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("TASK_JOB_THRESHOLD", str(10**9))
os.environ.setdefault("DATABASE_CONN_MAX_AGE", "600")

import django  # noqa: E402

django.setup()

import datetime  # noqa: E402

from django.db import connection, connections  # noqa: E402
from django.utils import timezone  # noqa: E402
from pgbench_setup import log, reset_database  # noqa: E402

from taskboard.accounts.models import User  # noqa: E402
from taskboard.annotation.creation import task_create  # noqa: E402
from taskboard.annotation.models import (  # noqa: E402
    AnnotationTask,
    Assignment,
    AssignmentKind,
    ChangeKind,
    HoldingChange,
    StatusCount,
    TaskItem,
)
from taskboard.annotation.pulling import pulling_claim  # noqa: E402
from taskboard.annotation.selection import Selection  # noqa: E402
from taskboard.annotation.spec import Pulling, TaskSpec, equal_people  # noqa: E402
from taskboard.datasets.models import Dataset, Item, Recipe  # noqa: E402
from taskboard.projects.models import Membership, Project, Role  # noqa: E402

TI = TaskItem._meta.db_table
BATCH = 10
MAX_WORKLOAD = 20


def build(n: int, processes: int):
    project = Project.objects.create(name="Pull bench")
    manager = User.objects.create_user("bench-manager@example.com", "pw")
    Membership.objects.create(project=project, user=manager, role=Role.MANAGER)
    people = [User.objects.create_user(f"puller{i}@example.com", "pw") for i in range(3 * processes)]
    Membership.objects.bulk_create(Membership(project=project, user=u, role=Role.ANNOTATOR) for u in people)
    dataset = Dataset.objects.create(project=project, name="queue")
    recipe = Recipe.objects.create(dataset=dataset, name="default", is_default=True)
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Item._meta.db_table} (dataset_id, dir, name, filename, mimetype, metadata, file, url, "
            f"annotated, created_at) SELECT %s, '/q', 'img' || lpad(g::text, 7, '0') || '.jpg', "
            f"'/q/img' || lpad(g::text, 7, '0') || '.jpg', 'image/jpeg', '{{}}'::jsonb, '', '', false, now() "
            f"FROM generate_series(1, %s) g",
            [dataset.pk, n],
        )
    log(f"  {n:,} items in {time.perf_counter() - t0:.1f}s")
    t0 = time.perf_counter()
    spec = TaskSpec(
        dataset_id=dataset.pk,
        name="Pull",
        selection=Selection(mode="all"),
        people=equal_people(u.pk for u in people[:processes]),
        due_at=timezone.now() + datetime.timedelta(days=10),
        recipe_id=recipe.pk,
        pulling=Pulling(batch_size=BATCH, max_batch_workload=MAX_WORKLOAD),
    )
    task = task_create(spec=spec, by=manager)
    queued = TaskItem.objects.filter(task=task, in_queue=True).count()
    log(f"  pulling task_create in {time.perf_counter() - t0:.1f}s: {queued:,} queued")
    # The other loops only need somewhere to put what they claim: plain work assignments.
    extra = Assignment.objects.bulk_create(
        Assignment(task=task, assignee=u, kind=AssignmentKind.WORK) for u in people[processes:]
    )
    StatusCount.objects.bulk_create(
        StatusCount(assignment=a, status=key, count=0) for a in extra for key in ("completed", "discard")
    )
    groups = [people[i * processes : (i + 1) * processes] for i in range(3)]
    return task, groups


def vacuum() -> None:
    old = connection.connection.autocommit if connection.connection else None
    connection.ensure_connection()
    connection.connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f"VACUUM ANALYZE {TI}")
        cursor.execute(f"VACUUM ANALYZE {StatusCount._meta.db_table}")
        cursor.execute(f"VACUUM ANALYZE {Assignment._meta.db_table}")
    if old is not None:
        connection.connection.autocommit = old


def mark_done(assignment_id: int, user_id: int) -> None:
    """Untimed, identical in both loops: what the person holds becomes completed."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TI} SET status = 'completed', status_by_id = %s, status_at = now() "
            f"WHERE assignment_id = %s AND status IS NULL",
            [user_id, assignment_id],
        )
        n = cursor.rowcount
        if n:
            cursor.execute(
                f"UPDATE {StatusCount._meta.db_table} SET count = count + %s WHERE assignment_id = %s "
                f"AND status = 'completed'",
                [n, assignment_id],
            )


RAW_SQL = (
    f"UPDATE {TI} SET assignment_id = %s, in_queue = false WHERE id IN ("
    f"SELECT id FROM {TI} WHERE task_id = %s AND in_queue ORDER BY priority DESC, rank LIMIT {BATCH} "
    f"FOR UPDATE SKIP LOCKED"
    f") RETURNING item_id"
)


def vanish(assignment_id: int, user_id: int) -> None:
    """A holder who completes one item of their batch and is never seen again."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TI} SET status = 'completed', status_by_id = %s, status_at = now() WHERE id = ("
            f"SELECT id FROM {TI} WHERE assignment_id = %s AND status IS NULL ORDER BY rank LIMIT 1)",
            [user_id, assignment_id],
        )
        cursor.execute(
            f"UPDATE {StatusCount._meta.db_table} SET count = count + %s WHERE assignment_id = %s "
            f"AND status = 'completed'",
            [cursor.rowcount, assignment_id],
        )


def worker(mode: str, task_id: int, user_id: int, start_at: float, seconds: float, out) -> None:
    connections.close_all()  # never share the parent's socket
    task = AnnotationTask.objects.get(pk=task_id)
    user = User.objects.get(pk=user_id)
    assignment = Assignment.objects.get(task=task, assignee=user, kind=AssignmentKind.WORK)
    latencies: list[float] = []
    claimed: list[int] = []
    mark_done(assignment.pk, user_id)
    while time.time() < start_at:
        time.sleep(0.001)
    if mode == "vanish":
        t0 = time.perf_counter()
        n = pulling_claim(task=task, user=user)
        latencies.append((time.perf_counter() - t0) * 1000)
        vanish(assignment.pk, user_id)
        connections.close_all()
        out.put(("vanish", latencies, n, 1 if n else 0))
        return
    deadline = start_at + seconds
    while time.time() < deadline:
        t0 = time.perf_counter()
        if mode in ("service", "lease"):
            n = pulling_claim(task=task, user=user)
        else:
            with connection.cursor() as cursor:
                cursor.execute(RAW_SQL, [assignment.pk, task_id])
                n = cursor.rowcount
        latencies.append((time.perf_counter() - t0) * 1000)
        if not n:
            continue
        claimed.append(n)
        mark_done(assignment.pk, user_id)
    connections.close_all()
    out.put((mode, latencies, sum(claimed), len(claimed)))


def phase(mode: str, task, people, seconds: float, vanishers=()) -> dict:
    vacuum()
    connections.close_all()
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    start_at = time.time() + 2.0
    procs = [ctx.Process(target=worker, args=(mode, task.pk, u.pk, start_at, seconds, out)) for u in people]
    # Vanishing holders claim first (a little before the others start) and are gone.
    procs += [
        ctx.Process(target=worker, args=("vanish", task.pk, u.pk, start_at - 1.0, seconds, out)) for u in vanishers
    ]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    results = [r[1:] for r in results if r[0] == mode]  # the vanishers' single claims are not timed
    latencies = sorted(ms for r in results for ms in r[0])
    claims = sum(r[2] for r in results)
    items = sum(r[1] for r in results)
    return {
        "mode": mode,
        "claims": claims,
        "items": items,
        "claims_per_s": claims / seconds,
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p99": latencies[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))] if latencies else float("nan"),
        "empty": len(latencies) - claims,
    }


def claim_plan(task, user) -> str:
    """EXPLAIN of the SQL the service actually runs, captured while it runs."""
    captured: list[tuple[str, list]] = []

    def capture(execute, sql, params, many, context):
        if "in_queue" in sql and sql.lstrip().upper().startswith(("UPDATE", "WITH")):
            captured.append((sql, params))
        return execute(sql, params, many, context)

    assignment = Assignment.objects.get(task=task, assignee=user)
    mark_done(assignment.pk, user.pk)
    with connection.execute_wrapper(capture):
        pulling_claim(task=task, user=user)
    sql, params = captured[0]
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def doubles(task) -> tuple[int, int]:
    """(items with two rows in the task, items claimed again while still held: more claims than
    returns to the queue plus one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM (SELECT item_id FROM {TI} WHERE task_id = %s GROUP BY item_id "
            f"HAVING count(*) > 1) d",
            [task.pk],
        )
        rows_twice = cursor.fetchone()[0]
    given = Counter(
        HoldingChange.objects.filter(task=task, kind=ChangeKind.CLAIM)
        .values_list("item_id", flat=True)
        .iterator(chunk_size=50_000)
    )
    given.subtract(
        HoldingChange.objects.filter(task=task, kind__in=[ChangeKind.EXPIRE, ChangeKind.RELEASE])
        .values_list("item_id", flat=True)
        .iterator(chunk_size=50_000)
    )
    return rows_twice, sum(1 for n in given.values() if n > 1)


def held_past_expiry(task, grace: float) -> tuple[int, int]:
    """(items still held, unstarted, by a lease that expired `grace` seconds ago or more; items the
    expired leases gave back)."""
    cutoff = timezone.now() - datetime.timedelta(seconds=grace)
    held = TaskItem.objects.filter(
        task=task, lease__ended_at__isnull=True, lease__expires_at__lte=cutoff, status__isnull=True, in_queue=False
    ).count()
    returned = HoldingChange.objects.filter(task=task, kind=ChangeKind.EXPIRE).count()
    return held, returned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--processes", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--lease-seconds", type=int, default=3)
    args = parser.parse_args()
    if connection.vendor != "postgresql":
        raise SystemExit("bench/pull.py measures PostgreSQL's SKIP LOCKED; set DATABASE_URL=postgres://…/tb_pullbench")
    log(
        f"database: {connection.settings_dict['NAME']} · {args.items:,} items · {args.processes} processes · "
        f"{args.seconds:.0f}s per phase"
    )
    reset_database("tb_pullbench")
    task, (service_people, raw_people, lease_people) = build(args.items, args.processes)
    plan = claim_plan(task, service_people[0])
    log("claim query plan (service):\n  " + plan.replace("\n", "\n  "))
    results = [phase("service", task, service_people, args.seconds), phase("raw", task, raw_people, args.seconds)]
    AnnotationTask.objects.filter(pk=task.pk).update(lease_seconds=args.lease_seconds)
    task.refresh_from_db()
    vanishing = max(1, args.processes // 4)
    results.append(phase("lease", task, lease_people[vanishing:], args.seconds, vanishers=lease_people[:vanishing]))
    grace = min(60.0, args.seconds / 2)
    held_late, returned = held_past_expiry(task, grace)
    log("")
    log(f"{'loop':<25} {'claims':>8} {'items':>9} {'claims/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'empty':>6}")
    for r in results:
        log(
            f"{r['mode']:<25} {r['claims']:>8,} {r['items']:>9,} {r['claims_per_s']:>9.1f} {r['p50']:>8.1f} "
            f"{r['p99']:>8.1f} {r['empty']:>6}"
        )
    service, raw = results[:2]
    ratio = service["claims_per_s"] / raw["claims_per_s"] if raw["claims_per_s"] else float("nan")
    rows_twice, held_twice = doubles(task)
    log(f"ratio service/raw: {ratio:.2f} (goal >= 0.5); service p99 {service['p99']:.1f} ms (goal <= 100)")
    log(f"items held by two people: {held_twice + rows_twice} (rows twice in the task: {rows_twice})")
    uses_index = "task_item_queue" in plan
    log(f"claim plan uses task_item_queue: {uses_index}")
    log(
        f"lease phase: {vanishing} holders vanished mid-batch (lease {args.lease_seconds}s); {returned} items "
        f"came back from expired leases; held {grace:.0f}s or more past expiry: {held_late}"
    )
    log(
        f"FIGURE pull claims_per_s={service['claims_per_s']:.1f} ratio={ratio:.2f} p99_ms={service['p99']:.1f} "
        f"doubles={held_twice + rows_twice} held_past_expiry={held_late} returned={returned} "
        f"lease_claims_per_s={results[2]['claims_per_s']:.1f}"
    )


if __name__ == "__main__":
    main()
