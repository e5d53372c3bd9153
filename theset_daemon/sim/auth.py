"""Credentials the simulator accepts, and the Spotify access tokens it issues.

The simulator has no accounts: any non-empty credential is accepted except one starting with
"invalid", which gets the provider's real rejection. That lets a test exercise both paths without
configuration, and :data:`SIM_CREDENTIALS` gives the daemon fixed values for simulated mode.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

REJECTED_PREFIX = "invalid"


@dataclass(frozen=True)
class SimCredentials:
    spotify_client_id: str
    spotify_client_secret: str
    ticketmaster_api_key: str
    setlistfm_api_key: str

    def __repr__(self) -> str:  # harmless values, but a credential is never printed
        return "SimCredentials(***)"


SIM_CREDENTIALS = SimCredentials(
    spotify_client_id="theset-sim-client",
    spotify_client_secret="theset-sim-secret",
    ticketmaster_api_key="theset-sim-ticketmaster-key",
    setlistfm_api_key="theset-sim-setlistfm-key",
)


def accepted(credential: str | None) -> bool:
    return bool(credential) and not str(credential).startswith(REJECTED_PREFIX)


class TokenStore:
    """Bearer tokens issued by ``/api/token`` and when each expires (monotonic seconds).

    Expired tokens are remembered for a while so a request with one gets "The access token
    expired" rather than "Invalid access token", as from Spotify.
    """

    _FORGET_AFTER_S = 3600.0

    def __init__(self) -> None:
        self._expires_at: dict[str, float] = {}

    def issue(self, ttl_s: float, now: float) -> str:
        self._expires_at = {
            token: at for token, at in self._expires_at.items() if at + self._FORGET_AFTER_S > now
        }
        token = "BQ" + secrets.token_urlsafe(84)
        self._expires_at[token] = now + ttl_s
        return token

    def check(self, token: str, now: float) -> str:
        """ "valid", "expired" or "unknown"."""
        expires_at = self._expires_at.get(token)
        if expires_at is None:
            return "unknown"
        return "valid" if now < expires_at else "expired"
