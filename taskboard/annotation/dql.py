"""Dataloop's item filter JSON (DQL) turned into ORM queries through an allow-list.

Only the fields and operators named in `FIELDS` and `OPERATORS` are understood; anything
else raises `DQLError` naming what was refused. Field names never reach the ORM as
strings from the request: each allowed field maps to a fixed column or expression here,
and user metadata keys become explicit `KeyTransform`s (so a key like `contains` or
`password` stays a JSON key and never becomes a lookup or a relation).

Shape (docs/api.md, "Filters"): `{"$and": [clause...], "$or": [clause...]}`; with both, the
AND-list AND any of the OR-list. A clause is `{field: value}` (equality; a list value is
exact-array equality) or `{field: {"$op": value, ...}}`; clauses may nest `$and`/`$or`.

Semantics worth knowing:
- `hidden` is always false and `type` always "file" here (no folder items are stored).
- `filename`, `dir` and `name` accept globs: `*` any characters but `/`, `**` any characters
  (`**/` also matches no folder at all).
- `metadata.system.refs` is answered from `annotation.TaskItem`: `[]` = in no task,
  `.id` = in that task or assignment (Mongo array semantics: `$ne`/`$nin` = in none of them),
  `$match` = has a ref with that id/type and, optionally, a status.
- A task query's `page`/`pageSize`/`sort` are ignored by task creation (dtlpy embeds
  `pageSize: 1000` but means every matching item); only item listing pages.
"""

import contextvars
import math
import re
from dataclasses import dataclass
from typing import Any

from django.db.models import BooleanField, Exists, Expression, F, OuterRef, Q
from django.db.models.fields.json import (
    HasKey,
    KeyTransform,
    KeyTransformExact,
    KeyTransformGt,
    KeyTransformGte,
    KeyTransformLt,
    KeyTransformLte,
)

from taskboard.annotation.dql_values import DQLError as DQLError
from taskboard.annotation.dql_values import (
    bool_value,
    everything,
    glob_q,
    in_values,
    item_id_of,
    list_value,
    nothing,
    parse_datetime,
    short_list,
    str_value,
    type_name,
)
from taskboard.annotation.models import TaskItem
from taskboard.datasets.ids import api_id_kind, parse_api_id
from taskboard.datasets.models import Annotation, Item
from taskboard.inputs import json_problem

MAX_DEPTH = 10
MAX_CLAUSES = 1000
# Clauses and the per-value conditions of short $in lists, together: SQLite refuses a WHERE clause whose
# expression tree is 1000 deep (an AND or OR chain of 1000 terms), and the callers add a few terms of their own.
MAX_CONDITIONS = 900
MAX_PAGE_SIZE = 1000
# Past this the offset (page × pageSize) would outgrow what a database takes in OFFSET; no listing is that long.
MAX_PAGE = 1_000_000

OPERATORS = frozenset({"$eq", "$ne", "$gt", "$lt", "$gte", "$lte", "$in", "$nin", "$exists", "$match"})
_RANGE_OPS = {"$gt": "gt", "$lt": "lt", "$gte": "gte", "$lte": "lte"}
_METADATA_KEY = re.compile(r"^[A-Za-z0-9_\-]+$")


# ---------------------------------------------------------------- scalar columns


class _Column:
    """A field backed by one column of Item; `convert` checks and converts each value."""

    ops = frozenset({"$eq", "$ne", "$gt", "$lt", "$gte", "$lte", "$in", "$nin", "$exists"})
    globbing = False

    def __init__(self, column: str, convert, *, ordered: bool = True):
        self.column = column
        self.convert = convert
        if not ordered:
            self.ops = self.ops - set(_RANGE_OPS)

    def eq(self, field, value):
        value = self.convert(field, value)
        if self.globbing:
            return glob_q(field, self.column, value)
        return Q(**{self.column: value})

    def clause(self, field: str, op: str, value: Any) -> Q:
        if op not in self.ops:
            raise DQLError(f"Operator '{op}' is not supported on field '{field}'.")
        if op == "$eq":
            return self.eq(field, value)
        if op == "$ne":
            return ~self.eq(field, value)
        if op in _RANGE_OPS:
            return Q(**{f"{self.column}__{_RANGE_OPS[op]}": self.convert(field, value)})
        if op in ("$in", "$nin"):
            values = list_value(field, op, value)
            if self.globbing and any("*" in self.convert(field, v) for v in values):
                q = nothing()
                for v in short_list(field, op, values):
                    q |= self.eq(field, v)
            else:
                q = in_values(self.column, [self.convert(field, v) for v in values])
            return q if op == "$in" else ~q
        if op == "$exists":
            # Every item has every built-in field.
            return everything() if bool_value(f"{field}.$exists", value) else nothing()
        raise DQLError(f"Operator '{op}' is not supported on field '{field}'.")


