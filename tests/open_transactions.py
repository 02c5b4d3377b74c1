"""A test ends its body with its connection in the transactions it started in.

One left open would carry into every later test of its process: their transactions would become
savepoints and their query counts would grow, so the failure would show up far from its cause.
The check wraps the test's body alone (`pytest_runtest_call` in `tests/conftest.py`): once the
fixtures tear down, pytest-django's own rollback closes the innermost block, whichever it is, and a
stray one would pass for the test case's."""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


def _state() -> tuple[bool, int]:
    # Attributes only: reading them opens no connection, so tests without the database pass through.
    return connection.in_atomic_block, len(connection.atomic_blocks)


@contextmanager
def no_transaction_left_open() -> Iterator[None]:
    before = _state()
    yield
    after = _state()
    assert after[1] <= before[1], f"the test left {after[1] - before[1]} atomic block(s) open"
    assert after[0] == before[0], "the test left its database connection inside a transaction"
