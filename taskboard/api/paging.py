"""Dataloop's paged list: {"items", "totalItemsCount", "totalPagesCount", "hasNextPage"}."""

import math

from taskboard.annotation.dql import MAX_PAGE
from taskboard.api.http import bad_request

MAX_PAGE_SIZE = 1000


def page_params(body: dict, *, default_size: int = 1000) -> tuple[int, int]:
    page = body.get("page", 0)
    size = body.get("pageSize", default_size)
    if isinstance(page, bool) or not isinstance(page, int) or not 0 <= page <= MAX_PAGE:
        raise bad_request(f"page must be a whole number from 0 to {MAX_PAGE}.")
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PAGE_SIZE:
        raise bad_request(f"pageSize must be a whole number from 1 to {MAX_PAGE_SIZE}.")
    return page, size


def paged(rows: list, *, total: int, page: int, size: int, has_next: bool | None = None) -> dict:
    if has_next is None:
        has_next = (page + 1) * size < total
    return {
        "items": rows,
        "totalItemsCount": total,
        "totalPagesCount": math.ceil(total / size) if size else 0,
        "hasNextPage": has_next,
    }
