"""SQL the apps share that the ORM cannot say in one statement. Imports no app."""

from typing import Any

from django.db import connection


def upsert_add(table: str, key_columns: dict[str, Any], add_columns: dict[str, Any]) -> None:
    """INSERT … ON CONFLICT DO UPDATE SET col = col + excluded.col: one statement, race-free on
    PostgreSQL and SQLite alike (two first changes of a counter must not collide)."""
    columns = [*key_columns, *add_columns]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({', '.join(quote(c) for c in key_columns)}) DO UPDATE SET "
        + ", ".join(f"{quote(c)} = {quote(table)}.{quote(c)} + excluded.{quote(c)}" for c in add_columns)
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*key_columns.values(), *add_columns.values()])
