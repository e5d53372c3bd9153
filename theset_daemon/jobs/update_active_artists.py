"""`update-active-artists` (CONTRACT.md section 4). Being written; see issue 6."""

from __future__ import annotations

from theset_daemon.jobs.context import JobContext, JobResult


async def run(ctx: JobContext) -> JobResult:
    raise NotImplementedError("update-active-artists is not written yet")
