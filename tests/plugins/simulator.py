"""The simulator without its per-second limits, for tests that do not measure rates.

The simulator enforces the contract's per-second windows (``theset_daemon/sim/limits.py``), and
the daemon's clients pace themselves under them (``max_rate_per_s``): a test that syncs a catalog
would spend most of its time waiting for a 2-per-second setlist.fm. A test that does not measure
rates takes the ``unthrottled_simulator`` fixture (every simulator built during it admits any rate;
quotas, faults and statistics are unchanged) and raises its clients' ``max_rate_per_s`` to
:data:`UNTHROTTLED_RATE_PER_S` (:data:`UNTHROTTLED_CONFIG`); a daemon process gets
:data:`UNTHROTTLED_ENV` in its environment.
The tests of rates themselves (``tests/sim/test_limits.py``, ``tests/upstream/test_http.py``, the
upstream storms) keep the real limits.
"""

from __future__ import annotations

import pytest

from theset_daemon.sim.limits import RATE_WINDOWS_ENV, SimLimits

#: ``max_rate_per_s`` for every provider, where a test does not measure rates (the config's most).
UNTHROTTLED_RATE_PER_S = 1000
#: The clients' rates at :data:`UNTHROTTLED_RATE_PER_S`, for a config without these tables.
UNTHROTTLED_CONFIG = "".join(
    f"[upstream.{provider}]\nmax_rate_per_s = {UNTHROTTLED_RATE_PER_S}\n"
    for provider in ("spotify", "ticketmaster", "setlistfm")
)
#: A daemon process's environment for an unthrottled embedded simulator.
UNTHROTTLED_ENV = {RATE_WINDOWS_ENV: "off"}
#: Limits for a simulator a test builds itself: per-second windows out of the way.
UNTHROTTLED_LIMITS = SimLimits(
    spotify_per_s=100_000, ticketmaster_per_s=100_000, setlistfm_per_s=100_000
)


@pytest.fixture
def unthrottled_simulator(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulators built during this test (the daemon's embedded one too) admit any rate."""
    monkeypatch.setenv(RATE_WINDOWS_ENV, "off")
