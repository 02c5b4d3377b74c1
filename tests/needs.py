"""What a test needs from the machine (a browser, PostgreSQL, Redis, a worker): found, or else the
test skips on a newcomer's machine and fails in CI, which must not pass by skipping."""

import os
from typing import NoReturn

import pytest
import redis


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI runs this test: it must not pass by skipping it)")
    pytest.skip(reason)


def redis_or_unavailable(url: str) -> None:
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        unavailable(f"Redis does not answer at {url}: {error}")
