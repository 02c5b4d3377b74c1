"""The Redis cache backend, with one client per connection pool instead of one per operation.

Django's RedisCache builds a new `redis.Redis` client for every get, set or incr; redis-py's
constructor fills a table of about 170 response callbacks each time, which cost more CPU than the
round trip to Redis itself. Every request reads its session through the cache (cached_db), so under
the load test (tests/load, issue 22) that construction was paid on every request. A client holds no
connection of its own (it borrows one from the pool per command) and is safe to share between
threads, so each process keeps one per pool.
"""

from __future__ import annotations

from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class SharedClientRedisCacheClient(RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        django: Any = self  # RedisCacheClient's own attributes, which django-stubs leaves out
        index = django._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            pool = django._pools.get(index)
            if pool is None:
                pool = django._pools[index] = django._pool_class.from_url(
                    django._servers[index], **django._pool_options
                )
            client = self._clients[index] = django._client(connection_pool=pool)
        return client


class SharedClientRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = SharedClientRedisCacheClient
