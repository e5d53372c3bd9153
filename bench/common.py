"""What the benchmarks share: a throwaway Postgres, latency percentiles, the result row."""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Row:
    bench: str
    metric: str
    value: float
    unit: str
    target: str = ""

    def value_text(self) -> str:
        return f"{self.value:.3f}" if abs(self.value) < 10 else f"{self.value:,.0f}"


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A fresh pgserver Postgres in a temporary directory; yields its admin DSN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver
    with tempfile.TemporaryDirectory(prefix="theset-bench-") as tmp:
        server = pgserver.get_server(Path(tmp) / "pg", cleanup_mode="delete")
        try:
            yield server.get_uri()
        finally:
            server.cleanup()


def percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def median(samples: list[float]) -> float:
    return statistics.median(samples)