class _GlobColumn(_Column):
    globbing = True


@dataclass(frozen=True)
class RowScope:
    """How the API's item listing reads an item: which of its task rows are its refs, and whether it is
    hidden. Task creation and the pages read every row of an item (no scope). The API lists an item as
    its original (its copy-0 rows) and each consensus copy as a hidden clone (that one row)."""

    rows: Q
    hidden: bool = False
    # Which of those rows name their assignment in the refs (an original does not name the hidden pool
    # of consensus originals that holds it).
    assignment_refs: Q = Q()


_SCOPE: contextvars.ContextVar[RowScope | None] = contextvars.ContextVar("dql_row_scope", default=None)


class _Constant:
    """A field with the same value on every item here (`type`; `hidden`, false but for the API's clones)."""

    ops = frozenset({"$eq", "$ne", "$in", "$nin", "$exists"})

    def __init__(self, value, convert, *, scoped: bool = False):
        self._value = value
        self.convert = convert
        self.scoped = scoped

    @property
    def value(self):
        scope = _SCOPE.get()
        return scope.hidden if self.scoped and scope is not None else self._value

    def eq(self, field, value):
        return everything() if self.convert(field, value) == self.value else nothing()

    def clause(self, field, op, value):
        if op not in self.ops:
            raise DQLError(f"Operator '{op}' is not supported on field '{field}'.")
        if op == "$eq":
            return self.eq(field, value)
        if op == "$ne":
            return ~self.eq(field, value)
        if op in ("$in", "$nin"):
            hit = any(self.convert(field, v) == self.value for v in list_value(field, op, value))
            return everything() if hit == (op == "$in") else nothing()
        return everything() if bool_value(f"{field}.$exists", value) else nothing()


def _type_value(field, value):
    value = str_value(field, value)
    if value not in ("file", "dir"):
        raise DQLError(f"Field '{field}': unknown item type {value!r} (file or dir).")
    return value


# ---------------------------------------------------------------- labels


class _Label:
    """`label`: the item has an annotation with that label (Mongo semantics over the list)."""

    ops = frozenset({"$eq", "$ne", "$in", "$nin", "$exists"})

    def _has(self, **lookups) -> Q:
        return Q(Exists(Annotation.objects.filter(item=OuterRef("pk"), **lookups)))

    def eq(self, field, value):
        return self._has(label_name=str_value(field, value))

    def clause(self, field, op, value):
        if op not in self.ops:
            raise DQLError(f"Operator '{op}' is not supported on field '{field}'.")
        if op == "$eq":
            return self.eq(field, value)
        if op == "$ne":
            return ~self.eq(field, value)
        if op in ("$in", "$nin"):
            names = [str_value(field, v) for v in list_value(field, op, value)]
            q = self._has(label_name__in=names)
            return q if op == "$in" else ~q
        q = self._has()
        return q if bool_value(f"{field}.$exists", value) else ~q


# ---------------------------------------------------------------- user metadata


class _JSONLookup(Expression):
    """A lookup on a user-metadata path, built when the query resolves it.

    Lookups prepare their value (JSON encoding) only once their left side has a field,
    so the `KeyTransform` chain is made against the resolved `metadata` column here.
    """

    conditional = True
    output_field = BooleanField()

    def __init__(self, keys: list[str], lookup: type, value: Any = None):
        super().__init__()
        self.keys, self.lookup, self.value = keys, lookup, value

    def resolve_expression(self, query=None, allow_joins=True, reuse=None, summarize=False, for_save=False):
        lhs = F("metadata").resolve_expression(query, allow_joins, reuse, summarize, for_save)
        if self.lookup is HasKey:
            for key in self.keys[:-1]:
                lhs = KeyTransform(key, lhs)
            return HasKey(lhs, self.keys[-1]).resolve_expression(query, allow_joins, reuse, summarize, for_save)
        for key in self.keys:
            lhs = KeyTransform(key, lhs)
        return self.lookup(lhs, self.value).resolve_expression(query, allow_joins, reuse, summarize, for_save)


