"""24-hex string ids for the Dataloop-style API and DQL.

dtlpy treats ids as opaque strings but compares them with `$gt` for keyset paging, so they
must sort in creation order: the primary key, zero-padded hex, does that.

Items (and any kind without a tag) use plain `f"{pk:024x}"`. Other kinds carry a one-byte
tag in their first two hex digits, so a `metadata.system.refs.id` value says by itself
whether it names a task or an assignment (their primary keys overlap). Within one kind the
ids still sort by primary key.
"""

import re

from taskboard.inputs import MAX_ID

_HEX24 = re.compile(r"^[0-9a-f]{24}$")
_DIGITS = re.compile(r"^[0-9]{1,20}$")
_PK_DIGITS = 22  # the 88 bits after the tag byte

# kind -> tag byte; "item" has tag 0, so an item id is just the zero-padded primary key.
KIND_TAGS: dict[str, int] = {
    "item": 0x00,
    "task": 0x01,
    "assignment": 0x02,
    "dataset": 0x03,
    "project": 0x04,
    "recipe": 0x05,
    "pipeline": 0x06,
    "user": 0x07,
    "job": 0x08,
    "label": 0x09,
    # The API's consensus clones: one per copy of an item in a consensus task (the task row's key).
    "clone": 0x0A,
    # Taskboard's own: bulk operations (distribution control), outside Dataloop's kinds.
    "operation": 0x10,
}
_TAG_KINDS = {tag: kind for kind, tag in KIND_TAGS.items()}
_MAX_PK = 16**_PK_DIGITS - 1


def api_id(kind: str, pk: int) -> str:
    if not isinstance(pk, int) or isinstance(pk, bool) or pk < 0 or pk > _MAX_PK:
        raise ValueError(f"Cannot make an API id from {pk!r}.")
    return f"{KIND_TAGS[kind]:02x}{pk:0{_PK_DIGITS}x}"


def item_api_id(pk: int) -> str:
    return api_id("item", pk)


def task_api_id(pk: int) -> str:
    return api_id("task", pk)


def assignment_api_id(pk: int) -> str:
    return api_id("assignment", pk)


def api_id_kind(value: str) -> str | None:
    """The kind a 24-hex id names, or None when it is not a well-formed id."""
    if not isinstance(value, str) or not _HEX24.match(value.lower()):
        return None
    return _TAG_KINDS.get(int(value[:2], 16))


def parse_api_id(value: str, kind: str = "item") -> int:
    """The primary key in a 24-hex id of `kind`; ValueError for anything else.

    The 88 bits after the tag can spell more than a bigint holds: such an id names no row, and is refused
    here rather than reaching SQLite as an integer it cannot bind.
    """
    if not isinstance(value, str) or not _HEX24.match(value.lower()):
        raise ValueError(f"{value!r} is not a 24-hex id.")
    if int(value[:2], 16) != KIND_TAGS[kind]:
        raise ValueError(f"{value!r} is not a {kind} id.")
    pk = int(value[2:], 16)
    if pk > MAX_ID:
        raise ValueError(f"{value!r} is not a {kind} id.")
    return pk


def parse_item_id(value) -> int:
    """An item id as the API or a form gives it: a 24-hex string, or a plain integer
    (an int, or a string of at most 20 digits) from 1 to the largest bigint."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not an item id.")
    if isinstance(value, int):
        if not 1 <= value <= MAX_ID:
            raise ValueError(f"{str(value)[:30]!r} is not an item id.")
        return value
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 24:
            return parse_api_id(text, "item")
        if _DIGITS.match(text) and 1 <= int(text) <= MAX_ID:
            return int(text)
    raise ValueError(f"{str(value)[:30]!r} is not an item id.")
