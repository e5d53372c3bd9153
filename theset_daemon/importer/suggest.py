"""``theset-daemon artists [--offset N] [--limit N] [--json]``: the names there are to import, and
the few that ``theset-daemon import`` suggests when a name matches nothing.

In simulated mode (the default) every artist comes from the built-in simulator, whose generated
names nobody can guess ("Radiohead" is not one of them). The daemon says where its simulator
listens in ``/status/snapshot`` (``simulatorUrl``; admin, so this needs ``ADMIN_API_KEY`` as
``status`` does: environment, config or ``.theset/secrets.env``), and the simulator's own
``GET /_sim/catalog`` names its artists. Two steps rather than a new route of the daemon's: the
simulator serves the list already, and the daemon grows no route that exists in one mode only.
A live daemon has no such list (Spotify's whole catalog is the list): the command says so.

Exit codes: 0 listed, 1 the daemon runs in live mode, 2 the daemon could not be asked.
"""

from __future__ import annotations

import difflib
import json
import sys
from typing import Any, TextIO

import aiohttp

from theset_daemon.config import Settings

EXIT_LISTED, EXIT_LIVE, EXIT_UNREACHABLE = 0, 1, 2
REQUEST_TIMEOUT_S = 10.0
#: The simulator's largest catalog page.
LIMIT_MAX = 1000
#: The names a name that matched nothing is compared with (the default catalog's size); each
#: costs the simulator, which runs in the daemon's loop, its counts once.
SUGGEST_FROM = 200
SUGGESTIONS = 3


class CannotList(Exception):
    """Why there is no list: ``code`` is the command's exit code, the message says what to do."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


async def simulator_catalog(settings: Settings, offset: int, limit: int) -> tuple[str, Any]:
    """The simulator's URL and its ``/_sim/catalog`` page; raises CannotList."""
    key = settings.auth.admin_api_key.get_secret_value()
    base = settings.server.local_url
    if not key:
        raise CannotList(
            EXIT_UNREACHABLE,
            "listing the simulator's artists needs ADMIN_API_KEY (or [auth] admin_api_key); a"
            " daemon on loopback without secrets writes them to .theset/secrets.env next to its"
            " config file, where this command finds them",
        )
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    headers = {"Authorization": f"Bearer {key}"}
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.get(f"{base}/status/snapshot", headers=headers) as response:
                snapshot = await response.json(content_type=None)
                if response.status != 200:
                    message = (snapshot.get("error") or {}).get("message", response.status)
                    raise CannotList(EXIT_UNREACHABLE, f"the daemon refused: {message}")
            url = snapshot.get("simulatorUrl")
            if not url:
                raise CannotList(
                    EXIT_LIVE,
                    'the daemon runs with upstream.mode = "live": there is no simulator to list;'
                    " import any artist Spotify knows by name or id",
                )
            query = {"offset": str(offset), "limit": str(limit)}
            async with session.get(f"{url}/_sim/catalog", params=query) as response:
                response.raise_for_status()
                return str(url), await response.json()
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise CannotList(
            EXIT_UNREACHABLE, f"the daemon at {base} did not answer ({exc}); is it running?"
        ) from None


async def list_artists(
    settings: Settings,
    *,
    offset: int = 0,
    limit: int = 20,
    as_json: bool = False,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Names one a line on ``out`` (so ``| head -1`` gives one to import), the count and how to
    import one on ``err``; with ``as_json`` the simulator's catalog page as it came."""
    try:
        url, page = await simulator_catalog(settings, offset, limit)
    except CannotList as exc:
        print(exc, file=err)
        return exc.code
    if as_json:
        print(json.dumps(page, indent=2), file=out)
        return EXIT_LISTED
    names = [artist["name"] for artist in page["artists"]]
    for name in names:
        print(name, file=out)
    shown = f"{offset + 1}-{offset + len(names)}" if names else "none"
    print(f"artists {shown} of {page['total']} in the simulator at {url}", file=err)
    if names:
        print(f'import one with: theset-daemon import "{names[0]}"', file=err)
    return EXIT_LISTED


async def suggest(settings: Settings, name: str) -> list[str]:
    """A few of the simulator's names for a name that matched nothing: the closest ones, else
    the first ones. Empty when there is no list to ask (live mode, no admin key, an error)."""
    try:
        _url, page = await simulator_catalog(settings, 0, SUGGEST_FROM)
    except CannotList:
        return []
    names: list[str] = [artist["name"] for artist in page["artists"]]
    by_folded = {candidate.casefold(): candidate for candidate in names}
    close = difflib.get_close_matches(name.casefold(), by_folded, n=SUGGESTIONS, cutoff=0.5)
    return [by_folded[folded] for folded in close] or names[:SUGGESTIONS]