class _Metadata:
    """`metadata.<a>.<b>`: user metadata, compared as JSON values."""

    ops = frozenset({"$eq", "$ne", "$gt", "$lt", "$gte", "$lte", "$in", "$nin", "$exists"})
    _LOOKUPS = {
        "exact": KeyTransformExact,
        "gt": KeyTransformGt,
        "gte": KeyTransformGte,
        "lt": KeyTransformLt,
        "lte": KeyTransformLte,
    }

    def __init__(self, keys: list[str]):
        self.keys = keys

    def _has_key(self) -> Q:
        # Every level is tested, so a missing parent gives false, not NULL (PostgreSQL's
        # `NULL ? 'key'`), and the negation `$exists: false` stays true for it.
        q = Q()
        for depth in range(1, len(self.keys) + 1):
            q &= Q(_JSONLookup(self.keys[:depth], HasKey))
        return q

    def _lookup(self, name: str, value) -> Q:
        return Q(_JSONLookup(self.keys, self._LOOKUPS[name], value))

    @staticmethod
    def _json_value(field, value):
        if isinstance(value, str):
            return str_value(field, value)
        if isinstance(value, float) and not math.isfinite(value):
            raise DQLError(f"Field '{field}': not a finite number.")
        if isinstance(value, dict) and any(str(k).startswith("$") for k in value):
            raise DQLError(f"Field '{field}': operators cannot be nested inside a value.")
        return value

    def eq(self, field, value):
        value = self._json_value(field, value)
        if value is None:
            # Mongo: null matches a missing key as well as an explicit null.
            return ~self._has_key() | self._lookup("exact", None)
        return self._lookup("exact", value)

    def clause(self, field, op, value):
        if op not in self.ops:
            raise DQLError(f"Operator '{op}' is not supported on field '{field}'.")
        if op == "$eq":
            return self.eq(field, value)
        if op == "$ne":
            if value is None:
                return self._has_key() & ~self._lookup("exact", None)
            return ~self._has_key() | ~self.eq(field, value)
        if op in _RANGE_OPS:
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise DQLError(f"Operator '{op}' on field '{field}' expects a number or a string.")
            return self._lookup(_RANGE_OPS[op], self._json_value(field, value))
        if op in ("$in", "$nin"):
            q = nothing()
            for v in short_list(field, op, value):
                q |= self.eq(field, v)
            return q if op == "$in" else ~self._has_key() | ~q
        q = self._has_key()
        return q if bool_value(f"{field}.$exists", value) else ~q


# ---------------------------------------------------------------- task refs


def _task_items():
    rows = TaskItem.objects.filter(item=OuterRef("pk"))
    scope = _SCOPE.get()
    return rows.filter(scope.rows) if scope is not None else rows


def _ref_lookup(field: str, value: Any, *, kind: str | None = None) -> Q:
    """TaskItem lookups for a task or assignment id (24-hex; the tag says which)."""
    q = _ref_lookup_unscoped(field, value, kind=kind)
    scope = _SCOPE.get()
    if scope is None or not scope.assignment_refs:
        return q
    # An assignment ref counts only on rows that name theirs.
    return Q(*[_scoped_assignment(child, scope.assignment_refs) for child in q.children], _connector=q.connector)


def _scoped_assignment(child: Any, assignment_refs: Q) -> Any:
    if isinstance(child, tuple) and child[0] == "assignment_id":
        return Q(child) & assignment_refs
    if isinstance(child, Q):
        return Q(*[_scoped_assignment(c, assignment_refs) for c in child.children], _connector=child.connector)
    return child


def _ref_lookup_unscoped(field: str, value: Any, *, kind: str | None = None) -> Q:
    if isinstance(value, int) and not isinstance(value, bool) and kind in ("task", "assignment"):
        return Q(**{f"{kind}_id": value})
    if not isinstance(value, str):
        raise DQLError(f"Field '{field}': {value!r} is not a task or assignment id.")
    found = api_id_kind(value)
    if found is None:
        raise DQLError(f"Field '{field}': {value!r} is not a task or assignment id.")
    if kind is not None and found not in (kind, "item"):
        raise DQLError(f"Field '{field}': {value!r} is not a {kind} id.")
    if found == "task":
        return Q(task_id=parse_api_id(value, "task"))
    if found == "assignment":
        return Q(assignment_id=parse_api_id(value, "assignment"))
    if found == "item":
        # An untagged id: whoever minted it did not say its kind.
        pk = parse_api_id(value, "item")
        if kind == "task":
            return Q(task_id=pk)
        if kind == "assignment":
            return Q(assignment_id=pk)
        return Q(task_id=pk) | Q(assignment_id=pk)
    raise DQLError(f"Field '{field}': {value!r} is not a task or assignment id.")


