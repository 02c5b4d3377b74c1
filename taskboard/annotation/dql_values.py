"""The values a DQL filter carries: checked, parsed and turned into conditions. The filter's walk and
its allow-list of fields are in `dql`."""

import datetime
import json
import math
import re
from typing import Any

from django.db import connection
from django.db.models import Q
from django.db.models.expressions import RawSQL

from taskboard.datasets.folders import prefix_q
from taskboard.datasets.ids import parse_item_id

MAX_STRING = 2000
MAX_IN_VALUES = 500_000  # dtlpy lists every id of a dataset; the request size limit bites first
MAX_EXPANDED_VALUES = 1000  # $in lists that become one condition per value (globs, metadata, refs)


class DQLError(ValueError):
    """A filter the allow-list refuses; the message names the field or operator."""


# ---------------------------------------------------------------- helpers


def str_value(field: str, value: Any) -> str:
    if not isinstance(value, str):
        raise DQLError(f"Field '{field}' expects a string, got {type_name(value)}.")
    if len(value) > MAX_STRING:
        raise DQLError(f"Field '{field}': value longer than {MAX_STRING} characters.")
    if "\x00" in value:
        raise DQLError(f"Field '{field}': value contains a NUL character.")
    return value


def bool_value(field: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise DQLError(f"Field '{field}' expects true or false, got {type_name(value)}.")
    return value


def list_value(field: str, op: str, value: Any) -> list:
    if not isinstance(value, list):
        raise DQLError(f"Operator '{op}' on field '{field}' expects a list, got {type_name(value)}.")
    if len(value) > MAX_IN_VALUES:
        raise DQLError(f"Operator '{op}' on field '{field}': more than {MAX_IN_VALUES} values.")
    return value


def short_list(field: str, op: str, value: Any) -> list:
    """A list whose values each become their own condition (OR-ed), so kept short."""
    values = list_value(field, op, value)
    if len(values) > MAX_EXPANDED_VALUES:
        raise DQLError(f"Operator '{op}' on field '{field}': more than {MAX_EXPANDED_VALUES} values.")
    return values


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def nothing() -> Q:
    return Q(pk__in=[])


def everything() -> Q:
    return Q()


def glob_to_regex(pattern: str) -> str:
    """`*` = any characters but `/`, `**` = any characters, `**/` = any folders (or none).

    Every other character is matched literally; the escaping works for Python's `re`
    (SQLite) and PostgreSQL's regular expressions alike: a backslash before a
    non-alphanumeric character means that character in both.
    """
    pattern = re.sub(r"\*{3,}", "**", pattern)
    out = ["^"]
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        else:
            c = pattern[i]
            out.append(c if (c.isalnum() or c in "/_" or not c.isascii()) else "\\" + c)
            i += 1
    out.append("$")
    return "".join(out)


# Past this many values an IN list travels as one parameter: SQLite refuses more than
# 32,766 bound variables and PostgreSQL more than 65,535 (dtlpy sends every id of a dataset).
BIG_IN = 500


def in_values(column: str, values: list) -> Q:
    """`column IN values`, with long lists passed as a single JSON or array parameter."""
    values = list(dict.fromkeys(values))
    ints = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    if len(values) <= BIG_IN or not (ints or all(isinstance(v, str) for v in values)):
        return Q(**{f"{column}__in": values})
    if connection.vendor == "postgresql":
        sql = "SELECT unnest(%s::bigint[])" if ints else "SELECT unnest(%s::text[])"
        return Q(**{f"{column}__in": RawSQL(sql, [values])})
    return Q(**{f"{column}__in": RawSQL("SELECT value FROM json_each(%s)", [json.dumps(values)])})


# Each wildcard can multiply the work of a backtracking matcher (SQLite runs Python's
# `re`) by the name's length, so a pattern may hold only a few.
MAX_GLOB_WILDCARDS = 3


def glob_q(field: str, column: str, pattern: str) -> Q:
    if "*" not in pattern:
        return Q(**{column: pattern})
    # The common dtlpy shape "/a/b/**" is a prefix scan the index can serve.
    if pattern.endswith("/**") and "*" not in pattern[:-3]:
        return prefix_q(column, pattern[:-2])
    if len(re.findall(r"\*+", pattern)) > MAX_GLOB_WILDCARDS:
        raise DQLError(f"Field '{field}': a pattern may hold at most {MAX_GLOB_WILDCARDS} wildcards.")
    return Q(**{f"{column}__regex": glob_to_regex(pattern)})


def parse_datetime(field: str, value: Any) -> datetime.datetime:
    if isinstance(value, bool):
        raise DQLError(f"Field '{field}' expects an ISO date or epoch milliseconds, got a boolean.")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise DQLError(f"Field '{field}': not a finite number.")
        try:
            return datetime.datetime.fromtimestamp(value / 1000, tz=datetime.UTC)
        except (OverflowError, OSError, ValueError) as exc:
            raise DQLError(f"Field '{field}': {value!r} is out of range.") from exc
    if isinstance(value, str) and len(value) <= 64:
        try:
            parsed = datetime.datetime.fromisoformat(value)
        except ValueError as exc:
            raise DQLError(f"Field '{field}': {value!r} is not an ISO date.") from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=datetime.UTC)
        return parsed
    raise DQLError(f"Field '{field}' expects an ISO date or epoch milliseconds, got {type_name(value)}.")


def item_id_of(field: str, value: Any) -> int:
    try:
        return parse_item_id(value)
    except ValueError as exc:
        raise DQLError(f"Field '{field}': {value!r} is not an item id.") from exc
