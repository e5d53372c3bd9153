"""The four cron jobs and the runner that gives each one its lease, run row, progress and metrics.

``context`` is the seam: a job is ``async def run(ctx: JobContext) -> JobResult``, and knows nothing
of leases, run rows or the scheduler. ``registry`` maps each contract job name to its function and
request model.
"""
