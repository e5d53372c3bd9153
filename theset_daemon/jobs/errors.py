"""Why a trigger is refused: the runner raises these, the routes and the scheduler answer them."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID


class AlreadyRunning(Exception):
    """The job is running (here or on another instance); ``run_id`` is that run."""

    def __init__(self, job: str, run_id: UUID | None) -> None:
        super().__init__(f"{job} is already running" + (f" (run {run_id})" if run_id else ""))
        self.job = job
        self.run_id = run_id


class FireTaken(Exception):
    """This scheduled fire (job, scheduled_for) already has a run: it never runs twice."""

    def __init__(self, job: str, scheduled_for: datetime) -> None:
        super().__init__(f"{job} fire at {scheduled_for.isoformat()} already ran")
        self.job = job
        self.scheduled_for = scheduled_for


class UnknownJob(LookupError):
    def __init__(self, job: str) -> None:
        super().__init__(f"no job named {job!r}")
        self.job = job


class ShuttingDown(Exception):
    """The runner takes no new runs while the daemon stops."""
