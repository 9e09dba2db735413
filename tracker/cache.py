"""Django's Redis cache with one ``redis.Redis`` client per connection pool.

Django 5.2's ``RedisCacheClient.get_client`` builds a new ``redis.Redis`` around the
pool on every cache operation; with redis-py 8 that is about 70 µs (its table of
response callbacks is rebuilt each time), paid twice per API request by the throttle
(read and write its counts), more than the round trips themselves. A client is
thread-safe and holds no connection of its own (they live in the pool), so one per pool
is enough. Everything else — pools, serializer, keys, timeouts — is Django's.
"""

from __future__ import annotations

from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient as DjangoRedisCacheClient


class RedisCacheClient(DjangoRedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    """``CACHES["default"]["BACKEND"]`` when ``TRACKER_CACHE_URL`` is a Redis URL."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient
