"""Read-route tests: the real application over a real Postgres, and a real Redis where needed."""

from tests.cache.redis_server import redis_server, redis_url

__all__ = ["redis_server", "redis_url"]