def _in_refs(q: Q) -> Q:
    return Q(Exists(_task_items().filter(q)))


class _RefIds:
    """`metadata.system.refs.id`: the item is in that task or assignment."""

    ops = frozenset({"$eq", "$ne", "$in", "$nin", "$exists"})

    def eq(self, field, value):
        return _in_refs(_ref_lookup(field, value))

    def clause(self, field, op, value):
        if op not in self.ops:
            raise DQLError(f"Operator '{op}' is not supported on field '{field}'.")
        if op == "$eq":
            return self.eq(field, value)
        if op == "$ne":
            return ~self.eq(field, value)
        if op in ("$in", "$nin"):
            values = short_list(field, op, value)
            if not values:
                return nothing() if op == "$in" else everything()
            lookups = Q(pk__in=[])
            for v in values:
                lookups |= _ref_lookup(field, v)
            q = _in_refs(lookups)
            return q if op == "$in" else ~q
        q = Q(Exists(_task_items()))
        return q if bool_value(f"{field}.$exists", value) else ~q


_STATUS_OPS = frozenset({"$eq", "$ne", "$in", "$nin", "$exists"})


def _status_lookup(field: str, spec: Any) -> Q:
    """`metadata.status` inside a `$match` on refs, as TaskItem lookups."""
    if not isinstance(spec, dict) or not spec or not all(k.startswith("$") for k in spec):
        if spec is None:
            return Q(status__isnull=True)
        return Q(status=str_value(field, spec))
    q = Q()
    for op, value in spec.items():
        if op not in _STATUS_OPS:
            raise DQLError(f"Operator '{op}' is not supported on field '{field}'.")
        if op == "$exists":
            q &= Q(status__isnull=not bool_value(f"{field}.$exists", value))
        elif op == "$eq":
            q &= Q(status=str_value(field, value))
        elif op == "$ne":
            q &= ~Q(status=str_value(field, value)) | Q(status__isnull=True)
        else:
            names = [str_value(field, v) for v in list_value(field, op, value)]
            q &= Q(status__in=names) if op == "$in" else (~Q(status__in=names) | Q(status__isnull=True))
    return q


def _refs_match(field: str, spec: Any) -> Q:
    """`{"metadata.system.refs": {"$match": {"id": T, "type": "task", "metadata": {"status": …}}}}`."""
    if not isinstance(spec, dict):
        raise DQLError(f"Operator '$match' on field '{field}' expects an object.")
    unknown = set(spec) - {"id", "type", "metadata"}
    if unknown:
        raise DQLError(f"Field '{field}.{sorted(unknown)[0]}' is not supported inside '$match'.")
    kind = spec.get("type")
    if kind is not None and kind not in ("task", "assignment"):
        raise DQLError(f"Field '{field}.type': {kind!r} is not task or assignment.")
    q = Q()
    if "id" in spec:
        id_spec = spec["id"]
        if isinstance(id_spec, dict):
            if set(id_spec) - {"$eq", "$in"}:
                bad = sorted(set(id_spec) - {"$eq", "$in"})[0]
                raise DQLError(f"Operator '{bad}' is not supported on field '{field}.id'.")
            for op, value in id_spec.items():
                if op == "$eq":
                    q &= _ref_lookup(f"{field}.id", value, kind=kind)
                else:
                    any_of = Q(pk__in=[])
                    for v in short_list(f"{field}.id", op, value):
                        any_of |= _ref_lookup(f"{field}.id", v, kind=kind)
                    q &= any_of
        else:
            q &= _ref_lookup(f"{field}.id", id_spec, kind=kind)
    if "metadata" in spec:
        meta = spec["metadata"]
        if not isinstance(meta, dict):
            raise DQLError(f"Field '{field}.metadata' expects an object.")
        unknown = set(meta) - {"status"}
        if unknown:
            raise DQLError(f"Field '{field}.metadata.{sorted(unknown)[0]}' is not supported inside '$match'.")
        if "status" in meta:
            q &= _status_lookup(f"{field}.metadata.status", meta["status"])
    return _in_refs(q)


