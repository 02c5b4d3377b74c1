"""Snapshots of the rows an attack could change, to compare before and after a request."""

from functools import cache

from django.apps import apps
from django.db import connection, models

# Every app of ours that keeps rows.
APPS = [
    "accounts",
    "projects",
    "notifications",
    "datasets",
    "discussion",
    "jobs",
    "annotation",
    "quality",
    "work",
    "pipelines",
    "api",
]
# Fields a read may legitimately touch (tokens' last_used, a sign-in's last_login).
VOLATILE = {"last_used", "last_login", "updated_at"}


@cache
def _models() -> list[tuple[str, type[models.Model], str]]:
    found = []
    quote = connection.ops.quote_name
    for label in APPS:
        for model in apps.get_app_config(label).get_models():
            meta = model._meta
            columns = ", ".join(quote(f.column) for f in meta.concrete_fields if f.attname not in VOLATILE)
            sql = f"SELECT {columns} FROM {quote(meta.db_table)} ORDER BY {quote(meta.pk.column)}"
            found.append((meta.label, model, sql))
    return found


def snapshot() -> dict:
    # Plain SQL, not the ORM: the access matrix takes a snapshot after each of its thousand requests,
    # and building sixty querysets each time was most of its run.
    with connection.cursor() as cursor:
        state = {}
        for label, _, sql in _models():
            cursor.execute(sql)
            state[label] = cursor.fetchall()
    return state


def diff(before: dict, after: dict) -> list[str]:
    changed = []
    for label in before:
        if before[label] != after.get(label):
            added = len(after.get(label, [])) - len(before[label])
            changed.append(f"{label} ({'+' if added >= 0 else ''}{added} rows)")
    return changed


def count_rows() -> dict:
    return {label: model.objects.count() for label, model, _ in _models()}
