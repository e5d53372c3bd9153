"""The upstream simulator: a faithful fake of Spotify, Ticketmaster and setlist.fm on one port.

Public surface, for the daemon's simulated mode and for tests:

- :func:`build_sim_app` — the aiohttp application (a fresh world per call);
- :func:`running_simulator` — serve it in the current loop, yielding the base URL;
- :class:`SimLimits` — rate limits, quotas, token lifetime and Spotify's access level;
- :data:`SIM_CREDENTIALS` — the credentials the daemon uses in simulated mode.
"""

from theset_daemon.sim.app import build_sim_app
from theset_daemon.sim.auth import SIM_CREDENTIALS, SimCredentials
from theset_daemon.sim.limits import SimLimits
from theset_daemon.sim.serve import run_simulator, running_simulator

__all__ = [
    "SIM_CREDENTIALS",
    "SimCredentials",
    "SimLimits",
    "build_sim_app",
    "run_simulator",
    "running_simulator",
]
