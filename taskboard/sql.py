"""SQL the apps share that the ORM cannot say in one statement. Imports no app."""

from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import F, QuerySet


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


def medians(rows: QuerySet, *, key: str, value: str) -> dict[Any, float]:
    """{key: the median of `value`} over a queryset's rows, in one statement: each group's middle row,
    or the mean of its two middle rows, found by window functions (the same SQL on PostgreSQL and
    SQLite, which has no percentile_cont)."""
    named = rows.order_by().annotate(median_key=F(key), median_value=F(value))
    try:
        inner, params = named.values_list("median_key", "median_value").query.sql_with_params()
    except EmptyResultSet:  # a filter such as `__in=[]` that no row can meet
        return {}
    sql = f"""
        SELECT median_key, AVG(median_value) FROM (
          SELECT median_key, median_value,
                 ROW_NUMBER() OVER (PARTITION BY median_key ORDER BY median_value) AS n,
                 COUNT(*) OVER (PARTITION BY median_key) AS c
          FROM ({inner}) picked
        ) ranked
        WHERE n IN ((c + 1) / 2, (c + 2) / 2)
        GROUP BY median_key
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {k: float(v) for k, v in cursor.fetchall()}
