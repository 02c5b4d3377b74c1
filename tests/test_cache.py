"""The Redis cache backend keeps one client per pool (taskboard/cache.py) and still behaves as Django's."""

import os

import pytest

from taskboard.cache import SharedClientRedisCache
from tests.needs import redis_or_unavailable

URL = os.environ.get("REDIS_CACHE_URL") or "redis://127.0.0.1:6379/15"


@pytest.fixture
def cache():
    redis_or_unavailable(URL)
    backend = SharedClientRedisCache(URL, {"KEY_PREFIX": "test-cache-shared-client"})
    yield backend
    backend.delete_many(["a", "n"])


def test_one_client_serves_every_call_and_the_cache_works(cache):
    client = cache._cache.get_client(write=True)
    cache.set("a", {"x": 1}, 30)
    assert cache.get("a") == {"x": 1}
    assert cache.add("n", 1, 30) and cache.incr("n") == 2
    assert cache._cache.get_client() is client
    assert cache._cache.get_client("a", write=True) is client
