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
