"""A tiny DQL for resources other than items (datasets, tasks): equality, $in, $ne, $gt/$lt
on an allow-list of fields, each mapped to a fixed lookup by the caller.

Its bounds are the item query language's (`annotation/dql.py`): nesting depth, and clauses
(SQLite refuses an expression tree past 1000 levels, which a long `$or` chain builds)."""

from collections.abc import Callable

from django.db.models import Q

from taskboard.annotation.dql import MAX_CONDITIONS, MAX_DEPTH
from taskboard.api.http import bad_request

# field -> function(op, value) -> Q
Handlers = dict[str, Callable[[str, object], Q]]


def filter_q(filt, handlers: Handlers) -> Q:
    return _Walker(handlers).node(filt, 0)


class _Walker:
    def __init__(self, handlers: Handlers):
        self.handlers = handlers
        self.conditions = 0

    def counted(self, q: Q) -> Q:
        self.conditions += 1
        if self.conditions > MAX_CONDITIONS:
            raise bad_request(f"filter: more than {MAX_CONDITIONS} clauses.")
        return q

    def node(self, filt, depth: int) -> Q:
        if filt is None:
            return Q()
        if depth > MAX_DEPTH:
            raise bad_request(f"filter: nested deeper than {MAX_DEPTH} levels.")
        if not isinstance(filt, dict):
            raise bad_request("filter must be an object.")
        handlers = self.handlers
        q = Q()
        for key, value in filt.items():
            if key == "$and":
                if not isinstance(value, list):
                    raise bad_request("$and expects a list.")
                for node in value:
                    q &= self.node(node, depth + 1)
            elif key == "$or":
                if not isinstance(value, list):
                    raise bad_request("$or expects a list.")
                if value:
                    any_of = Q(pk__in=[])
                    for node in value:
                        any_of |= self.node(node, depth + 1)
                    q &= any_of
            elif key in handlers:
                if isinstance(value, dict) and value and all(str(k).startswith("$") for k in value):
                    for op, operand in value.items():
                        q &= self.counted(handlers[key](op, operand))
                else:
                    q &= self.counted(handlers[key]("$eq", value))
            else:
                raise bad_request(f"Unknown filter field '{str(key)[:100]}'.")
        return q


def ops(lookup: str, convert=lambda v: v, allowed=("$eq", "$ne", "$in", "$nin", "$gt", "$lt", "$gte", "$lte")):
    """A handler comparing `lookup` with converted values."""

    def checked(value):
        converted = convert(value)
        if converted is None or isinstance(converted, dict | list):
            raise bad_request(f"Not a value '{lookup}' can be compared with: {str(value)[:100]!r}.")
        return converted

    def handler(op, value):
        if op not in allowed:
            raise bad_request(f"Operator '{op}' is not supported on '{lookup}'.")
        if op in ("$in", "$nin"):
            if not isinstance(value, list):
                raise bad_request(f"Operator '{op}' expects a list.")
            q = Q(**{f"{lookup}__in": [checked(v) for v in value]})
            return q if op == "$in" else ~q
        converted = checked(value)
        if op == "$eq":
            return Q(**{lookup: converted})
        if op == "$ne":
            return ~Q(**{lookup: converted})
        return Q(**{f"{lookup}__{op[1:]}": converted})

    return handler
