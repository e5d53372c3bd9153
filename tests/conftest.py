"""What every test gets: the shared fixtures (``tests/plugins``), a loop guard on every async test,
and the xdist groups that keep the process and timing tests in runs of their own.

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


# ``make test`` runs pytest-xdist with ``--dist loadgroup``: each group below runs whole, one test
# after another, on one worker, beside the other tests spread over the other workers. The groups
# go by path, through a scheduler of our own (below): xdist's ``xdist_group`` marks are lost
# under pytest 9.2, whose node ids xdist can no longer suffix (pytest-dev/pytest-xdist#1386).
XDIST_GROUPS = {
    # Processes broken on purpose: the daemon, Postgres, Redis and the simulator.
    "faults": ("tests/faults/",),
    # The daemon, the simulator or the CLI as processes.
    "process": ("tests/e2e/", "tests/fuzz/test_openapi_fuzz.py", "tests/sim/test_cli.py"),
    # A headless Chromium against the real app.
    "browser": ("tests/browser/",),
    # In-process tests that measure time: rates, windows, stop budgets, delivery latency.
    "timing": (
        "tests/upstream/test_http.py",
        "tests/sim/test_limits.py",
        "tests/integration/test_stop.py",
        "tests/importer/test_shutdown.py",
        "tests/progress/test_progress.py",
    ),
}


def xdist_group_of(nodeid: str) -> str | None:
    return next((g for g, paths in XDIST_GROUPS.items() if nodeid.startswith(paths)), None)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadgroup``: the groups of :data:`XDIST_GROUPS`, every other test on its own."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class PathGroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group_of(nodeid) or nodeid

    return PathGroupScheduling(config, log)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if isinstance(item, pytest.Function) and inspect.iscoroutinefunction(item.obj):
            item.add_marker(pytest.mark.usefixtures("loop_guard"))