class _Refs:
    """`metadata.system.refs`: `[]` (in no task), `$match`, `$exists`, `$ne: []`."""

    ops = frozenset({"$eq", "$ne", "$exists", "$match"})

    def eq(self, field, value):
        if value == []:
            return ~Q(Exists(_task_items()))
        raise DQLError(f"Field '{field}': only [] can be compared (use '.id' or '$match').")

    def clause(self, field, op, value):
        if op not in self.ops:
            raise DQLError(f"Operator '{op}' is not supported on field '{field}'.")
        if op == "$eq":
            return self.eq(field, value)
        if op == "$ne":
            return ~self.eq(field, value)
        if op == "$match":
            return _refs_match(field, value)
        q = Q(Exists(_task_items()))
        return q if bool_value(f"{field}.$exists", value) else ~q


# ---------------------------------------------------------------- the allow-list

FIELDS: dict[str, Any] = {
    "id": _Column("pk", item_id_of),
    "dir": _GlobColumn("dir", str_value),
    "name": _GlobColumn("name", str_value),
    "filename": _GlobColumn("filename", str_value),
    "mimetype": _Column("mimetype", str_value),
    "metadata.system.mimetype": _Column("mimetype", str_value),
    "annotated": _Column("annotated", bool_value, ordered=False),
    "createdAt": _Column("created_at", parse_datetime),
    "hidden": _Constant(False, bool_value, scoped=True),
    "type": _Constant("file", _type_value),
    "label": _Label(),
    "annotations.label": _Label(),
    "metadata.system.refs": _Refs(),
    "metadata.system.refs.id": _RefIds(),
}

# Sort keys the item listing accepts, and the column each orders by.
SORT_FIELDS = {
    "id": "pk",
    "createdAt": "created_at",
    "filename": "filename",
    "name": "name",
    "dir": "dir",
    "type": None,
    "hidden": None,
}


def _field_handler(field: Any):
    if not isinstance(field, str):
        raise DQLError(f"Field {field!r} is not a string.")
    handler = FIELDS.get(field)
    if handler is not None:
        return handler
    if "__" in field:
        raise DQLError(f"Field '{field[:100]}' is not allowed.")
    if field.startswith("metadata.") and not field.startswith("metadata.system."):
        keys = field.split(".")[1:]
        if len(keys) > MAX_DEPTH:
            raise DQLError(f"Field '{field[:100]}' is nested too deeply.")
        if all(_METADATA_KEY.match(k) for k in keys):
            return _Metadata(keys)
    raise DQLError(f"Unknown field '{field[:100]}'.")


# ---------------------------------------------------------------- the walk


class _Walker:
    def __init__(self):
        self.clauses = 0

    def node(self, node: Any, depth: int) -> Q:
        if depth > MAX_DEPTH:
            raise DQLError(f"The filter is nested deeper than {MAX_DEPTH} levels.")
        if not isinstance(node, dict):
            raise DQLError(f"A filter node must be an object, got {type_name(node)}.")
        q = Q()
        any_of = None
        for key, value in node.items():
            if key == "$and":
                q &= self.all_of(key, value, depth)
            elif key == "$or":
                any_of = self.any_of(key, value, depth)
            elif isinstance(key, str) and key.startswith("$"):
                raise DQLError(f"Unknown operator '{key[:50]}'.")
            else:
                q &= self.clause(key, value)
        if any_of is not None:
            q &= any_of
        return q

    def _nodes(self, key: str, value: Any) -> list:
        if not isinstance(value, list):
            raise DQLError(f"Operator '{key}' expects a list, got {type_name(value)}.")
        return value

    def all_of(self, key, value, depth) -> Q:
        q = Q()
        for child in self._nodes(key, value):
            q &= self.node(child, depth + 1)
        return q

    def any_of(self, key, value, depth) -> Q:
        children = self._nodes(key, value)
        if not children:
            return everything()
        q = nothing()
        for child in children:
            q |= self.node(child, depth + 1)
        return q

    def clause(self, field: Any, value: Any) -> Q:
        self.clauses += 1
        if self.clauses > MAX_CLAUSES:
            raise DQLError(f"The filter has more than {MAX_CLAUSES} clauses.")
        handler = _field_handler(field)
        if isinstance(value, dict) and value and all(isinstance(k, str) and k.startswith("$") for k in value):
            q = Q()
            for op, operand in value.items():
                if op not in OPERATORS:
                    raise DQLError(f"Unknown operator '{op[:50]}' on field '{field}'.")
                q &= handler.clause(field, op, operand)
            return q
        if isinstance(value, dict) and not isinstance(handler, _Metadata):
            raise DQLError(f"Field '{field}' cannot be compared with an object.")
        if isinstance(value, list) and not isinstance(handler, _Metadata | _Refs):
            raise DQLError(f"Field '{field}' cannot be compared with a list (use '$in').")
        return handler.eq(field, value)


