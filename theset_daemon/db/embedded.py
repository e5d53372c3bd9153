"""The embedded Postgres used when no ``DATABASE_URL`` is set.

pgserver (pip) ships real Postgres binaries and runs ``initdb``/``pg_ctl`` for us; the server
listens on a Unix socket only, inside (or next to) the data directory, so nothing else on the
machine can reach it and no port can collide.

pgserver counts its users in ``<data_dir>/.handle_pids.json`` and stops the server when the last
one leaves. It never forgets a process that died without saying goodbye (``kill -9``), and such a
stale pid would keep the server running forever after. We prune dead pids before attaching, under
pgserver's own inter-process lock, so the last live user really stops it.

The calls block (they run subprocesses and wait for the server), so the daemon runs them in a
thread.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import psutil

from theset_daemon.log import get_logger

log = get_logger(__name__)


class EmbeddedPostgres:
    """One handle on the embedded server in ``data_dir``: ``start()`` returns a DSN, ``stop()``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir.expanduser().resolve()
        self._server: object | None = None

    def start(self) -> str:
        with warnings.catch_warnings():
            # platformdirs warns at import when $XDG_RUNTIME_DIR is unset or not 0700 and falls
            # back to /tmp/runtime-<uid>, which is fine for pgserver's lock file.
            warnings.simplefilter("ignore")
            # imported lazily: only the embedded mode needs it
            from pgserver.postgres_server import PostgresServer, get_server

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with PostgresServer._lock:
            self._prune_dead_handles()
        server = get_server(self.data_dir, cleanup_mode="stop")
        self._server = server
        dsn: str = server.get_uri()
        log.info("embedded_postgres_started", data_dir=str(self.data_dir), pid=server.get_pid())
        return dsn

    def stop(self) -> None:
        """Leave the server; it stops when this was its last live user. Safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        server.cleanup()  # type: ignore[attr-defined]
        log.info("embedded_postgres_released", data_dir=str(self.data_dir))

    def _prune_dead_handles(self) -> None:
        handles = self.data_dir / ".handle_pids.json"
        try:
            pids = json.loads(handles.read_text())
        except (OSError, ValueError):
            return
        alive = [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]
        if alive != pids:
            handles.write_text(json.dumps(alive))
            log.info("embedded_postgres_stale_handles_pruned", dead=sorted(set(pids) - set(alive)))
