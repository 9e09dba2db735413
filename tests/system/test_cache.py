"""The Redis cache (``tracker.cache``) the throttles count in: Django's backend with one
client per pool. Against the real Redis at ``REDIS_TEST_URL`` (skipped with the reason
when it is not reachable)."""

import os

import pytest
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache

from tracker.cache import RedisCache

REDIS_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
pytestmark = pytest.mark.redis


@pytest.fixture
def cache():
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis 不可用（{REDIS_URL}）：{exc}")
    cache = RedisCache(REDIS_URL, {"KEY_PREFIX": "test-cache"})
    cache.delete_many(["history", "n"])
    yield cache
    # Only this test's keys: a clear() is FLUSHDB, which would empty the queues of a real
    # Celery worker test running beside it (pytest-xdist) on the same Redis database.
    cache.delete_many(["history", "n"])


def test_one_client_per_pool_and_the_same_behaviour_as_djangos(cache):
    assert cache._cache.get_client() is cache._cache.get_client(write=True)
    django = DjangoRedisCache(REDIS_URL, {"KEY_PREFIX": "test-cache"})
    cache.set("history", [[1, 3], [0, 2]], 60)
    assert django.get("history") == [[1, 3], [0, 2]]  # the same keys and serializer
    assert cache.add("history", "x") is False  # already there
    assert cache.add("n", 1) is True and cache.incr("n") == 2
    assert cache.get_many(["history", "n"]) == {"history": [[1, 3], [0, 2]], "n": 2}
    cache.delete("history")
    assert django.get("history") is None and cache.get("history", "gone") == "gone"


def test_settings_use_it_for_a_redis_url():
    """A deployment with ``TRACKER_CACHE_URL`` (or ``REDIS_URL``) gets this backend."""
    import subprocess
    import sys

    env = {**os.environ, "TRACKER_CACHE_URL": REDIS_URL, "SECRET_KEY": "x",
           "DJANGO_SETTINGS_MODULE": "config.settings"}  # fmt: skip
    code = "import django; django.setup(); from django.conf import settings as s; "
    code += "print(s.CACHES['default']['BACKEND'])"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "tracker.cache.RedisCache"
