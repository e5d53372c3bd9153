"""Fault tests run against real processes: the daemon (``theset-daemon run``, through the fixtures
of ``tests.plugins.daemon``), Postgres, Redis and the simulator in its own process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.faults.storm_support import Simulator, simulator

#: The simulator's catalog size, unless a test module sets its own ``SIM_ARTISTS``.
SIM_ARTISTS = 12


@pytest.fixture
def sim(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Simulator]:
    """``theset-daemon simulate`` for this test, stopped afterwards."""
    artists = getattr(request.module, "SIM_ARTISTS", SIM_ARTISTS)
    with simulator(tmp_path, artists=artists) as running:
        yield running
