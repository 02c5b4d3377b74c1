"""Benchmark: bulk status over a DQL filter, the service against a raw UPDATE of the same rows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tb_statusbench .venv/bin/python bench/bulk_status.py

PostgreSQL only. Builds, fresh on every run, a dataset of N items (default 1,000,000) in folder
/q (plus N/10 in /other, which the filter must leave alone) and a distributed task over all of
them (the items by one `INSERT … SELECT generate_series`, the task by the core `task_create`).
Then, alternately, `--rounds` times each (VACUUM ANALYZE before every run):

- floor: `UPDATE task_item SET status = …, status_by_id = …, status_at = now() WHERE task_id = … AND
  item_id IN (SELECT id FROM item WHERE dataset_id = … AND dir = '/q')`, the least any bulk status
  must write;
- service: `taskboard.annotation.bulk_status.items_status_set` with the DQL filter {"dir": "/q"},
  one call as the page and the API make it: the rows, their values before (for undo), the status log,
  the counters and the task's state.

Each run sets a status different from the one before, so every matched row changes. Prints each
run, the best of each, the counters' drift after, and the last line
`FIGURE bulk_status items=N floor_s=… service_s=… ratio=… drift=0`. No goal set by an issue; the
bulk priority's (ratio ≤ 3) is the yardstick, though this writes three times the rows it changes.

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
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/tb_statusbench")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-" + "x" * 32)
os.environ.setdefault("ALLOWED_HOSTS", "testserver")
os.environ.setdefault("TASK_JOB_THRESHOLD", str(10**9))

import django  # noqa: E402

django.setup()


from django.db import connection  # noqa: E402
from pgbench_setup import REPORTS, bulk_task, log, reset_database, vacuum  # noqa: E402

from taskboard.annotation.bulk_status import items_status_set  # noqa: E402
from taskboard.annotation.models import TaskItem  # noqa: E402
from taskboard.annotation.selection import Selection  # noqa: E402
from taskboard.dashboards.counters import find_drift  # noqa: E402
from taskboard.datasets.models import Item  # noqa: E402

TI = TaskItem._meta.db_table
IT = Item._meta.db_table
PREFIX = "tb_statusbench"


def floor(task, dataset, manager, value: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {TI} SET status = %s, status_by_id = %s, status_at = now() WHERE task_id = %s AND item_id IN "
            f"(SELECT id FROM {IT} WHERE dataset_id = %s AND dir = %s)",
            [value, manager.pk, task.pk, dataset.pk, "/q"],
        )
        n = cursor.rowcount
    return time.perf_counter() - t0, n


def service(task, manager, value: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    selection = Selection(mode="filter", dql={"dir": "/q"})
    operation = items_status_set(task=task, selection=selection, status=value, by=manager, progress=REPORTS.report())
    return time.perf_counter() - t0, operation.count if operation is not None else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--job", action="store_true", help="call the service as a bulk job does (runs, progress)")
    args = parser.parse_args()
    REPORTS.watched = args.job
    if connection.vendor != "postgresql":
        raise SystemExit(f"bench/bulk_status.py measures PostgreSQL; set DATABASE_URL=postgres://…/{PREFIX}")
    log(f"database: {connection.settings_dict['NAME']} · {args.items:,} items · {args.rounds} rounds")
    reset_database(PREFIX)
    task, dataset, manager = bulk_task(args.items, name="Bulk status")
    floors: list[float] = []
    services: list[float] = []
    statuses = ["completed", "discard"]
    runs = 0
    for r in range(args.rounds):
        # The floor runs in a transaction rolled back after, so it leaves the counters true.
        for mode in ("floor", "service"):
            value = statuses[runs % 2] if mode == "service" else statuses[(runs + 1) % 2]
            vacuum(TI, IT)
            if mode == "floor":
                connection.set_autocommit(False)
                seconds, n = floor(task, dataset, manager, value)
                connection.rollback()
                connection.set_autocommit(True)
                floors.append(seconds)
            else:
                seconds, n = service(task, manager, value)
                services.append(seconds)
                runs += 1
            log(f"  round {r + 1} {mode:<8} {seconds:7.2f}s  {n:,} rows -> {value}")
            if n != args.items:
                raise SystemExit(f"{mode} changed {n:,} rows, expected {args.items:,}")
    untouched = TaskItem.objects.filter(task=task, item__dir="/other", status__isnull=False).count()
    if untouched:
        raise SystemExit(f"{untouched} rows outside the filter changed")
    drift = len(find_drift([task.pk]))
    best_floor, best_service = min(floors), min(services)
    ratio = best_service / best_floor
    log(f"best: floor {best_floor:.2f}s, service {best_service:.2f}s, ratio {ratio:.2f}, drift {drift}")
    log(
        f"FIGURE bulk_status items={args.items} floor_s={best_floor:.2f} service_s={best_service:.2f} "
        f"ratio={ratio:.2f} drift={drift}" + REPORTS.suffix()
    )


if __name__ == "__main__":
    main()
