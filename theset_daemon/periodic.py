"""``periodic``: the one way the daemon runs a step on a timer, forever.

Every background loop (lease renewals, sweeps, heartbeats, samplers) is this: sleep, run the step,
log a failure and go on. A step that raises never ends the loop (a loop that died silently on an
unexpected error is how a renewal stops and a lease is lost), and cancelling the task is the only
way out. The caller owns the task.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from theset_daemon.log import get_logger

log = get_logger(__name__)


async def periodic(
    step: Callable[[], Awaitable[object]],
    interval_s: float,
    *,
    failed_event: str,
    **log_fields: Any,
) -> NoReturn:
    """Run ``step`` every ``interval_s``, after a first sleep. A failure is logged as
    ``failed_event`` with ``log_fields`` and its traceback, and the loop waits its interval
    before trying again."""
    while True:
        await asyncio.sleep(interval_s)
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(failed_event, **log_fields)


def start_periodic(
    step: Callable[[], Awaitable[object]],
    interval_s: float,
    *,
    name: str,
    failed_event: str,
    **log_fields: Any,
) -> asyncio.Task[NoReturn]:
    """:func:`periodic` as a task named ``name`` (cancel and await it to stop)."""
    return asyncio.create_task(
        periodic(step, interval_s, failed_event=failed_event, **log_fields), name=name
    )
