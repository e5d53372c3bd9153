"""The CLI's output against the real app: ``status --json`` and ``trigger --json`` print what the
routes answer, ``artists`` lists the simulator's names and ``import`` suggests some, and colour
appears on a terminal only."""

from __future__ import annotations

import io
import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from theset_daemon import config
from theset_daemon.app import build_app
from theset_daemon.appkeys import RUNNER
from theset_daemon.config import SettingsHolder
from theset_daemon.importer.follow import follow_import
from theset_daemon.importer.suggest import list_artists, suggest
from theset_daemon.jobs.remote import trigger_remote
from theset_daemon.monitoring.terminal import print_status

ADMIN_KEY = "admin-key-for-cli-tests"
CRON_SECRET = "cron-secret-for-cli-tests"
ARTISTS = 5
ESCAPE = "\x1b["


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
async def client(aiohttp_client: Any, database_url: str) -> TestClient[Any, Any]:
    text = f'[log]\nlevel = "warning"\n[upstream.simulator]\nartists = {ARTISTS}\nlatency_ms = 0\n'
    env = {"DATABASE_URL": database_url, "ADMIN_API_KEY": ADMIN_KEY, "CRON_SECRET": CRON_SECRET}
    holder = SettingsHolder(config.parse(text, env), Path("unused.toml"))
    test_client: TestClient[Any, Any] = await aiohttp_client(build_app(holder))
    return test_client


def cli_settings(client: TestClient[Any, Any], **secrets: str) -> config.Settings:
    env = {"ADMIN_API_KEY": ADMIN_KEY, "CRON_SECRET": CRON_SECRET, **secrets}
    return config.parse(f"[server]\nport = {client.port}\n", env)


async def test_status_json_prints_the_cron_health_document(client: TestClient[Any, Any]) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert await print_status(cli_settings(client), out, as_json=True, err=err) == 0
    document = json.loads(out.getvalue())
    answer = await client.get(
        "/api/monitoring/cron-health", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
    )
    expected = await answer.json()
    assert set(document) == set(expected) == {"status", "checkedAt", "jobs", "activeAlerts"}
    assert document["jobs"] == expected["jobs"] and document["status"] == "healthy"
    assert err.getvalue() == ""

    refused, err = io.StringIO(), io.StringIO()
    wrong = cli_settings(client, ADMIN_API_KEY="not-the-admin-key")
    assert await print_status(wrong, refused, as_json=True, err=err) == 2
    assert json.loads(refused.getvalue())["error"]["code"] == "unauthorized"
    assert "status refused" in err.getvalue()


async def test_status_text_is_plain_unless_on_a_terminal(
    client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    piped = io.StringIO()
    assert await print_status(cli_settings(client), piped) == 0
    text = piped.getvalue()
    assert ESCAPE not in text and text.splitlines()[0].endswith(": healthy")
    simulator = next(line for line in text.splitlines() if line.startswith("simulator: "))
    assert simulator.split()[1].startswith("http://127.0.0.1:")

    terminal = Terminal()
    assert await print_status(cli_settings(client), terminal) == 0
    assert f"{ESCAPE}32mhealthy" in terminal.getvalue()
    # The escapes take no column: without them, the header reads as the piped one.
    header = terminal.getvalue().splitlines()[1]
    assert ESCAPE in header and re.sub(r"\x1b\[[0-9;]*m", "", header) == text.splitlines()[1]

    monkeypatch.setenv("NO_COLOR", "1")
    no_colour = Terminal()
    assert await print_status(cli_settings(client), no_colour) == 0
    assert ESCAPE not in no_colour.getvalue()


async def test_trigger_json_prints_the_routes_answer(client: TestClient[Any, Any]) -> None:
    settings = cli_settings(client)
    out = io.StringIO()
    code = await trigger_remote(settings, "calculate-trending", {}, wait=True, as_json=True,
                                out=out)  # fmt: skip
    run = json.loads(out.getvalue())
    assert code == 0 and run["status"] == "succeeded" and run["trigger"] == "cli"
    assert "artistsScored" in run["summary"]

    out = io.StringIO()
    assert await trigger_remote(settings, "calculate-trending", {}, wait=True, out=out) == 0
    assert ESCAPE not in out.getvalue() and ": succeeded in " in out.getvalue()

    out, err = io.StringIO(), io.StringIO()
    wrong = cli_settings(client, CRON_SECRET="not-the-cron-secret")
    code = await trigger_remote(wrong, "calculate-trending", {}, wait=False, as_json=True,
                                out=out, err=err)  # fmt: skip
    assert code == 1 and json.loads(out.getvalue())["error"]["code"] == "unauthorized"
    assert err.getvalue().startswith("trigger refused: ")

    out = io.StringIO()
    code = await trigger_remote(settings, "calculate-trending", {}, wait=False, as_json=True,
                                out=out)  # fmt: skip
    assert code == 0
    started = json.loads(out.getvalue())
    assert set(started) == {"runId", "job", "status", "statusUrl", "eventsUrl"}
    assert started["job"] == "calculate-trending" and started["status"] == "running"
    await client.app[RUNNER].wait(uuid.UUID(started["runId"]))  # ended before the teardown


async def test_artists_lists_the_simulators_names(client: TestClient[Any, Any]) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert await list_artists(cli_settings(client), limit=3, out=out, err=err) == 0
    names = out.getvalue().splitlines()
    assert len(names) == 3 and all(names)
    assert f"artists 1-3 of {ARTISTS} in the simulator at http://127.0.0.1:" in err.getvalue()
    assert f'theset-daemon import "{names[0]}"' in err.getvalue()

    out = io.StringIO()
    assert await list_artists(cli_settings(client), offset=3, limit=10, as_json=True, out=out) == 0
    page = json.loads(out.getvalue())
    assert page["total"] == ARTISTS and len(page["artists"]) == ARTISTS - 3
    assert {"name", "spotifyId", "counts"} <= set(page["artists"][0])

    out, err = io.StringIO(), io.StringIO()
    no_key = cli_settings(client, ADMIN_API_KEY="")
    assert await list_artists(no_key, out=out, err=err) == 2
    assert out.getvalue() == "" and "ADMIN_API_KEY" in err.getvalue()


async def test_an_unknown_name_gets_suggestions(client: TestClient[Any, Any]) -> None:
    settings = cli_settings(client)
    out = io.StringIO()
    assert await list_artists(settings, out=out, err=io.StringIO()) == 0
    names = out.getvalue().splitlines()
    assert names[2] in await suggest(settings, names[2][:-1])
    assert len(await suggest(settings, "zzzzzzzzzzzzzzzz")) == 3

    out = io.StringIO()
    assert await follow_import(settings, "Radiohead", out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("import refused: ")
    assert lines[1].startswith("the simulator's artists include ")
    assert lines[2].startswith('try: theset-daemon import "')
