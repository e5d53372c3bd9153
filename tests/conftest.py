"""What every test gets: the shared fixtures (``tests/plugins``), a loop guard on every async test,
and the xdist groups that keep the process tests in runs of their own.

- ``tests.plugins.postgres``: one Postgres for the run, a migrated template, a database per test;
- ``tests.plugins.daemon``: ``theset-daemon run`` as a process, its log and sd_notify;
- ``tests.plugins.redis_server``: a real Redis-protocol server for the session;
- ``tests.plugins.receivers``: the notification receivers (SMTP, Slack, PagerDuty);
- ``tests.plugins.simulator``: the simulator unthrottled, for tests that do not measure rates.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[1]
pytest_plugins = (
    "tests.plugins.postgres",
    "tests.plugins.daemon",
    "tests.plugins.redis_server",
    "tests.plugins.receivers",
    "tests.plugins.simulator",
)


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
