"""The connection type queries take: one borrowed from the pool, or a plain one (migrations, the
tests, the benchmarks).

jsonb comes and goes as Python values through the codec every pooled connection has; a plain
connection that runs a jsonb query needs :func:`theset_daemon.db.pool.set_json_codec` first.
"""

from __future__ import annotations

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Connection = asyncpg.Connection | PoolConnectionProxy
