"""Typed application state: one ``web.AppKey`` per resource.

Each key is set only by the cleanup context that owns the resource (see ``app.py``); handlers read
them. Kept in their own module so route modules and the composition root can both import them.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from prometheus_client import CollectorRegistry

from theset_daemon.cache.core import Cache
from theset_daemon.config import SettingsHolder
from theset_daemon.db.pool import Database
from theset_daemon.health import ReadinessChecks
from theset_daemon.importer.service import Importer
from theset_daemon.jobs.runner import JobRunner
from theset_daemon.jobs.scheduler import JobScheduler
from theset_daemon.monitoring.service import Monitor
from theset_daemon.progress import ProgressBroker
from theset_daemon.upstream.clients import Upstreams
from theset_daemon.web.inflight import RequestsInFlight

SETTINGS = web.AppKey("settings", SettingsHolder)
READINESS = web.AppKey("readiness", ReadinessChecks)
DATABASE = web.AppKey("database", Database)
#: The daemon's own Prometheus registry (not the global one: two apps in one process stay apart).
METRICS = web.AppKey("metrics", CollectorRegistry)
UPSTREAMS = web.AppKey("upstreams", Upstreams)
CACHE = web.AppKey("cache", Cache)
#: Fans progress events out to SSE streams (LISTEN/NOTIFY between instances).
PROGRESS = web.AppKey("progress", ProgressBroker)
IMPORTER = web.AppKey("importer", Importer)
#: Runs the cron jobs: leases, run rows, progress, metrics, monitor hooks.
RUNNER = web.AppKey("runner", JobRunner)
#: Fires the cron jobs on their schedules (APScheduler in this loop).
SCHEDULER = web.AppKey("scheduler", JobScheduler)
#: Judges job health, keeps cron_alerts, sends notifications.
MONITOR = web.AppKey("monitor", Monitor)
#: Set when the daemon starts to stop: long-lived handlers (the status stream) end on it.
STOPPING = web.AppKey("stopping", asyncio.Event)
#: The handlers running now: a stop waits for them (bounded), not for aiohttp's connections.
IN_FLIGHT = web.AppKey("in_flight", RequestsInFlight)
