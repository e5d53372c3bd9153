"""The simulator application: Spotify, Ticketmaster and setlist.fm on one aiohttp app.

Paths are the providers' own (CONTRACT.md section 8), so the daemon's base URLs become
``{base}/v1``, ``{base}`` (accounts, token at ``/api/token``), ``{base}/discovery/v2`` and
``{base}/rest/1.0``. Each call builds a fresh world (catalog, counters, faults, tokens) owned by the
application; nothing is shared between two applications.
"""

from __future__ import annotations

from aiohttp import web

from theset_daemon.config import SimulatorSettings
from theset_daemon.sim import control, setlistfm, spotify, ticketmaster
from theset_daemon.sim.gate import FRONTENDS, provider_gate
from theset_daemon.sim.limits import SimLimits
from theset_daemon.sim.state import SIM_STATE, SimState


def build_sim_app(settings: SimulatorSettings, limits: SimLimits | None = None) -> web.Application:
    """``limits`` None: the providers' documented rates, the daily quotas of ``settings``."""
    app = web.Application(middlewares=[control.control_errors, provider_gate])
    app[SIM_STATE] = SimState.create(settings, limits or SimLimits.from_settings(settings))
    app[FRONTENDS] = (
        spotify.SpotifyFrontend(),
        ticketmaster.TicketmasterFrontend(),
        setlistfm.SetlistfmFrontend(),
    )
    spotify.add_routes(app)
    ticketmaster.add_routes(app)
    setlistfm.add_routes(app)
    control.add_routes(app)
    return app
