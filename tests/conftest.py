"""Shared fixtures: a real Postgres for the session, a fresh database per test, a loop guard.

The Postgres is pgserver's (the same embedded server the daemon uses), started once in a temporary
directory; ``THESET_TEST_DATABASE_URL`` points the suite at another server instead. Each test that
asks for ``database_url`` gets its own database, dropped afterwards.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import tempfile
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

REPO = Path(__file__).resolve().parents[1]
# The notification receivers (SMTP, Slack, PagerDuty) for the monitoring and browser tests.
pytest_plugins = ("tests.receivers",)


def with_database(dsn: str, database: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{database}"))


@pytest.fixture(scope="session")
def pg_admin_dsn() -> Iterator[str]:
    if url := os.environ.get("THESET_TEST_DATABASE_URL"):
        yield url
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: $XDG_RUNTIME_DIR not set
        import pgserver
    # Not under pytest's basetemp: pytest prunes old /tmp/pytest-of-<user>/pytest-N folders at
    # every session start, so a second session running at the same time could delete this
    # server's data directory under it.
    with tempfile.TemporaryDirectory(prefix="theset-test-pg-") as folder:
        server = pgserver.get_server(Path(folder) / "data", cleanup_mode="delete")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


@pytest.fixture
def database_url(pg_admin_dsn: str) -> Iterator[str]:
    """A fresh, empty database for this test (dropped afterwards, connections and all)."""
    name = f"t_{uuid.uuid4().hex[:16]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(pg_admin_dsn)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(pg_admin_dsn, name)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def conn(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(database_url)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def loop_guard() -> AsyncIterator[None]:
    """Fail the test when an exception reached the loop's handler or a task was left pending."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    previous = loop.get_exception_handler()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    tasks_before = asyncio.all_tasks()
    yield
    for _ in range(3):  # let cancelled tasks finish unwinding
        await asyncio.sleep(0)
    leftover = [
        task
        for task in asyncio.all_tasks() - tasks_before
        if not task.done() and task is not asyncio.current_task()
    ]
    loop.set_exception_handler(previous)
    assert not reported, f"exceptions reached the event loop: {reported}"
    assert not leftover, f"tasks left pending: {leftover}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
            item.add_marker(pytest.mark.usefixtures("loop_guard"))
