"""Typed application state: one ``web.AppKey`` per resource.

Each key is set only by the cleanup context that owns the resource (see ``app.py``); handlers read
them. Kept in their own module so route modules and the composition root can both import them.
"""

from __future__ import annotations

from aiohttp import web

from theset_daemon.config import SettingsHolder
from theset_daemon.db.pool import Database
from theset_daemon.health import ReadinessChecks

SETTINGS = web.AppKey("settings", SettingsHolder)
READINESS = web.AppKey("readiness", ReadinessChecks)
DATABASE = web.AppKey("database", Database)
