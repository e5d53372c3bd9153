"""A bounded whole-number query parameter, read one way by the Spotify routes and the control
routes (each answers a bad one in its own words)."""

from __future__ import annotations

from aiohttp import web


def query_int(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    """``name`` from the query string, ``default`` when absent or empty; ValueError saying what is
    wrong when it is not a whole number from ``low`` to ``high``."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("must be an integer") from None
    if not low <= value <= high:
        raise ValueError(f"must be between {low} and {high}")
    return value
