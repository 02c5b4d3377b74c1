"""Time a manifest import against the floor: the database taking the same rows raw.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/tb_bench .venv/bin/python bench/import_items.py
    .venv/bin/python bench/import_items.py                      # SQLite (the checkout's file)

Writes a CSV manifest of N rows (filename, URL, a little metadata) to a temporary file, then times:

- the floor: the same rows, already in the database's own input form, into a table shaped like
  datasets_item with only a primary key: `COPY … FROM STDIN` on PostgreSQL, `INSERT … SELECT …
  FROM json_each(?)` over batches of 10,000 on SQLite (the input is prepared on disk untimed);
- the import: `import_manifest` from the file on disk into a fresh dataset (parsing, checking,
  the indexes and the uniqueness of filenames, the signal);
- the import and then `task_create` over all of it for two assignees, into another fresh dataset.

N defaults to 1,000,000 on PostgreSQL and 100,000 on SQLite. Peak memory is the process's
largest resident size, read after each step: the import holds one batch of rows, so it stays
flat as N grows. The database must be migrated (`DEBUG=1 manage.py migrate`).
"""

import argparse
import json
import os
import resource
import sys
import tempfile
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
from taskboard.annotation.selection import Selection  # noqa: E402
from taskboard.annotation.spec import TaskSpec, equal_people  # noqa: E402
from taskboard.datasets.importing import import_manifest  # noqa: E402
from taskboard.datasets.models import Dataset, Item, Recipe  # noqa: E402
from taskboard.projects.models import Membership, Project, Role  # noqa: E402

PER_FOLDER = 1000
FLOOR_BATCH = 10_000


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def row(i: int) -> tuple[str, str, str, str, str]:
    """(dir, name, filename, url, metadata) of the i-th row."""
    dir_ = f"/site{i // (PER_FOLDER * 10):04d}/cam{(i // PER_FOLDER) % 10}"
    name = f"img{i:07d}.jpg"
    return dir_, name, f"{dir_}/{name}", f"https://cdn.example.com{dir_}/{name}", f'{{"batch": {i // PER_FOLDER}}}'


