"""Progress: the event log in Postgres, the broadcaster, and the SSE response.

Generic over two kinds of stream: ``import`` (import_status / import_events) and ``run``
(cron_logs / cron_run_events).
"""

from theset_daemon.progress.broker import ProgressBroker, open_broker
from theset_daemon.progress.sse import sse_response
from theset_daemon.progress.store import (
    EventName,
    Kind,
    StoredEvent,
    latest_event,
    record_event,
    stored_events,
)

__all__ = [
    "EventName",
    "Kind",
    "ProgressBroker",
    "StoredEvent",
    "latest_event",
    "open_broker",
    "record_event",
    "sse_response",
    "stored_events",
]
