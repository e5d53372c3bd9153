"""The guard on what the status page changes (CONTRACT.md section 5): the request must come from
the page itself, by its origin and by a CSRF token.

Why both, on top of the admin key. The page signs in with HTTP Basic, and once an operator has
typed the key a browser attaches it to *every* request to the daemon's origin, whichever site
started it: a form on another site posting to ``/status/jobs/<job>/run`` would carry it. So a
state-changing route of the page also asks

- that the browser says the request is same-origin: ``Sec-Fetch-Site: same-origin`` where the
  browser sends it (every current one does), and an ``Origin`` naming the daemon's own host
  where it is sent; a request with neither is refused (a script has the cron route and its
  secret for that);
- for the CSRF token the page was served with, in the ``X-CSRF-Token`` header. Another site can
  neither read the page nor set that header on a cross-site request without a CORS preflight,
  which the daemon answers for no such route.

The token is an HMAC-SHA256, under the admin key, of the Basic user name that loaded the page:
the admin session of HTTP Basic *is* its credentials, so the token is tied to them. It changes
when the key is rotated (SIGHUP), which ends every page's session; it differs per operator name;
and it needs no state on the server, so it holds across a restart and across the daemons behind
one address. It is compared in constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from yarl import URL

from theset_daemon.web.errors import ApiError

TOKEN_HEADER = "X-CSRF-Token"
#: Domain separation: the same key signs nothing else with this prefix.
_TOKEN_CONTEXT = b"theset-daemon status page csrf v1\x00"


def basic_user(authorization: str) -> str:
    """The user name of an HTTP Basic ``Authorization`` header; "" for a bearer token or none
    (the middleware has already checked the password)."""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[0]


def csrf_token(admin_key: str, authorization: str) -> str:
    """The page's token for the session that presented ``authorization``."""
    message = _TOKEN_CONTEXT + basic_user(authorization).encode()
    digest = hmac.new(admin_key.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _same_host(origin: str, host: str) -> bool:
    """Whether ``origin`` (a serialized origin) names the host and port of the ``Host`` header.

    The scheme is not compared: behind a proxy that ends TLS the daemon sees http while the page
    is https. Host and port are what another site cannot fake, and the token does the rest."""
    try:
        sent = URL(origin)
        own = URL.build(scheme=sent.scheme, authority=host)
    except (ValueError, TypeError):
        return False
    if sent.scheme not in ("http", "https") or sent.path not in ("", "/") or sent.query_string:
        return False
    if not sent.host or not own.host:
        return False
    return sent.host.lower() == own.host.lower() and sent.port == own.port


def refuse_cross_site(headers: Mapping[str, str], host: str) -> None:
    """Raise 403 unless the browser says the request comes from a page of this origin."""
    fetch_site = headers.get("Sec-Fetch-Site")
    origin = headers.get("Origin")
    if fetch_site is not None and fetch_site != "same-origin":
        raise ApiError(403, "refused: the request does not come from the status page's origin")
    if origin is None and fetch_site is None:
        raise ApiError(
            403,
            "refused: neither Origin nor Sec-Fetch-Site shows the request comes from the status "
            "page (scripts trigger jobs with POST /api/cron/<job> and the cron secret)",
        )
    if origin is not None and not _same_host(origin, host):
        raise ApiError(403, "refused: the request's Origin is not the daemon's own")


def refuse_without_token(headers: Mapping[str, str], admin_key: str) -> None:
    """Raise 403 unless ``X-CSRF-Token`` is the token of the session presenting the request."""
    sent = headers.get(TOKEN_HEADER, "").encode("utf-8", "surrogateescape")
    expected = csrf_token(admin_key, headers.get("Authorization", "")).encode()
    if not hmac.compare_digest(sent, expected):
        raise ApiError(
            403,
            f"refused: missing or wrong {TOKEN_HEADER}; reload the status page for a fresh one",
        )
