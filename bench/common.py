"""What the benchmarks share: a throwaway Postgres, latency percentiles, the result row."""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from theset_daemon import config
from theset_daemon.config import SettingsHolder
from theset_daemon.sim import SIM_CREDENTIALS


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


def pointed_at_simulator(
    sim_url: str,
    rates_per_s: dict[str, float],
    *,
    spotify_mode: str = "extended",
    extra: str = "",
    env: dict[str, str] | None = None,
) -> SettingsHolder:
    """Daemon settings in ``live`` mode aimed at a simulator, as an operator would write them."""
    c = SIM_CREDENTIALS
    setlistfm_rate = rates_per_s.get("setlistfm", 2.0)
    text = f"""
[log]
level = "error"
[upstream]
mode = "live"
[upstream.spotify]
api_base_url = "{sim_url}/v1"
accounts_base_url = "{sim_url}"
api_mode = "{spotify_mode}"
client_id = "{c.spotify_client_id}"
client_secret = "{c.spotify_client_secret}"
max_rate_per_s = {rates_per_s["spotify"]}
[upstream.ticketmaster]
base_url = "{sim_url}/discovery/v2"
api_key = "{c.ticketmaster_api_key}"
max_rate_per_s = {rates_per_s["ticketmaster"]}
[upstream.setlistfm]
base_url = "{sim_url}/rest/1.0"
api_key = "{c.setlistfm_api_key}"
max_rate_per_s = {setlistfm_rate}
{extra}
"""
    return SettingsHolder(config.parse(text, env or {}), Path("-"))