def dql_filter_of(query: Any) -> dict:
    """The filter part of a DQL body (`{"filter": {...}, "page": …}`), or the filter itself."""
    if isinstance(query, dict) and isinstance(query.get("filter"), dict):
        return query["filter"]
    if not isinstance(query, dict):
        raise DQLError(f"A filter must be an object, got {type_name(query)}.")
    return query


def dql_to_q(filter: Any, *, dataset, scope: RowScope | None = None) -> Q:
    """A Q over `datasets.Item` for a DQL filter (`{"$and": …, "$or": …}` or a body with "filter").

    The caller scopes it to the dataset: `Item.objects.filter(dataset=dataset).filter(q)`.
    `scope` reads refs from some of the item's task rows only (the API's originals and clones).
    """
    # `dataset` is part of the contract for fields that will need it (labels of its recipes);
    # today every field is answered from the item row or its task rows.
    filt = dql_filter_of(filter)
    # A lone surrogate or NUL anywhere (a value, a metadata key) is bad input, not a database error.
    problem = json_problem(filt, "filter")
    if problem:
        raise DQLError(problem)
    token = _SCOPE.set(scope)
    try:
        q = _Walker().node(filt, 0)
    finally:
        _SCOPE.reset(token)
    if _conditions(q) > MAX_CONDITIONS:
        raise DQLError(f"The filter expands to more than {MAX_CONDITIONS} conditions; use '$in' on ids or a folder.")
    return q


def _conditions(q: Q) -> int:
    return sum(_conditions(child) if isinstance(child, Q) else 1 for child in q.children)


def dql_items(query: Any, *, dataset):
    """The dataset's items matching a DQL filter or body, unordered."""
    return Item.objects.filter(dataset=dataset).filter(dql_to_q(query, dataset=dataset)).order_by()


def dql_sort_and_page(body: Any) -> tuple[list[str], int, int, int | None]:
    """(order_by, page, page_size, keyset_after) for an item listing body.

    `keyset_after` is the item pk of a top-level `{"id": {"$gt": …}}` clause (dtlpy's
    `.all()` pages that way, always with page 0); the clause itself is already applied by
    `dql_to_q`, so callers need it only to know they are keyset paging.
    A task query's page and pageSize are ignored: tasks take every matching item.
    """
    if not isinstance(body, dict):
        raise DQLError(f"A query must be an object, got {type_name(body)}.")
    page = body.get("page", 0)
    if isinstance(page, bool) or not isinstance(page, int) or not 0 <= page <= MAX_PAGE:
        raise DQLError(f"Field 'page' must be a whole number from 0 to {MAX_PAGE}.")
    page_size = body.get("pageSize", MAX_PAGE_SIZE)
    if isinstance(page_size, bool) or not isinstance(page_size, int) or not 1 <= page_size <= MAX_PAGE_SIZE:
        raise DQLError(f"Field 'pageSize' must be a whole number from 1 to {MAX_PAGE_SIZE}.")

    order_by: list[str] = []
    sort = body.get("sort")
    if sort is not None:
        if not isinstance(sort, dict):
            raise DQLError('Field \'sort\' must be an object such as {"id": "ascending"}.')
        for key, direction in sort.items():
            if key not in SORT_FIELDS:
                raise DQLError(f"Cannot sort by field '{str(key)[:100]}'.")
            if direction not in ("ascending", "descending", "asc", "desc", 1, -1):
                raise DQLError(f"Sort direction for '{key}' must be ascending or descending.")
            column = SORT_FIELDS[key]
            if column is None:
                continue  # the same on every item
            descending = direction in ("descending", "desc", -1)
            order_by.append(("-" if descending else "") + column)
    if not any(o.lstrip("-") == "pk" for o in order_by):
        descending_first = bool(order_by) and order_by[0].startswith("-")
        order_by.append("-pk" if descending_first else "pk")

    keyset_after = None
    filt = body.get("filter")
    if isinstance(filt, dict):
        for clause in filt.get("$and") or []:
            if isinstance(clause, dict) and isinstance(clause.get("id"), dict) and "$gt" in clause["id"]:
                keyset_after = item_id_of("id", clause["id"]["$gt"])
    return order_by, page, page_size, keyset_after
