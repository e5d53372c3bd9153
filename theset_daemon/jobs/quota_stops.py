"""The providers a run has stopped calling because its share of the day's quota is used up.

CONTRACT.md section 9 ("Reserve"): a job's requests are *background*; when the day's background
share of a provider is used (or the provider answered its own quota 429) a request raises
:class:`~theset_daemon.upstream.errors.QuotaExhausted`, nothing sent. The run then:

- marks the provider spent until the refusal's reset, with one ``job_quota_stopped`` log line
  (provider, reason, retry_after_s), the first time (:meth:`QuotaStops.stop`);
- skips that provider's calls in its later items (``JobContext.unless_spent``): each item does what
  the other providers allow and leaves the provider's kind of data unsynced (not stamped), so the
  next run takes it up;
- records no error for it, per artist or otherwise: a quota refusal is not a failure;
- ends ``partial`` (unless something really failed more), with ``"quotaStopped": [providers,
  sorted]`` in its summary. The field is absent when nothing was stopped, so such a run's summary
  is what it always was.

For the monitor a quota-stopped run is a ``partial`` one, which counts as a success for every alert
rule (``error_rate`` counts ``failed`` runs only, ``consecutive_failures`` breaks on a partial):
running out of the day's share is the budget working, not the job failing. The status page and
``/api/monitoring/upstream`` are where the day's usage shows.

The stops travel in the run's checkpoint (``quotaStopped``: provider → reset time), so a resumed
attempt skips a provider that is still spent, and its summary still names a provider an earlier
attempt was stopped on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from theset_daemon.upstream.errors import QuotaExhausted

CHECKPOINT_KEY = "quotaStopped"
SUMMARY_KEY = "quotaStopped"


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class QuotaStops:
    #: provider → when its quota resets (past it, the provider is called again).
    until: dict[str, datetime] = field(default_factory=dict)

    def spent(self, provider: str, now: datetime | None = None) -> bool:
        until = self.until.get(provider)
        return until is not None and until > (now or _now())

    def stop(self, refusal: QuotaExhausted, now: datetime | None = None) -> bool:
        """Mark ``refusal.provider`` spent until its reset; True when it was not spent already
        (the caller logs that once)."""
        now = now or _now()
        news = not self.spent(refusal.provider, now)
        until = now + timedelta(seconds=max(0.0, refusal.retry_after_s))
        previous = self.until.get(refusal.provider)
        self.until[refusal.provider] = until if previous is None else max(previous, until)
        return news

    @property
    def stopped(self) -> list[str]:
        """Every provider this run was stopped on, sorted (the summary's ``quotaStopped``)."""
        return sorted(self.until)

    def as_checkpoint(self) -> dict[str, Any]:
        if not self.until:
            return {}
        return {CHECKPOINT_KEY: {p: t.isoformat() for p, t in sorted(self.until.items())}}

    @classmethod
    def from_checkpoint(cls, saved: Mapping[str, Any] | None) -> QuotaStops:
        """The stops an interrupted attempt saved (none for a fresh run; garbage is ignored)."""
        stops = cls()
        entries = (saved or {}).get(CHECKPOINT_KEY)
        if isinstance(entries, Mapping):
            for provider, value in entries.items():
                try:
                    until = datetime.fromisoformat(str(value))
                except ValueError:
                    continue
                stops.until[str(provider)] = until if until.tzinfo else until.replace(tzinfo=UTC)
        return stops

    def summary(self, summary: Mapping[str, Any]) -> dict[str, Any]:
        """``summary`` with ``quotaStopped`` set when a provider was stopped, else as it is."""
        out = dict(summary)
        if self.until:
            out[SUMMARY_KEY] = self.stopped
        return out

    def checkpoint(self, checkpoint: Mapping[str, Any]) -> dict[str, Any]:
        """``checkpoint`` with the stops in it (replacing an older attempt's)."""
        out = {k: v for k, v in checkpoint.items() if k != CHECKPOINT_KEY}
        out.update(self.as_checkpoint())
        return out