def write_manifest(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write("filename,url,metadata\n")
        for i in range(n):
            _, _, filename, url, metadata = row(i)
            out.write(f'{filename},{url},"{metadata.replace(chr(34), chr(34) * 2)}"\n')


def write_floor_input(path: Path, n: int, stamp: str) -> None:
    """The rows as the floor statement takes them: COPY text lines, or one JSON array per batch."""
    with path.open("w", encoding="utf-8") as out:
        if connection.vendor == "postgresql":
            for i in range(n):
                dir_, name, filename, url, metadata = row(i)
                out.write(f"1\t{dir_}\t{name}\t{filename}\timage/jpeg\t{url}\t{metadata}\t\tf\t{stamp}\n")
        else:
            for start in range(0, n, FLOOR_BATCH):
                out.write(json.dumps([row(i) for i in range(start, min(n, start + FLOOR_BATCH))]) + "\n")


def setup():
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
    return project, people


def fresh_dataset(project, n: int) -> Dataset:
    dataset = Dataset.objects.create(project=project, name=f"bench-import-{n}-{time.time_ns()}")
    Recipe.objects.create(dataset=dataset, name="default", is_default=True)
    return dataset


def server_cpu() -> float | None:
    """The PostgreSQL backend's CPU seconds so far, when it runs on this machine and /proc shows it."""
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _spent(before: float | None) -> float | None:
    after = server_cpu()
    return after - before if before is not None and after is not None else None


def checkpoint():
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT" if connection.vendor == "postgresql" else "PRAGMA wal_checkpoint(TRUNCATE)")


def floor(path: Path, dataset_id: int | None = None) -> tuple[float, int, float, float | None]:
    """The floor; with `dataset_id` (PostgreSQL), the same COPY into a copy of the items table with its
    indexes (its dataset is checked by a statement trigger, which LIKE does not copy): what the table
    itself costs, for comparison."""
    pk = "bigserial PRIMARY KEY" if connection.vendor == "postgresql" else "INTEGER PRIMARY KEY AUTOINCREMENT"
    metadata = "jsonb" if connection.vendor == "postgresql" else "text CHECK (json_valid(metadata))"
    columns = "dataset_id, dir, name, filename, mimetype, url, metadata, file, annotated, created_at"
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_import_floor")
        if dataset_id is not None:
            cursor.execute("CREATE TABLE bench_import_floor (LIKE datasets_item INCLUDING ALL)")
            rows_of_dataset = path.with_suffix(f".{dataset_id}")
            with rows_of_dataset.open("w") as out, path.open() as source:
                for line in source:
                    out.write(f"{dataset_id}{line[1:]}")  # the input names dataset 1
            path = rows_of_dataset
        else:
            cursor.execute(
                f"CREATE TABLE bench_import_floor (id {pk}, dataset_id bigint NOT NULL, dir varchar(1000) NOT NULL, "
                "name varchar(255) NOT NULL, filename varchar(1256) NOT NULL, mimetype varchar(100) NOT NULL, "
                f"url varchar(2000) NOT NULL, metadata {metadata} NOT NULL, file varchar(100) NOT NULL, "
                "annotated boolean NOT NULL, created_at timestamp with time zone NOT NULL)"
            )
    checkpoint()
    server = server_cpu()
    started, cpu = time.perf_counter(), time.process_time()
    with transaction.atomic():
        connection.ensure_connection()
        cursor = connection.connection.cursor()
        with path.open("rb" if connection.vendor == "postgresql" else "r") as source:
            if connection.vendor == "postgresql":
                with cursor.copy(f"COPY bench_import_floor ({columns}) FROM STDIN") as copy:
                    while chunk := source.read(1 << 20):
                        copy.write(chunk)
            else:
                stamp = connection.ops.adapt_datetimefield_value(timezone.now())
                for line in source:
                    cursor.execute(
                        f"INSERT INTO bench_import_floor ({columns}) SELECT 1, value->>0, value->>1, value->>2, "
                        f"'image/jpeg', value->>3, value->>4, '', 0, '{stamp}' FROM json_each(?)",
                        (line,),
                    )
        cursor.execute("SELECT count(*) FROM bench_import_floor")
        rows = cursor.fetchone()[0]
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    server_spent = _spent(server)
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_import_floor")
    return elapsed, rows, cpu, server_spent


def run_import(dataset, manifest: Path, by) -> tuple[float, int, float, float | None]:
    checkpoint()
    server = server_cpu()
    started, cpu = time.perf_counter(), time.process_time()
    with manifest.open("rb") as source:
        result = import_manifest(dataset=dataset, source=source, by=by)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return elapsed, result.created, cpu, _spent(server)


def run_task(dataset, people) -> float:
    manager, a1, a2 = people
    started = time.perf_counter()
    spec = TaskSpec(
        dataset_id=dataset.pk,
        name=f"bench {dataset.name}",
        due_at=timezone.now() + timezone.timedelta(days=7),
        selection=Selection(mode="all"),
        people=equal_people([a1.pk, a2.pk]),
    )
    task_create(spec=spec, by=manager)
    return time.perf_counter() - started


def cleanup(dataset):
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM annotation_taskitem WHERE task_id IN (SELECT id FROM annotation_annotationtask "
            "WHERE dataset_id = %s)",
            [dataset.pk],
        )
        cursor.execute("DELETE FROM datasets_item WHERE dataset_id = %s", [dataset.pk])
        dataset.tasks.all().delete()
        dataset.delete()


def main():
    default = 1_000_000 if connection.vendor == "postgresql" else 100_000
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=default)
    parser.add_argument("--repeat", type=int, default=1, help="time the floor and the import this many times")
    parser.add_argument("--keep", action="store_true", help="keep the datasets afterwards")
    args = parser.parse_args()
    n = args.items
    print(f"database: {connection.vendor} · items: {n:,} · load average {os.getloadavg()[0]:.2f}", flush=True)
    project, people = setup()
    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        manifest, floor_input = Path(folder) / "manifest.csv", Path(folder) / "floor.input"
        write_manifest(manifest, n)
        write_floor_input(floor_input, n, timezone.now().isoformat())
        print(f"manifest: {manifest.stat().st_size / 2**20:.1f} MiB on disk · peak memory so far {peak_mib():.0f} MiB")
        floors, imports, floor_cpus, import_cpus, servers = [], [], [], [], []
        for run in range(args.repeat):
            floor_s, floor_rows, floor_cpu, floor_server = floor(floor_input)
            dataset = fresh_dataset(project, n)
            before = peak_mib()
            import_s, created, import_cpu, import_server = run_import(dataset, manifest, people[0])
            servers.append((floor_server, import_server, import_cpu))
            after = peak_mib()
            assert created == n == floor_rows == Item.objects.filter(dataset=dataset).count()
            if not args.keep:
                cleanup(dataset)
            (
                floors.append(floor_s),
                imports.append(import_s),
                floor_cpus.append(floor_cpu),
                import_cpus.append(import_cpu),
            )
            print(f"run {run + 1}: floor {floor_s:.2f} s · import {import_s:.2f} s", flush=True)
        dataset = fresh_dataset(project, n)
        table_floor_s = floor(floor_input, dataset.pk)[0] if connection.vendor == "postgresql" else None
        import_again_s = run_import(dataset, manifest, people[0])[0]
        task_s = run_task(dataset, people)
        if not args.keep:
            cleanup(dataset)
    floor_s, import_s = min(floors), min(imports)
    with_task_s = import_again_s + task_s
    print(f"floor (raw rows into a primary-key-only table): {floor_s:.2f} s · {n / floor_s:,.0f} rows/s")
    print(f"import (manifest on disk → items, checked, indexed): {import_s:.2f} s · {n / import_s:,.0f} rows/s")
    print(f"import then task for two assignees: {import_again_s:.2f} s + {task_s:.2f} s = {with_task_s:.2f} s")
    print(f"ratio: {import_s / floor_s:.2f} (goal ≤ 3)")
    if table_floor_s:
        print(
            f"the same COPY into a copy of the items table (its indexes): {table_floor_s:.2f} s "
            f"· the import takes {import_s / table_floor_s:.2f} times that"
        )
    if connection.vendor == "sqlite":
        # SQLite works inside this process: its CPU time is the work, whatever else the machine runs.
        floor_cpu, import_cpu = min(floor_cpus), min(import_cpus)
        print(f"cpu time: floor {floor_cpu:.2f} s · import {import_cpu:.2f} s · ratio {import_cpu / floor_cpu:.2f}")
    if all(floor_server and import_server for floor_server, import_server, _ in servers):
        # The server's own CPU time barely moves with the machine's load; on a shared machine the wall
        # times do, and the import (the client parsing too) loses more to it than the floor.
        # The least of each, as for the wall times.
        floor_server, import_server, client = (min(spent) for spent in zip(*servers, strict=True))
        print(
            f"server cpu time: floor {floor_server:.2f} s · import {import_server:.2f} s "
            f"(client {client:.2f} s) · ratio {import_server / floor_server:.2f}"
        )
    print(f"peak memory: {after:.0f} MiB after the import, {before:.0f} MiB before it (resident, the whole process)")
    print(
        f"FIGURE import_items items={n} floor_s={floor_s:.3f} import_s={import_s:.3f} "
        f"ratio={import_s / floor_s:.2f} with_task_s={with_task_s:.3f}"
    )


if __name__ == "__main__":
    main()
