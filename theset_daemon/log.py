"""structlog set-up: one JSON object a line (or console output for people), secrets redacted.

Log events are part of the interface: stable snake_case names, data in fields. Redaction runs as
the last processor before rendering, so no code path can log a secret by accident: keys that name
a secret are masked whole, and DSN passwords, bearer tokens and API-key query parameters are
masked inside any string.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

from theset_daemon.config import LogSettings

REDACTED = "***"

_SECRET_KEY = re.compile(
    r"(password|passwd|secret|token|api_?key|apikey|authorization|routing_key|webhook|dsn)",
    re.IGNORECASE,
)
_SECRET_IN_TEXT = (
    # scheme://user:password@host -> scheme://user:***@host
    (
        re.compile(r"(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)([^@\s]+)(@)", re.IGNORECASE),
        rf"\1{REDACTED}\3",
    ),
    (re.compile(r"(\bbearer\s+)(\S+)", re.IGNORECASE), rf"\1{REDACTED}"),
    (re.compile(r"(\bbasic\s+)([A-Za-z0-9+/=]{8,})", re.IGNORECASE), rf"\1{REDACTED}"),
    (
        re.compile(r"([?&](?:apikey|api_key|key|token|client_secret)=)([^&\s]+)", re.IGNORECASE),
        rf"\1{REDACTED}",
    ),
)


def redact_text(text: str) -> str:
    for pattern, replacement in _SECRET_IN_TEXT:
        text = pattern.sub(replacement, text)
    return text


def _redact_value(key: str, value: Any) -> Any:
    if _SECRET_KEY.search(key) and value not in (None, "", b""):
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: _redact_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(key, v) for v in value]
    return value


def redact_secrets(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: mask secret-named keys and secrets embedded in strings."""
    for key, value in list(event_dict.items()):
        event_dict[key] = _redact_value(key, value)
    return event_dict


class _StderrLogger:
    """Writes each rendered line to whatever ``sys.stderr`` is *now* (structlog's PrintLogger
    binds the stream once, which breaks when the stream is swapped, as test capture does)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The standard-library twin of :class:`_StderrLogger`."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def configure(settings: LogSettings) -> None:
    """(Re)configure logging; called at start-up and again when a reload changes ``[log]``."""
    level = logging.getLevelNamesMapping()[settings.level.upper()]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if settings.format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=lambda *_args: _StderrLogger(),
        # Not cached: a reload must be able to change the level of loggers that already exist.
        cache_logger_on_first_use=False,
    )
    # Libraries that log through the standard library (asyncio, aiohttp, pgserver) go through the
    # same processors, so every line is one JSON object with secrets redacted.
    handler = _StderrHandler()
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                redact_secrets,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(level, logging.INFO))
    # pgserver narrates every subprocess it runs at INFO; only its warnings matter to an operator.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # APScheduler narrates every add and fire at INFO; the scheduler logs its own job_* events.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger
