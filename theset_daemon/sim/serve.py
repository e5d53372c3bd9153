"""Serving the simulator: in the caller's event loop (tests, the daemon's simulated mode) or as
its own process (``theset-daemon simulate``).

``run_simulator`` follows the daemon's pattern: signal handlers only set an event, and the main
task stops the server itself, so SIGINT and SIGTERM are clean stops with exit code 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator

from aiohttp import web

from theset_daemon import log
from theset_daemon.config import SimulatorSettings
from theset_daemon.sim.app import build_sim_app
from theset_daemon.sim.limits import SimLimits

logger = log.get_logger(__name__)

# In-flight requests get this long at shutdown (a latency fault may be sleeping in one).
SHUTDOWN_TIMEOUT_S = 2.0


@contextlib.asynccontextmanager
async def running_simulator(
    settings: SimulatorSettings,
    limits: SimLimits | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
) -> AsyncIterator[str]:
    """Serve on host:port (0 = free port) in the current loop; yield the base URL
    'http://127.0.0.1:PORT'; stop on exit. ``limits`` None: ``SimLimits.from_settings``."""
    runner = web.AppRunner(
        build_sim_app(settings, limits),
        handle_signals=False,
        access_log=None,
        shutdown_timeout=SHUTDOWN_TIMEOUT_S,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = runner.addresses[0][1]
        shown_host = "127.0.0.1" if host in ("127.0.0.1", "0.0.0.0", "", "localhost") else host
        yield f"http://{shown_host}:{bound_port}"
    finally:
        await runner.cleanup()


def run_simulator(
    settings: SimulatorSettings,
    limits: SimLimits | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 8090,
) -> int:
    """Serve until SIGINT or SIGTERM; 0 on a clean stop, 1 when the port cannot be bound."""
    return asyncio.run(_serve(settings, limits or SimLimits.from_settings(settings), host, port))


async def _serve(settings: SimulatorSettings, limits: SimLimits, host: str, port: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for signum in signals:
        loop.add_signal_handler(signum, stop.set)
    try:
        async with running_simulator(settings, limits, host=host, port=port) as base_url:
            logger.info(
                "simulator_started",
                base_url=base_url,
                seed=settings.seed,
                artists=settings.artists,
                latency_ms=settings.latency_ms,
                spotify_mode=limits.spotify_mode,
                ticketmaster_daily_quota=limits.ticketmaster_daily_quota,
                setlistfm_daily_quota=limits.setlistfm_daily_quota,
            )
            await stop.wait()
            logger.info("simulator_stopping")
    except OSError as exc:
        logger.error("simulator_start_failed", error=str(exc), host=host, port=port)
        return 1
    finally:
        for signum in signals:
            loop.remove_signal_handler(signum)
    logger.info("simulator_stopped")
    return 0
