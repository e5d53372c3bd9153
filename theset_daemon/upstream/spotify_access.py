"""Spotify's access level in force: found from its answers, not only configured.

A new Spotify app gets development mode (the February 2026 rules) whatever we ask for. A client
set to ``api_mode = "extended"`` learns it from the first refusal Spotify gives a
development-mode app (``spotify.py`` recognises them: 403 on an endpoint only extended mode has,
400 on a page ``limit`` over development's that the same page at development's limit does not
get), follows the development rules from then on, and logs ``spotify_access_level`` once, naming
the setting to change so that the next start does not try the refused calls again.

The found level lives here, for the process; it is never written to the settings. A reload
(SIGHUP) keeps it unless the reload changes ``api_mode`` itself: then the operator's value is
taken again. Setting ``extended`` back (once Spotify grants it) tries the extended calls anew,
and a refusal is found, and logged, again. A restart starts from ``api_mode``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from theset_daemon.log import get_logger

log = get_logger(__name__)

AccessLevel = Literal["extended", "development"]
#: What an operator sets so that a development-mode app never sends the calls Spotify refuses it.
DEVELOPMENT_SETTING = 'upstream.spotify.api_mode = "development"'
#: The endpoints development mode lacks: a 403 from one of them is the access level speaking.
EXTENDED_ONLY = frozenset({"/albums", "/tracks", "/artists", "/artists/{id}/top-tracks"})


class FoundAccessLevel:
    """The level in force: the configured one until Spotify's answers contradict it."""

    def __init__(self, configured: Callable[[], AccessLevel]) -> None:
        self._configured = configured
        # What the answers showed, and the api_mode configured when they did; None while the
        # configured level stands.
        self._found: AccessLevel | None = None
        self._found_under: AccessLevel | None = None

    @property
    def in_force(self) -> AccessLevel:
        configured = self._configured()
        if self._found is not None and configured != self._found_under:
            # A reload changed api_mode since: the operator's word is taken again.
            self._found = self._found_under = None
        return self._found or configured

    def development_found(self, endpoint: str, status: int) -> None:
        """Spotify refused ``endpoint`` (``status``) as it refuses a development-mode app: the
        development rules hold from now on. Logged once: the concurrent calls refused at the same
        moment find the level already known."""
        if self.in_force == "development":
            return
        configured = self._configured()
        self._found, self._found_under = "development", configured
        log.warning(
            "spotify_access_level",
            level="development",
            configured=configured,
            endpoint=endpoint,
            status=status,
            setting=DEVELOPMENT_SETTING,
            message=(
                "Spotify answers this app as a development-mode app (February 2026 rules): "
                f"following them from now on; set {DEVELOPMENT_SETTING} so that the next start "
                "does not try the refused calls again"
            ),
        )
