"""``theset-daemon import NAME_OR_SPOTIFY_ID``: start an import on the running daemon and draw
its progress from the SSE stream, reconnecting with ``Last-Event-ID`` if the stream drops.

Exit status: 0 completed, partial included (the contract's "exit 0 on completion": the stream's
last event is ``complete``, and the shows or the songs missing are filled in by the next sync,
as ``trigger`` exits 0 on a partial run), 1 failed or refused. A reused import
(completed recently) replays its stored events and exits 0.

A name that matches no artist gets a few names that do, from the simulator in simulated mode
(``suggest.py``). The final status is coloured on a terminal only (``tty.py``).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from typing import Any, TextIO

import aiohttp

from theset_daemon.config import Settings
from theset_daemon.importer.suggest import suggest
from theset_daemon.progress.frames import read_events
from theset_daemon.tty import Painter

SPOTIFY_ID = re.compile(r"^[0-9A-Za-z]{22}$")
BAR_WIDTH = 30
RECONNECTS = 5


def _bar(status: dict[str, Any]) -> str:
    done = int(BAR_WIDTH * status["progress"] / 100)
    counts = status["counts"]
    return (
        f"\r[{'#' * done}{'.' * (BAR_WIDTH - done)}] {status['progress']:3d}% "
        f"{status['stage']:<6} shows {counts['shows']} venues {counts['venues']} "
        f"songs {counts['songs']}  {status['message'][:60]:<60}"
    )


async def follow_import(settings: Settings, what: str, out: TextIO = sys.stderr) -> int:
    base = settings.server.local_url
    body = {"spotifyId": what} if SPOTIFY_ID.match(what) else {"name": what}
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=5, sock_read=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        try:
            async with session.post(f"{base}/api/artists/import", json=body) as response:
                answer = await response.json()
                if response.status not in (200, 202):
                    print(f"import refused: {answer['error']['message']}", file=out)
                    if response.status == 404 and "name" in body:
                        await _suggest(settings, what, out)
                    return 1
        except aiohttp.ClientConnectionError as exc:
            print(
                f"the daemon at {base} is not reachable ({exc}); start it with `make run`", file=out
            )
            return 1
        doing = "reusing the recent import of" if answer.get("reused") else "importing"
        print(f"{doing} {answer['artist']['name']} (job {answer['jobId']})", file=out)
        # Where to read it back, the slug being what a newcomer cannot guess.
        print(f"the artist: {base}/api/artists/{answer['artist']['slug']}", file=out)
        last_id = "0"
        for _ in range(RECONNECTS):
            try:
                result, last_id = await _stream(session, base + answer["progressUrl"], last_id, out)
            except (aiohttp.ClientError, TimeoutError):
                await asyncio.sleep(1)
                continue
            if result is not None:
                return result
        print("\nlost the progress stream", file=out)
        return 1


async def _suggest(settings: Settings, what: str, out: TextIO) -> None:
    names = await suggest(settings, what)
    if names:
        quoted = ", ".join(f'"{name}"' for name in names)
        print(f"the simulator's artists include {quoted}; all: theset-daemon artists", file=out)
        print(f'try: theset-daemon import "{names[0]}"', file=out)


def _exit_status(status: str) -> int:
    return 0 if status in ("completed", "partial") else 1


async def _stream(
    session: aiohttp.ClientSession, url: str, last_id: str, out: TextIO
) -> tuple[int | None, str]:
    async with session.get(url, headers={"Last-Event-ID": last_id}) as stream:
        if stream.status == 204:
            return 0, last_id
        async for event in read_events(stream.content):
            last_id = event.id or last_id
            status = json.loads(event.data)
            print(_bar(status), end="", file=out, flush=True)
            if event.event in ("complete", "failed"):
                outcome = Painter.for_stream(out).word(status["status"])
                print(f"\n{outcome}: {status['message']}", file=out)
                return _exit_status(status["status"]), last_id
    return None, last_id
