"""The connection type queries take: a plain connection (the CLI) or one borrowed from the pool."""

from __future__ import annotations

import asyncpg
from asyncpg.pool import PoolConnectionProxy

Connection = asyncpg.Connection | PoolConnectionProxy
