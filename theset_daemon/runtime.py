"""The process: serve, reload on SIGHUP, stop on SIGTERM/SIGINT, talk to systemd.

Signal handlers only record intent (as uvicorn's ``handle_exit`` does); the main task waits for
that intent and does the reload or the shutdown itself, so neither ever runs inside a handler.

sd_notify is a datagram to ``$NOTIFY_SOCKET`` (hand-written: it is one ``sendto``, and the
python packages for it are unmaintained or need libsystemd). ``WATCHDOG=1`` is sent from a task
on the event loop, so a stalled loop stops the pings and systemd restarts us, which is the point.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import socket
import time
from pathlib import Path

from aiohttp import web

from theset_daemon import config, local_secrets, log
from theset_daemon.app import build_app
from theset_daemon.config import ConfigError, Settings, SettingsHolder
from theset_daemon.db.migrate import MigrationError
from theset_daemon.db.pool import DatabaseUnavailable
from theset_daemon.local_secrets import LocalSecrets
from theset_daemon.stop import LAST_RESORT_S, StopBudget

logger = log.get_logger(__name__)

# Exit codes: 0 clean stop, 1 could not start, 2 invalid configuration (as check-config).
EXIT_OK, EXIT_START_FAILED, EXIT_CONFIG = 0, 1, 2


#: Allocations between two young collections (CPython's default is 700). Fewer young collections
#: let more short-lived objects die by reference count first, so fewer reach the old generation
#: and its full collections, the long pauses, come less often.
GC_YOUNG_THRESHOLD = 10_000


def settle_garbage_collector() -> None:
    """Keep the cyclic collector's pauses short once the daemon has started.

    A full collection stops the event loop for as long as it takes to scan every tracked
    object. With imports and a job in flight that was 30-65 ms at a time, landing inside
    import phase 1s and the JSON parses (``bench/importer.py``). What start-up made (modules,
    settings, pools, the app) is never garbage: frozen, it is no longer scanned. The real garbage
    is collected first, so that none of it is frozen."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


def make_runner(app: web.Application, settings: Settings) -> web.AppRunner:
    """The aiohttp runner the daemon serves ``app`` with. The stop's waits are the app's own
    (``theset_daemon/stop.py``); aiohttp's per-connection ``shutdown_timeout`` is only what it
    still meets after them: a response being written, or a connection accepted as the listener
    closed whose request aiohttp never reads (``web/inflight.py``), held for the whole timeout.
    So it is short, never the grace: with the grace there, that one connection made a 6 s grace
    a 7.3 s stop (aiohttp also rounds a timeout over 5 s up to the next whole second)."""
    budget = StopBudget(settings.shutdown.grace_seconds)
    return web.AppRunner(
        app, handle_signals=False, access_log=None, shutdown_timeout=budget.connections_close_s
    )


class SystemdNotifier:
    """Sends sd_notify messages when started by systemd (or a test) with ``$NOTIFY_SOCKET``."""

    def __init__(self, address: str | None) -> None:
        self._address = address
        self._sock: socket.socket | None = None
        if address:
            if address.startswith("@"):  # abstract namespace
                address = "\0" + address[1:]
            self._address = address
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    def notify(self, *lines: str) -> None:
        if self._sock is None or self._address is None:
            return
        try:
            self._sock.sendto("\n".join(lines).encode(), self._address)
        except OSError as exc:  # systemd gone or socket full: never fatal to the daemon
            logger.warning("sd_notify_failed", error=str(exc))

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()


def _monotonic_usec() -> str:
    return f"MONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}"


