"""Typed application state: one ``web.AppKey`` per resource.

Each key is set only by the cleanup context that owns the resource (see ``app.py``); handlers read
them. Kept in their own module so route modules and the composition root can both import them.

The resources' classes are imported for the type checker only: a key needs its type in the
annotation, not at run time, so importing this module (every route module does) pulls in no
subsystem.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CollectorRegistry

if TYPE_CHECKING:
    from theset_daemon.cache.core import Cache
    from theset_daemon.config import SettingsHolder
    from theset_daemon.db.pool import Database
    from theset_daemon.health import ReadinessChecks
    from theset_daemon.importer.service import Importer
    from theset_daemon.jobs.runner import JobRunner
    from theset_daemon.jobs.scheduler import JobScheduler
    from theset_daemon.monitoring.service import Monitor
    from theset_daemon.presence import Presence
    from theset_daemon.progress import ProgressBroker
    from theset_daemon.upstream.clients import Upstreams
    from theset_daemon.web.inflight import RequestsInFlight

SETTINGS: web.AppKey[SettingsHolder] = web.AppKey("settings")
READINESS: web.AppKey[ReadinessChecks] = web.AppKey("readiness")
DATABASE: web.AppKey[Database] = web.AppKey("database")
#: This daemon in ``daemon_instances``: its identity, its beat, the count of live daemons.
PRESENCE: web.AppKey[Presence] = web.AppKey("presence")
#: The daemon's own Prometheus registry (not the global one: two apps in one process stay apart).
METRICS = web.AppKey("metrics", CollectorRegistry)
UPSTREAMS: web.AppKey[Upstreams] = web.AppKey("upstreams")
CACHE: web.AppKey[Cache] = web.AppKey("cache")
#: Fans progress events out to SSE streams (LISTEN/NOTIFY between instances).
PROGRESS: web.AppKey[ProgressBroker] = web.AppKey("progress")
IMPORTER: web.AppKey[Importer] = web.AppKey("importer")
#: Runs the cron jobs: leases, run rows, progress, metrics, monitor hooks.
RUNNER: web.AppKey[JobRunner] = web.AppKey("runner")
#: Fires the cron jobs on their schedules (APScheduler in this loop).
SCHEDULER: web.AppKey[JobScheduler] = web.AppKey("scheduler")
#: Judges job health, keeps cron_alerts, sends notifications.
MONITOR: web.AppKey[Monitor] = web.AppKey("monitor")
#: Set when the daemon starts to stop: long-lived handlers (the status stream) end on it.
STOPPING = web.AppKey("stopping", asyncio.Event)
#: The handlers running now: a stop waits for them (bounded), not for aiohttp's connections.
IN_FLIGHT: web.AppKey[RequestsInFlight] = web.AppKey("in_flight")
