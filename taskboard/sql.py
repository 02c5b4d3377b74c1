"""SQL the apps share that the ORM cannot say in one statement. Imports no app."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import psycopg
from django.core.exceptions import EmptyResultSet
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import F, Model, QuerySet
from django.db.models.query import ModelIterable, ValuesListIterable, get_related_populators

_M = TypeVar("_M", bound=Model)


def upsert_add(
    table: str, key_columns: dict[str, Any], add_columns: dict[str, Any], set_columns: dict[str, Any] | None = None
) -> None:
    """INSERT … ON CONFLICT DO UPDATE SET col = col + excluded.col: one statement, race-free on
    PostgreSQL and SQLite alike (two first changes of a counter must not collide). `set_columns`
    are written as given, on the new row and over an existing one."""
    set_columns = set_columns or {}
    columns = [*key_columns, *add_columns, *set_columns]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(table)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({', '.join(quote(c) for c in key_columns)}) DO UPDATE SET "
        + ", ".join(
            [f"{quote(c)} = {quote(table)}.{quote(c)} + excluded.{quote(c)}" for c in add_columns]
            + [f"{quote(c)} = excluded.{quote(c)}" for c in set_columns]
        )
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*key_columns.values(), *add_columns.values(), *set_columns.values()])


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


# Stand-in values a `Compiled` query is built with: integers no key reaches, each found again in the
# compiled parameters by value. Far beyond any id, inside a 64-bit integer.
_KEY_BASE = 7_311_000_000_000_000_000
_ONLY_WHEN_ASKED = 2**31


class Compiled(Generic[_M]):
    """A queryset turned into SQL once per process and database, then run with new key values.

    Building and compiling a queryset with subqueries (the access policy, an item's neighbours) costs
    the application more CPU than PostgreSQL spends answering it. `build(*keys)` is called once, with
    stand-in integers for the keys (ids), and must put each key into the query as a plain value (an
    `=` or `IN` comparison with an id: no arithmetic, no text) and nothing that changes between calls
    (no `timezone.now()`: `Now()` is SQL and fine). Each run substitutes the real keys into the compiled
    parameters and reads rows as the queryset would: model instances with their select_related
    relations and annotations, or tuples for `values_list()` of fields (no annotations among them).
    No prefetch_related. The queries still go through the
    connection's cursor, so they are counted and logged like any other."""

    def __init__(self, build: Callable[..., QuerySet[_M, Any]]):
        self.build = build
        self.arity = len(inspect.signature(build).parameters)
        self._by_db: dict[tuple[str, str], _Plan] = {}
        self._lock = threading.Lock()

    def _plan(self, alias: str) -> _Plan:
        db = connections[alias]
        plan = self._by_db.get((alias, db.vendor))
        if plan is None:
            with self._lock:
                plan = self._by_db.get((alias, db.vendor)) or _Plan.make(self.build, self.arity, alias)
                self._by_db[(alias, db.vendor)] = plan
        return plan

    def rows(self, *keys: int, using: str = DEFAULT_DB_ALIAS) -> list[Any]:
        if len(keys) != self.arity:
            raise TypeError(f"{self.arity} keys expected, {len(keys)} given")
        return self._plan(using).run(keys, using)

    def first(self, *keys: int, using: str = DEFAULT_DB_ALIAS) -> Any:
        found = self.rows(*keys, using=using)
        return found[0] if found else None


@dataclass
class _Plan:
    sql: str
    params: list[Any]
    slots: list[tuple[int, int]]  # (position in params, index of the key)
    compiler: Any
    init_list: list[str]
    start: int
    end: int
    populators: list[Any]
    annotations: dict[str, int]
    tuples: bool
    # What results_iter would look up on every run: the columns' converters (a database's value to
    # Python's, e.g. JSON), found once; None where a composite field needs results_iter's own path.
    converters: dict[int, Any] | None = None

    @classmethod
    def make(cls, build: Callable[..., QuerySet[Any]], arity: int, alias: str) -> _Plan:
        queryset = build(*(_KEY_BASE + i for i in range(arity))).using(alias)
        query = queryset.query
        tuples = queryset._iterable_class is ValuesListIterable and not query.annotation_select
        prefetches = queryset._prefetch_related_lookups  # type: ignore[attr-defined]
        if not (tuples or queryset._iterable_class is ModelIterable) or prefetches:
            raise TypeError("Compiled reads model instances or values_list() of fields; no prefetch_related()")
        compiler = queryset.query.get_compiler(using=alias)
        sql, params = compiler.as_sql()
        columns = [s[0] for s in compiler.select[0 : compiler.col_count]]
        converters = None if compiler.has_composite_fields(columns) else compiler.get_converters(columns)
        slots = [
            (position, value - _KEY_BASE)
            for position, value in enumerate(params)
            if type(value) is int and _KEY_BASE <= value < _KEY_BASE + arity
        ]
        missing = set(range(arity)) - {key for _, key in slots}
        placed = {position for position, _ in slots}
        altered = [p for i, p in enumerate(params) if i not in placed and str(_KEY_BASE)[:8] in str(p)]
        if missing or altered:
            raise ValueError(f"keys {sorted(missing)} are not plain values in the compiled query: {sql}")
        if tuples:
            return cls(sql, list(params), slots, compiler, [], 0, 0, [], {}, tuples=True, converters=converters)
        klass_info, select = compiler.klass_info, compiler.select
        fields = klass_info["select_fields"]
        start, end = fields[0], fields[-1] + 1
        return cls(
            sql=sql,
            params=list(params),
            slots=slots,
            compiler=compiler,
            init_list=[f[0].target.attname for f in select[start:end]],
            start=start,
            end=end,
            populators=get_related_populators(klass_info, select, alias),  # type: ignore[call-arg]
            annotations=dict(compiler.annotation_col_map or {}),
            tuples=False,
            converters=converters,
        )

    def run(self, keys: tuple[int, ...], alias: str) -> list[Any]:
        params = list(self.params)
        for position, key in self.slots:
            params[position] = keys[key]
        db = connections[alias]
        with db.cursor() as cursor:
            if db.vendor == "postgresql":
                if db.connection.prepare_threshold is None:
                    # Django turns preparing off; only statements asked for (prepare=True) are prepared.
                    db.connection.prepare_threshold = _ONLY_WHEN_ASKED
                cursor.cursor.close()
                cursor.cursor = _PreparedCursor(db.connection)
            cursor.execute(self.sql, params)
            fetched = cursor.fetchall()
        compiler = self.compiler
        if compiler.has_extra_select:
            fetched = [row[: compiler.col_count] for row in fetched]
        if self.converters is None:
            rows: Any = compiler.results_iter([fetched], tuple_expected=self.tuples)
        elif self.converters:
            rows = compiler.apply_converters(fetched, self.converters)
            if self.tuples:
                rows = map(tuple, rows)
        else:
            rows = fetched
        if self.tuples:
            return list(rows)
        model = compiler.klass_info["model"]
        found = []
        for row in rows:
            obj = model.from_db(alias, self.init_list, row[self.start : self.end])
            for populator in self.populators:
                populator.populate(row, obj)
            for name, position in self.annotations.items():
                setattr(obj, name, row[position])
            found.append(obj)
        return found


class _PreparedCursor(psycopg.Cursor[Any]):
    """Server-side binding, the statement prepared on the connection the first time it runs.

    Planning these queries cost PostgreSQL more CPU than running them (10 to 15 ms against well
    under 1 ms for the work item's, on a busy machine), and a `Compiled` query's text never
    changes: with persistent connections each process's backend plans it once (PostgreSQL keeps
    a generic plan once it costs no more than the custom ones). Django keeps prepared statements
    off for the rest (prepare_threshold None), as poolers in transaction mode need; a pooler
    in front of PostgreSQL must then be one that tracks prepared statements (PgBouncer 1.21+)."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        done = super().execute(query, params, prepare=True, **kwargs)
        # Django's query log (CaptureQueriesContext, DEBUG's connection.queries) reads the SQL a
        # client-binding cursor keeps; a server-binding one keeps none, and the log would hold None.
        self._query = _RanQuery(query.encode() if isinstance(query, str) else query)  # type: ignore[assignment]
        return done


class _RanQuery:
    """The statement a `_PreparedCursor` ran, as Django's query log reads it (`cursor._query.query`)."""

    def __init__(self, query: bytes):
        self.query = query
