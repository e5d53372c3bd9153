"""Headless Chromium (Debian's ``chromium``) driven by Playwright, for what only a browser proves:
CORS as a browser enforces it, ``EventSource`` reconnects, and the status page.

Playwright never downloads a browser here; it drives ``/usr/bin/chromium``. ``.ci/run`` installs
that package and sets ``THESET_REQUIRE_BROWSER=1``, so in CI a missing browser fails these tests.
Elsewhere (a laptop without Chromium) they skip, saying why.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM = shutil.which("chromium")
# Without the background-networking flags Chromium keeps dialling Google's hosts, which this
# machine's closed network refuses; --no-sandbox because CI runs as root.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if CHROMIUM is None:
        if os.environ.get("THESET_REQUIRE_BROWSER") == "1":
            pytest.fail("THESET_REQUIRE_BROWSER=1, but there is no chromium on PATH")
        pytest.skip("no Chromium here: `apt-get install chromium` to run the browser tests")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()
