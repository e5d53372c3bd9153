"""Cache tests: a real Redis server for the session (see ``redis_server.py``), flushed per test."""

from tests.cache.redis_server import redis_server, redis_url

__all__ = ["redis_server", "redis_url"]
