"""The run-now guard's pure parts (``web/same_origin.py``): which origins are the daemon's own,
what the browser's fetch metadata must say, and the token's ties to the session."""

from __future__ import annotations

import base64

import pytest

from theset_daemon.web.errors import ApiError
from theset_daemon.web.same_origin import (
    basic_user,
    csrf_token,
    refuse_cross_site,
    refuse_without_token,
)

HOST = "status.example:8080"
ORIGINS: list[tuple[str, str, bool]] = [
    ("http://status.example:8080", HOST, True),
    ("https://status.example:8080", HOST, True),  # TLS ended by a proxy in front
    ("http://STATUS.example:8080", HOST, True),
    ("https://status.example", "status.example", True),
    ("http://status.example", "status.example:80", True),
    ("http://[::1]:8080", "[::1]:8080", True),
    ("http://status.example:8081", HOST, False),
    ("http://status.example", HOST, False),
    ("http://evil.example:8080", HOST, False),
    ("http://status.example.evil:8080", HOST, False),
    ("null", HOST, False),
    ("", HOST, False),
    ("file://status.example:8080", HOST, False),
    ("http://status.example:8080/path", HOST, False),
    ("http://status.example:8080", "", False),
    ("http://status.example:8080", "not a host:", False),
]  # fmt: skip


@pytest.mark.parametrize(("origin", "host", "same"), ORIGINS)
def test_only_the_daemons_own_host_and_port_is_same_origin(
    origin: str, host: str, same: bool
) -> None:
    headers = {"Origin": origin, "Sec-Fetch-Site": "same-origin"}
    if same:
        refuse_cross_site(headers, host)
    else:
        with pytest.raises(ApiError) as refused:
            refuse_cross_site(headers, host)
        assert (refused.value.status, refused.value.code) == (403, "forbidden")


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({"Sec-Fetch-Site": "same-origin"}, True),
        ({"Origin": "http://status.example:8080"}, True),
        ({}, False),
        ({"Sec-Fetch-Site": "same-site", "Origin": "http://status.example:8080"}, False),
        ({"Sec-Fetch-Site": "cross-site"}, False),
        ({"Sec-Fetch-Site": "none"}, False),
    ],
)
def test_the_fetch_metadata_must_say_same_origin(headers: dict[str, str], allowed: bool) -> None:
    if allowed:
        refuse_cross_site(headers, HOST)
    else:
        with pytest.raises(ApiError):
            refuse_cross_site(headers, HOST)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_the_token_is_tied_to_the_key_and_the_session() -> None:
    token = csrf_token("key", basic("operator", "key"))
    assert token == csrf_token("key", basic("operator", "key"))
    assert token != csrf_token("key", basic("someone", "key"))
    assert token != csrf_token("other-key", basic("operator", "key"))
    assert len(token) == 43 and "=" not in token  # URL-safe base64 of 32 bytes
    assert basic_user(basic("operator", "key")) == "operator"
    assert basic_user("Bearer key") == basic_user("Basic !!") == basic_user("") == ""
    headers = {"Authorization": basic("operator", "key"), "X-CSRF-Token": token}
    refuse_without_token(headers, "key")
    for sent in ("", token[:-1], token + "A", csrf_token("key", "Bearer key"), "\udcff"):
        with pytest.raises(ApiError):
            refuse_without_token({**headers, "X-CSRF-Token": sent}, "key")
