"""Secrets never reach the logs: by key name, or embedded in any string."""

from __future__ import annotations

import json

import pytest

from theset_daemon import log
from theset_daemon.config import LogSettings
from theset_daemon.db.pool import Database


@pytest.mark.parametrize(
    ("text", "leaked", "kept"),
    [
        ("postgresql://theset:pa55word@db:5432/theset", "pa55word", "postgresql://theset:***@db"),
        ("redis://:tok3n@cache:6379/0", "tok3n", "redis://:***@cache"),
        ("Authorization: Bearer abc.def.ghi", "abc.def.ghi", "Bearer ***"),
        ("GET /discovery/v2/events.json?apikey=TMKEY123&size=50", "TMKEY123", "size=50"),
        ("Basic dXNlcjpzZWNyZXQtcGFzcw==", "dXNlcjpzZWNyZXQtcGFzcw==", "Basic ***"),
        ("postgresql://postgres:@/postgres?host=/tmp/x", None, "postgresql://postgres:@/postgres"),
    ],
)
def test_redact_text(text: str, leaked: str | None, kept: str) -> None:
    redacted = log.redact_text(text)
    if leaked:
        assert leaked not in redacted
    assert kept in redacted


def test_log_lines_are_json_with_secret_fields_masked(capsys: pytest.CaptureFixture[str]) -> None:
    log.configure(LogSettings(level="info", format="json"))
    logger = log.get_logger("test")
    logger.info(
        "upstream_request_failed",
        url="https://x:pw@api/v1?apikey=k1",
        client_secret="s3",
        headers={"Authorization": "Bearer t0k", "Accept": "application/json"},
        attempts=3,
    )
    logger.debug("not_shown")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert len(lines) == 1
    line = lines[0]
    assert line["event"] == "upstream_request_failed"
    assert line["level"] == "info" and line["timestamp"].endswith("Z")
    assert line["client_secret"] == "***"
    assert line["headers"] == {"Authorization": "***", "Accept": "application/json"}
    assert "pw" not in line["url"] and "k1" not in line["url"]
    assert line["attempts"] == 3


def test_reconfigure_changes_the_level_of_existing_loggers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    log.configure(LogSettings(level="warning"))
    logger = log.get_logger("test")
    logger.info("hidden")
    log.configure(LogSettings(level="debug"))
    logger.debug("shown")
    events = [json.loads(line)["event"] for line in capsys.readouterr().err.splitlines()]
    assert events == ["shown"]


def test_the_database_dsn_is_not_in_its_repr() -> None:
    database = Database(
        pool=None,  # type: ignore[arg-type]
        migrations=[],
        embedded=False,
        applied_at_open=[],
        dsn="postgresql://theset:hunter2-secret@db.example:5432/theset",
    )
    assert "hunter2" not in repr(database) and "hunter2" not in str(database)