class Daemon:
    """Owns the aiohttp runner; a signal queues an intent ("reload" or "stop") for ``run``."""

    def __init__(
        self,
        holder: SettingsHolder,
        notifier: SystemdNotifier,
        local: LocalSecrets | None = None,
    ) -> None:
        self.holder = holder
        self.notifier = notifier
        #: The secrets from ``.theset/secrets.env``, when the daemon serves with them.
        self.local = local
        self._intents: asyncio.Queue[str] = asyncio.Queue()
        self.stop_signal: str | None = None

    def _on_signal(self, intent: str, signame: str) -> None:
        if intent == "stop":
            self.stop_signal = signame
        self._intents.put_nowait(intent)

    async def run(self) -> int:
        # Handlers go in before start-up, so a SIGTERM while Postgres starts is a clean stop
        # (queued, acted on once started) rather than a death that leaves Postgres running.
        loop = asyncio.get_running_loop()
        handlers = {
            signal.SIGHUP: ("reload", "SIGHUP"),
            signal.SIGTERM: ("stop", "SIGTERM"),
            signal.SIGINT: ("stop", "SIGINT"),
        }
        for signum, (intent, name) in handlers.items():
            loop.add_signal_handler(signum, self._on_signal, intent, name)
        try:
            return await self._start_serve_stop()
        finally:
            for signum in handlers:
                loop.remove_signal_handler(signum)

    async def _start_serve_stop(self) -> int:
        settings = self.holder.current
        runner = make_runner(build_app(self.holder), settings)
        try:
            await runner.setup()
            site = web.TCPSite(runner, settings.server.host, settings.server.port)
            await site.start()
        except (DatabaseUnavailable, MigrationError, OSError) as exc:
            logger.error("daemon_start_failed", error=str(exc))
            await runner.cleanup()
            return EXIT_START_FAILED
        except Exception:
            logger.exception("daemon_start_failed")
            await runner.cleanup()
            return EXIT_START_FAILED

        settle_garbage_collector()
        watchdog = asyncio.create_task(self._watchdog(), name="sd-watchdog")
        addresses = [f"{host}:{port}" for host, port, *_ in runner.addresses]
        logger.info("daemon_started", listen=addresses, pid=os.getpid())
        if self.local is not None:
            show_status_page(settings, runner.addresses[0][1], self.local, self.holder.path)
        self.notifier.notify("READY=1", f"STATUS=serving on {', '.join(addresses)}")
        try:
            while await self._intents.get() == "reload":
                self.reload()
        finally:
            self.notifier.notify("STOPPING=1", f"STATUS=stopping ({self.stop_signal})")
            logger.info("daemon_stopping", signal=self.stop_signal)
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            await self._shutdown(runner)
        logger.info("daemon_stopped")
        return EXIT_OK

    def reload(self) -> None:
        """Re-read file and environment; apply atomically, or keep everything as it was."""
        self.notifier.notify("RELOADING=1", _monotonic_usec())
        try:
            try:
                new = local_secrets.fill(config.load(self.holder.path), self.holder.path)
            except ConfigError as exc:
                logger.error(
                    "config_reload_failed",
                    path=str(self.holder.path),
                    problems=[str(p) for p in exc.problems],
                )
                return
            in_force, changes = config.apply_reload(self.holder.current, new)
            if changes.restart_required:
                logger.warning("restart_required", keys=list(changes.restart_required))
            if changes.reloadable:
                self.apply(in_force)
            logger.info("config_reloaded", changed=list(changes.reloadable))
        finally:
            self.notifier.notify("READY=1", "STATUS=serving")

    def apply(self, settings: Settings) -> None:
        old = self.holder.current
        # The one assignment every component reads through; it tells the subscribers (the
        # scheduler) at once.
        self.holder.current = settings
        if settings.log != old.log:
            log.configure(settings.log)

    async def _shutdown(self, runner: web.AppRunner) -> None:
        grace_s = self.holder.current.shutdown.grace_seconds
        try:
            # The whole stop, step by step: theset_daemon/stop.py.
            await asyncio.wait_for(runner.cleanup(), timeout=grace_s + LAST_RESORT_S)
        except TimeoutError:
            logger.error("shutdown_timed_out", grace_seconds=grace_s)

    async def _watchdog(self) -> None:
        usec = int(os.environ.get("WATCHDOG_USEC", "0") or 0)
        pid = os.environ.get("WATCHDOG_PID")
        if usec <= 0 or (pid and pid != str(os.getpid())):
            return
        interval_s = usec / 1e6 / 2  # systemd's advice: ping at half the timeout
        while True:
            self.notifier.notify("WATCHDOG=1")
            await asyncio.sleep(interval_s)


def show_status_page(settings: Settings, port: int, local: LocalSecrets, config_path: Path) -> None:
    """Where the status page is and how to log in, for the newcomer who just ran ``make run``:
    as a log event, and as plain lines on stdout (the log is on stderr). The key itself is in
    the file only: secrets never reach a log."""
    url = settings.server.model_copy(update={"port": port}).local_url + "/status"
    login = f"any user name; the password is ADMIN_API_KEY in {local.path}"
    logger.info("status_page", url=url, login=login)
    here = config_path.absolute() == Path.cwd() / config.DEFAULT_CONFIG_PATH
    flag = "" if here else f" --config {config_path}"
    # A closed or broken stdout (``run | head``) must not stop the daemon over a courtesy.
    with contextlib.suppress(OSError, ValueError):
        print(
            f"status page: {url}\n"
            f"  log in with {login}\n"
            f"  the CLI reads that file too: theset-daemon status{flag}"
            f" (also: artists, import NAME, trigger JOB)",
            flush=True,
        )


def load_local(config_path: Path) -> tuple[Settings, LocalSecrets | None]:
    """The settings ``run`` starts with: the file and the environment, then, on loopback with
    no secret set, the local secrets (``theset_daemon/local_secrets.py``), created if need be.
    Raises ConfigError. Logging is configured here, from the settings."""
    settings = config.load(config_path)
    log.configure(settings.log)
    try:
        settings, local = local_secrets.fill_or_create(settings, config_path)
    except OSError as exc:  # a read-only checkout: refuse the routes, as without the file
        logger.warning(
            "local_secrets_unavailable",
            path=str(local_secrets.secrets_path(config_path)),
            error=str(exc),
        )
        return settings, None
    if local is not None:
        event = "local_secrets_created" if local.created else "local_secrets_used"
        logger.info(event, path=str(local.path))
    return settings, local


def run(config_path: Path) -> int:
    """``theset-daemon run``: load, serve until SIGTERM/SIGINT, return the exit code."""
    try:
        settings, local = load_local(config_path)
    except ConfigError as exc:
        log.configure(config.LogSettings())
        logger.error(
            "config_invalid", path=str(config_path), problems=[str(p) for p in exc.problems]
        )
        return EXIT_CONFIG
    notifier = SystemdNotifier(os.environ.get("NOTIFY_SOCKET"))
    try:
        daemon = Daemon(SettingsHolder(settings, config_path), notifier, local)
        return asyncio.run(daemon.run())
    finally:
        notifier.close()
