"""The simulator behind a real aiohttp test server, and a client that speaks each provider.

Functional tests raise the per-second limits out of the way (``FAST``); the rate-limit tests set
their own. Latency is 0 unless a test asks for it.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from theset_daemon.config import SimulatorSettings
from theset_daemon.sim import SIM_CREDENTIALS, SimLimits, build_sim_app

SETTINGS = SimulatorSettings(seed=1, artists=200, latency_ms=0)
FAST = SimLimits(spotify_per_s=100_000, ticketmaster_per_s=100_000, setlistfm_per_s=100_000)
JSON_ACCEPT = {"Accept": "application/json"}

Json = dict[str, Any]


def basic(client_id: str, client_secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()


class Sim:
    """One simulator app under test, with a helper per provider."""

    def __init__(self, client: TestClient[Any, Any]) -> None:
        self.client = client
        self._token: str | None = None

    @property
    def base(self) -> str:
        return str(self.client.make_url("")).rstrip("/")

    # --- Spotify ---

    async def token(self) -> str:
        if self._token is None:
            response = await self.client.post(
                "/api/token",
                data={"grant_type": "client_credentials"},
                headers={
                    "Authorization": basic(
                        SIM_CREDENTIALS.spotify_client_id, SIM_CREDENTIALS.spotify_client_secret
                    )
                },
            )
            assert response.status == 200, await response.text()
            self._token = (await response.json())["access_token"]
        return self._token

    async def spotify(self, path: str, **params: Any) -> tuple[int, Json]:
        """GET an API path (``/v1`` added) or an absolute URL the simulator gave out."""
        headers = {"Authorization": f"Bearer {await self.token()}"}
        if path.startswith("http"):
            assert path.startswith(self.base + "/v1/"), f"{path} leaves the simulator"
            path = path.removeprefix(self.base)
        else:
            path = "/v1" + path
        response = await self.client.get(path, params=params or None, headers=headers)
        return response.status, await response.json()

    async def spotify_ok(self, path: str, **params: Any) -> Json:
        status, body = await self.spotify(path, **params)
        assert status == 200, body
        return body

    async def mode(self, mode: str) -> None:
        response = await self.client.post("/_sim/spotify-mode", json={"mode": mode})
        assert response.status == 200, await response.text()

    # --- Ticketmaster ---

    async def tm(self, path: str, **params: Any) -> tuple[int, Json]:
        """GET a path under ``/discovery/v2`` (or a relative href the simulator gave out)."""
        if not path.startswith("/discovery/v2"):
            path = "/discovery/v2" + path
        key = SIM_CREDENTIALS.ticketmaster_api_key
        if "?" in path:  # an href from ``_links``: never carries the key
            assert "apikey" not in path
            response = await self.client.get(f"{path}&apikey={key}")
        else:
            response = await self.client.get(path, params={"apikey": key, **params})
        return response.status, await response.json()

    # --- setlist.fm ---

    async def fm(self, path: str, **params: Any) -> tuple[int, Json]:
        headers = {"x-api-key": SIM_CREDENTIALS.setlistfm_api_key, **JSON_ACCEPT}
        response = await self.client.get("/rest/1.0" + path, params=params or None, headers=headers)
        return response.status, await response.json()

    # --- control ---

    async def catalog(self, offset: int = 0, limit: int = 100) -> list[Json]:
        response = await self.client.get("/_sim/catalog", params={"offset": offset, "limit": limit})
        assert response.status == 200
        artists: list[Json] = (await response.json())["artists"]
        return artists

    async def change(self, **body: Any) -> Json:
        """``POST /_sim/catalog`` with ``body``; the answer, which must be a 200."""
        response = await self.client.post("/_sim/catalog", json=body)
        assert response.status == 200, await response.text()
        answer: Json = await response.json()
        return answer

    async def stats(self) -> Json:
        response = await self.client.get("/_sim/stats")
        providers: Json = (await response.json())["providers"]
        return providers


SimFactory = Callable[..., Awaitable[Sim]]


@pytest.fixture
def make_sim(aiohttp_client: Any) -> SimFactory:
    async def make(
        settings: SimulatorSettings = SETTINGS, limits: SimLimits = FAST, **changes: Any
    ) -> Sim:
        if changes:
            settings = settings.model_copy(update=changes)
        return Sim(await aiohttp_client(build_sim_app(settings, limits)))

    return make


@pytest.fixture
async def sim(make_sim: SimFactory) -> Sim:
    return await make_sim()
