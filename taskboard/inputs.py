"""Rules every value from outside meets on its way in, whichever app reads it (docs/tasks.md, "Bad input").

A value a rule refuses is the caller's mistake (a 4xx naming the field), never a database error:

- an id is a whole number from 1 to `MAX_ID`, typed with at most `MAX_ID_DIGITS` ASCII digits
  (SQLite cannot bind a larger Python int, and `int()` of thousands of digits raises);
- a whole number stored or used in SQL (a limit, a count) is at most `MAX_WHOLE`;
- JSON text holds no NUL character (PostgreSQL's text and jsonb refuse it) and no NaN or
  Infinity (not JSON, and jsonb refuses them too).
"""

import math

from django import forms
from django.core.exceptions import ValidationError

MAX_ID = 2**63 - 1  # the largest primary key either database stores (bigint)
MAX_ID_DIGITS = 18  # every id this long fits; a 19-digit one may not
MAX_WHOLE = 2**31 - 1  # PostgreSQL's integer: the largest limit or setting taken


def parse_pk(value) -> int | None:
    """The primary key in a form value or query parameter ("42", 42), or None when it cannot be one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 1 <= value <= MAX_ID else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS and int(text) >= 1:
        return int(text)
    return None


def text_problem(text: str) -> str | None:
    """What no column can store in a text: NUL (PostgreSQL refuses it) or a lone surrogate (not
    Unicode that UTF-8 can encode: JSON's "\\ud800" decodes to one)."""
    if "\x00" in text:
        return "Text may not contain NUL (\\u0000) characters."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "Text may not contain lone surrogates (\\ud800 to \\udfff): they are not valid Unicode."
    return None


def json_problem(value, path: str = "") -> str | None:
    """The first thing in decoded JSON that no table can store, as "where: what", or None.

    Keys are checked like values; the walk is iterative, so nesting depth does not matter here.
    """
    stack = [(path, value)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, str):
            problem = text_problem(node)
            if problem:
                return f"{where or 'body'}: {problem[0].lower()}{problem[1:]}"
        elif isinstance(node, float):
            if not math.isfinite(node):
                return f"{where or 'body'}: numbers must be finite (not NaN or Infinity)."
        elif isinstance(node, dict):
            children = []
            for key, child in node.items():
                name = f"{where}.{key}" if where else str(key)
                if isinstance(key, str) and text_problem(key):
                    return f"{name!r}: a key may not contain NUL (\\u0000) characters or lone surrogates."
                children.append((name, child))
            stack.extend(reversed(children))
        elif isinstance(node, list):
            stack.extend(reversed([(f"{where}[{i}]", child) for i, child in enumerate(node)]))
    return None


def _refuse_non_ids(field, values) -> None:
    for value in values:
        if not isinstance(value, field.queryset.model) and parse_pk(value) is None:
            shown = str(value)[:30] + ("…" if len(str(value)) > 30 else "")
            raise ValidationError(
                field.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": shown}
            )


class IdChoiceField(forms.ModelChoiceField):
    """A ModelChoiceField whose value must look like a primary key before the database sees it."""

    def to_python(self, value):
        if (
            value not in self.empty_values
            and self.to_field_name is None
            and self.queryset is not None
            and not isinstance(value, self.queryset.model)
            and parse_pk(value) is None
        ):
            raise ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


class IdsChoiceField(forms.ModelMultipleChoiceField):
    """A ModelMultipleChoiceField that refuses a value no primary key can have (a 30-digit "id" would reach
    SQLite's `IN (…)` as a Python int it cannot bind)."""

    def _check_values(self, value):
        if self.to_field_name is None and isinstance(value, list | tuple):
            _refuse_non_ids(self, value)
        # django-stubs leaves out this private hook of ModelMultipleChoiceField (Django has it since 1.x).
        return super()._check_values(value)  # type: ignore[misc]
