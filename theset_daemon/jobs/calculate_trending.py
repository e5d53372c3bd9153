"""`calculate-trending` (CONTRACT.md section 4). Being written; see issue 6."""

from __future__ import annotations

from theset_daemon.jobs.context import JobContext, JobResult


async def run(ctx: JobContext) -> JobResult:
    raise NotImplementedError("calculate-trending is not written yet")
