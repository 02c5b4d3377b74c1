"""API ids: the datasets app's 24-hex ids, plus the kinds only the API has (commands).

Every id sorts in creation order within its kind (see `taskboard.datasets.ids`).
"""

from taskboard.datasets.ids import KIND_TAGS, api_id, api_id_kind, parse_api_id  # noqa: F401

# Commands exist only in the API; their tag byte is outside the datasets table.
_COMMAND_TAG = 0x0C


def command_api_id(pk: int) -> str:
    return f"{_COMMAND_TAG:02x}{pk:022x}"


def parse_command_id(value: str) -> int:
    if not isinstance(value, str) or len(value) != 24 or not value.lower().startswith(f"{_COMMAND_TAG:02x}"):
        raise ValueError(f"{value!r} is not a command id.")
    try:
        return int(value[2:], 16)
    except ValueError:
        raise ValueError(f"{value!r} is not a command id.") from None


def parse_id(value, kind: str) -> int | None:
    """The primary key named by an API id of `kind`, or None (the caller answers 404)."""
    try:
        return parse_api_id(value, kind)
    except (ValueError, KeyError):
        return None
