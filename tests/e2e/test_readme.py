"""The README's first ten minutes, as a newcomer types them, on a fresh clone of this repository.

Every command of the README's two shell blocks under "The first ten minutes" runs: ``make run``
in the clone (its embedded Postgres, its simulator, no secret anywhere), then each line of the
quickstart from the clone's directory, then the status page ``make run`` printed, opened with the
login it names. Three things differ from a person's terminal, each for a reason:

- the clone's ``.venv`` is this checkout's (a symlink, and ``make -o .venv/.installed``), because
  a fresh ``pip install`` would take minutes and would repoint the shared editable install;
- the port is a free one rather than 8080 (the clone's ``config.toml`` and the commands' URLs are
  changed alike), so the test can run beside others;
- ``make test`` is not run from within the tests: it is what runs this one.

``NAME`` and ``SLUG``, the README's placeholders, are filled in from what the commands before them
printed, as a reader would.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.plugins.daemon import free_port

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 120
COMMAND_TIMEOUT_S = 180
UNSET = ("CRON_SECRET", "ADMIN_API_KEY", "THESET_CONFIG", "DATABASE_URL", "NOTIFY_SOCKET")


def readme_blocks() -> tuple[list[str], list[str]]:
    """The set-up block's commands and the quickstart block's, from the README's first section."""
    text = (REPO / "README.md").read_text()
    section = text.split("## The first ten minutes", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```sh\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2, "the first ten minutes: a set-up block and a quickstart block"
    setup, quickstart = (
        [line.split("#", 1)[0].strip() for line in block.splitlines() if line.strip()]
        for block in blocks
    )
    return setup, quickstart


def fresh_clone(tmp_path: Path, port: int) -> Path:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True, timeout=60)
    (clone / ".venv").symlink_to(REPO / ".venv")
    config = clone / "config.toml"
    config.write_text(re.sub(r"(?m)^port = 8080", f"port = {port}", config.read_text(), count=1))
    return clone


def newcomer_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in UNSET}


def basic_get(url: str, password: str) -> tuple[int, str]:
    credentials = base64.b64encode(f"newcomer:{password}".encode()).decode()
    request = urllib.request.Request(url, headers={"Authorization": f"Basic {credentials}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def wait_for_status_page(daemon: subprocess.Popen[str]) -> str:
    """The status page's URL, from what ``make run`` printed on stdout."""
    assert daemon.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        line = daemon.stdout.readline()
        if not line:
            raise AssertionError(f"make run ended before serving: {daemon.wait()}")
        if found := re.search(r"status page: (http://\S+/status)", line):
            return found[1]
    raise AssertionError("make run printed no status page")


@pytest.mark.skipif(not (REPO / ".git").exists(), reason="needs the repository's git history")
@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_the_readme_quickstart_works_on_a_fresh_clone(tmp_path: Path) -> None:
    setup, quickstart = readme_blocks()
    assert setup == ["make run", "make test"]
    port = free_port()
    clone = fresh_clone(tmp_path, port)
    env = newcomer_env()
    daemon = subprocess.Popen(
        ["make", "-o", ".venv/.installed", "run"],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        status_url = wait_for_status_page(daemon)
        assert status_url == f"http://127.0.0.1:{port}/status"
        printed: dict[str, str] = {}
        for line in quickstart:
            command = line.replace("localhost:8080", f"localhost:{port}")
            command = command.replace("NAME", printed.get("NAME", "NAME"))
            command = command.replace("SLUG", printed.get("SLUG", "SLUG"))
            assert "NAME" not in command and "SLUG" not in command, command
            ran = subprocess.run(
                ["bash", "-c", command], cwd=clone, env=env, capture_output=True, text=True,
                timeout=COMMAND_TIMEOUT_S,
            )  # fmt: skip
            assert ran.returncode == 0, (command, ran.stdout, ran.stderr)
            if " artists " in f" {command} ":
                printed["NAME"] = ran.stdout.splitlines()[0]
            if " import " in command:
                printed["SLUG"] = re.findall(r"/api/artists/(\S+)", ran.stderr)[-1]
                assert ran.stderr.rstrip().splitlines()[-1].startswith(("completed", "partial"))
            if command.startswith("curl"):
                artist = json.loads(ran.stdout)["artist"]
                assert artist["name"] == printed["NAME"] and artist["slug"] == printed["SLUG"]
        assert {"NAME", "SLUG"} <= set(printed)

        secrets_file = clone / ".theset" / "secrets.env"
        secrets = dict(
            line.split("=", 1) for line in secrets_file.read_text().splitlines() if "=" in line
        )
        code, page = basic_get(status_url, secrets["ADMIN_API_KEY"])
        assert code == 200 and "<html" in page.lower()
    finally:
        # SIGTERM to the daemon, make's child (as systemd would send it): make then ends with
        # the daemon's own exit status.
        for child in psutil.Process(daemon.pid).children():
            child.send_signal(signal.SIGTERM)
        stopped = daemon.wait(timeout=60)
        assert daemon.stdout is not None
        daemon.stdout.close()
    assert stopped == 0
