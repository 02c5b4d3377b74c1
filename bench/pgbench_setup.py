"""What the PostgreSQL benchmarks share once Django is set up: a database of their own, made afresh,
and items written straight in as the floor's rows are. Imported after `django.setup()`."""

from django.core.management import call_command
from django.db import connection, connections

from taskboard.datasets.models import Item

ITEM_TABLE = Item._meta.db_table


def log(msg: str) -> None:
    print(msg, flush=True)


def reset_database(prefix: str) -> None:
    """The bench owns its database: drop and recreate it, then migrate. Only a database whose name
    starts with `prefix` is ever dropped."""
    import psycopg

    settings = connection.settings_dict
    name = settings["NAME"]
    if not name.startswith(prefix):
        raise SystemExit(f"refusing to drop {name!r}: the bench only drops databases named {prefix}*")
    connections.close_all()
    host, port = settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
    with psycopg.connect(f"host={host} port={port} user={settings['USER']} dbname=postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    call_command("migrate", verbosity=0)


def insert_items(dataset_id: int, folder: str, n: int, *, digits: int = 8) -> None:
    """`n` image items in `folder`, named img0000001.jpg and on, in one INSERT … SELECT."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {ITEM_TABLE} (dataset_id, dir, name, filename, mimetype, metadata, file, url, annotated, "
            f"created_at) SELECT %s, %s, 'img' || lpad(g::text, {int(digits)}, '0') || '.jpg', "
            f"%s || '/img' || lpad(g::text, {int(digits)}, '0') || '.jpg', "
            f"'image/jpeg', '{{}}'::jsonb, '', '', false, now() FROM generate_series(1, %s) g",
            [dataset_id, folder, folder, n],
        )


def bulk_task(n: int, *, name: str):
    """A project with a manager and ten annotators, `n` items in /q and a tenth as many in /other,
    and one distributed task over all of them: what the bulk-operation benchmarks work on."""
    import datetime
    import time

    from django.utils import timezone

    from taskboard.accounts.models import User
    from taskboard.annotation.creation import task_create
    from taskboard.annotation.models import TaskItem
    from taskboard.annotation.selection import Selection
    from taskboard.annotation.spec import TaskSpec, equal_people
    from taskboard.datasets.models import Dataset, Recipe
    from taskboard.projects.models import Membership, Project, Role

    project = Project.objects.create(name=f"{name} bench")
    manager = User.objects.create_user("bench-manager@example.com", "pw")
    people = [User.objects.create_user(f"annotator{i}@example.com", "pw") for i in range(10)]
    Membership.objects.create(project=project, user=manager, role=Role.MANAGER)
    Membership.objects.bulk_create(Membership(project=project, user=u, role=Role.ANNOTATOR) for u in people)
    dataset = Dataset.objects.create(project=project, name="bulk")
    recipe = Recipe.objects.create(dataset=dataset, name="default", is_default=True)
    t0 = time.perf_counter()
    insert_items(dataset.pk, "/q", n, digits=7)
    insert_items(dataset.pk, "/other", max(1, n // 10), digits=7)
    log(f"  {n:,} + {max(1, n // 10):,} items in {time.perf_counter() - t0:.1f}s")
    t0 = time.perf_counter()
    spec = TaskSpec(
        dataset_id=dataset.pk,
        name=name,
        selection=Selection(mode="all"),
        people=equal_people(u.pk for u in people),
        due_at=timezone.now() + datetime.timedelta(days=10),
        recipe_id=recipe.pk,
    )
    task = task_create(spec=spec, by=manager)
    log(f"  task_create in {time.perf_counter() - t0:.1f}s: {TaskItem.objects.filter(task=task).count():,} rows")
    return task, dataset, manager


def vacuum(*tables: str) -> None:
    """VACUUM ANALYZE outside a transaction, so the planner sees the rows just written."""
    connection.ensure_connection()
    connection.connection.autocommit = True
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")


class _Reports:
    """`--job`: the service gets a progress report, as a bulk job's runner passes it, so it takes
    the path a large job takes (record, then change in runs); without it, the request's path."""

    watched = False
    calls = 0

    def report(self):
        if not self.watched:
            return None

        def progress(done: int, total: int) -> None:
            self.calls += 1

        return progress

    def suffix(self) -> str:
        return f" path=job reports={self.calls}" if self.watched else ""


REPORTS = _Reports()
