"""The import tests' app client (``support.UNTHROTTLED``)."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.importer.support import app_client


@pytest.fixture
async def client(aiohttp_client: Any, database_url: str, unthrottled_simulator: None) -> TestClient:
    return await app_client(aiohttp_client, database_url)
