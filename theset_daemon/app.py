"""Composition root: :func:`build_app` wires every resource into one aiohttp ``Application``.

One cleanup context per long-lived resource, in dependency order (settings holder -> database
-> ... ); aiohttp runs the teardowns in reverse, and only for the contexts that started.

It is also the one place (with ``cli.py``) that imports the upstream simulator: in simulated mode
:func:`open_upstreams` starts it and points the clients at it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping

from aiohttp import web
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from theset_daemon import __version__
from theset_daemon.appkeys import (
    CACHE,
    DATABASE,
    IMPORTER,
    IN_FLIGHT,
    METRICS,
    MONITOR,
    PRESENCE,
    PROGRESS,
    READINESS,
    RUNNER,
    SCHEDULER,
    SETTINGS,
    STOPPING,
    UPSTREAMS,
)
from theset_daemon.cache import Cache, open_cache
from theset_daemon.config import SettingsHolder, UpstreamSettings
from theset_daemon.db.pool import Database, open_database
from theset_daemon.durable import new_owner_id
from theset_daemon.health import Check, ComponentStatus, ReadinessChecks
from theset_daemon.importer.service import open_importer
from theset_daemon.jobs.context import JobName
from theset_daemon.jobs.registry import JOBS, JobSpec
from theset_daemon.jobs.runner import open_runner
from theset_daemon.jobs.scheduler import open_scheduler
from theset_daemon.lifetime import started
from theset_daemon.log import get_logger
from theset_daemon.monitoring.metrics import JobRunMetrics, LiveStateCollector
from theset_daemon.monitoring.service import open_monitor
from theset_daemon.presence import Presence
from theset_daemon.progress import open_broker
from theset_daemon.sim import SIM_CREDENTIALS, SimLimits, running_simulator
from theset_daemon.stop import begin_stop
from theset_daemon.upstream.clients import Shared, Simulated, Upstreams, open_clients
from theset_daemon.web import (
    api,
    routes_cron,
    routes_dashboard,
    routes_import,
    routes_monitoring,
    routes_reads,
    routes_status,
    routes_system,
    routes_upstream,
)
from theset_daemon.web.inflight import RequestsInFlight
from theset_daemon.web.middleware import middlewares, on_response_prepare

log = get_logger(__name__)

ROUTE_TABLES = (
    routes_system.routes,
    routes_reads.routes,
    routes_import.routes,
    routes_cron.routes,
    routes_monitoring.routes,
    routes_upstream.routes,
    routes_status.routes,
    routes_dashboard.routes,
)


def build_app(
    holder: SettingsHolder,
    route_tables: tuple[api.RouteTable, ...] = ROUTE_TABLES,
    *,
    jobs: Mapping[JobName, JobSpec] = JOBS,
) -> web.Application:
    """The application; ``jobs`` is the runner's job table (tests pass their own functions)."""
    settings = holder.current
    app = web.Application(
        middlewares=middlewares(),
        client_max_size=settings.server.max_body_bytes,
    )
    app[SETTINGS] = holder
    app[READINESS] = ReadinessChecks()
    app[METRICS] = CollectorRegistry()
    app[STOPPING] = asyncio.Event()
    app.on_response_prepare.append(on_response_prepare)
    app.cleanup_ctx.append(database_ctx)
    app.cleanup_ctx.append(presence_ctx)
    app.cleanup_ctx.append(progress_ctx)
    app.cleanup_ctx.append(cache_ctx)
    app.cleanup_ctx.append(upstreams_ctx)
    app.cleanup_ctx.append(importer_ctx)
    app.cleanup_ctx.append(_runner_ctx(jobs))
    app.cleanup_ctx.append(monitor_ctx)
    # The scheduler starts last and stops first, so a fire never meets a closed runner.
    app.cleanup_ctx.append(scheduler_ctx)
    app[IN_FLIGHT] = RequestsInFlight()
    app.on_shutdown.append(begin_stop)  # the stop, top to bottom: theset_daemon/stop.py
    api.install(app, route_tables, title="theset-daemon", version=__version__)
    _warn_missing_secrets(holder)
    return app


async def database_ctx(app: web.Application) -> AsyncIterator[None]:
    async with open_database(app[SETTINGS].current.database) as database:
        app[DATABASE] = database
        app[READINESS].register("database", lambda: _database_status(database))
        yield
        app[READINESS].unregister("database")


async def presence_ctx(app: web.Application) -> AsyncIterator[None]:
    async with started(Presence(app[DATABASE], new_owner_id())) as presence:
        app[PRESENCE] = presence
        yield


async def progress_ctx(app: web.Application) -> AsyncIterator[None]:
    async with open_broker(app[DATABASE], app[SETTINGS]) as broker:
        app[PROGRESS] = broker
        yield


async def importer_ctx(app: web.Application) -> AsyncIterator[None]:
    async with open_importer(app[DATABASE], app[UPSTREAMS], app[SETTINGS], app[CACHE]) as imp:
        app[IMPORTER] = imp
        yield


def _runner_ctx(
    jobs: Mapping[JobName, JobSpec],
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def runner_ctx(app: web.Application) -> AsyncIterator[None]:
        async with open_runner(
            app[DATABASE],
            app[UPSTREAMS],
            app[CACHE],
            app[SETTINGS],
            jobs=jobs,
            holder_id=app[PRESENCE].instance,
        ) as runner:
            app[RUNNER] = runner
            yield

    return runner_ctx


async def monitor_ctx(app: web.Application) -> AsyncIterator[None]:
    runner, registry = app[RUNNER], app[METRICS]
    async with open_monitor(app[DATABASE], app[SETTINGS], runner.holder_id) as monitor:
        app[MONITOR] = monitor
        run_metrics = JobRunMetrics(registry)
        live = LiveStateCollector(
            app[DATABASE],
            sse_streams_open=lambda: app[PROGRESS].open_streams,
            loop_lag_s=lambda: monitor.loop_lag_s,
            imports_running=lambda: app[IMPORTER].running,
            jobs_running=lambda: len(runner.running),
        )
        registry.register(live)
        hooks = (run_metrics.record, monitor.on_run_finished)
        runner.monitor_hooks.extend(hooks)
        yield
        for hook in hooks:
            runner.monitor_hooks.remove(hook)
        registry.unregister(live)


async def scheduler_ctx(app: web.Application) -> AsyncIterator[None]:
    async with open_scheduler(app[RUNNER], app[SETTINGS]) as scheduler:
        app[SCHEDULER] = scheduler
        yield


async def cache_ctx(app: web.Application) -> AsyncIterator[None]:
    async with open_cache(app[SETTINGS], app[METRICS]) as cache:
        app[CACHE] = cache
        app[READINESS].register("cache", _cache_status(cache))
        yield
        app[READINESS].unregister("cache")


def _cache_status(cache: Cache) -> Check:
    async def check() -> ComponentStatus:
        return cache.status()

    return check


async def upstreams_ctx(app: web.Application) -> AsyncIterator[None]:
    shared = Shared(app[DATABASE], app[PRESENCE])
    async with open_upstreams(app[SETTINGS], app[METRICS], shared=shared) as upstreams:
        app[UPSTREAMS] = upstreams
        for name in upstreams.providers:
            app[READINESS].register(name, _provider_status(upstreams, name))
        yield
        for name in upstreams.providers:
            app[READINESS].unregister(name)


@contextlib.asynccontextmanager
async def open_upstreams(
    holder: SettingsHolder, registry: CollectorRegistry, *, shared: Shared | None = None
) -> AsyncIterator[Upstreams]:
    """The three clients as configured. In ``upstream.mode = "simulated"`` the built-in simulator
    is started first, in this loop on a loopback port, and every client is pointed at it (with
    the simulator's credentials where none are configured); it stops after the clients close."""
    upstream = holder.current.upstream
    if upstream.mode != "simulated":
        async with open_clients(holder, registry, shared=shared) as upstreams:
            yield upstreams
        return
    limits = SimLimits.from_settings(upstream.simulator, spotify_mode=upstream.spotify.api_mode)
    async with running_simulator(upstream.simulator, limits) as base_url:
        log.info("simulator_started", base_url=base_url, mode=upstream.spotify.api_mode)
        simulated = Simulated(base_url, lambda current: _on_simulator(current, base_url))
        async with open_clients(holder, registry, simulated=simulated, shared=shared) as upstreams:
            yield upstreams


def _on_simulator(upstream: UpstreamSettings, base_url: str) -> UpstreamSettings:
    """The same settings with every URL on the simulator (the providers' own paths under
    ``base_url``) and its credentials where none are set."""
    credentials = SIM_CREDENTIALS

    def secret(configured: SecretStr, fallback: str) -> SecretStr:
        return configured if configured.get_secret_value() else SecretStr(fallback)

    sp, tm, sf = upstream.spotify, upstream.ticketmaster, upstream.setlistfm
    return upstream.model_copy(
        update={
            "spotify": sp.model_copy(
                update={
                    "api_base_url": f"{base_url}/v1",
                    "accounts_base_url": base_url,
                    "client_id": secret(sp.client_id, credentials.spotify_client_id),
                    "client_secret": secret(sp.client_secret, credentials.spotify_client_secret),
                }
            ),
            "ticketmaster": tm.model_copy(
                update={
                    "base_url": f"{base_url}/discovery/v2",
                    "api_key": secret(tm.api_key, credentials.ticketmaster_api_key),
                }
            ),
            "setlistfm": sf.model_copy(
                update={
                    "base_url": f"{base_url}/rest/1.0",
                    "api_key": secret(sf.api_key, credentials.setlistfm_api_key),
                }
            ),
        }
    )


def _provider_status(upstreams: Upstreams, name: str) -> Check:
    async def check() -> ComponentStatus:
        return upstreams.status(name)

    return check


async def _database_status(database: Database) -> ComponentStatus:
    applied, expected = await database.ping()
    details = {"migrationsApplied": applied, "migrationsExpected": expected}
    if applied < expected:
        return ComponentStatus(status="down", message="migrations pending", details=details)
    return ComponentStatus(status="up", details=details)


def _warn_missing_secrets(holder: SettingsHolder) -> None:
    auth = holder.current.auth
    if not auth.cron_secret.get_secret_value():
        log.warning("auth_secret_missing", setting="CRON_SECRET", refused="/api/cron/*")
    if not auth.admin_api_key.get_secret_value():
        log.warning(
            "auth_secret_missing", setting="ADMIN_API_KEY", refused="monitoring, /metrics, /status"
        )
