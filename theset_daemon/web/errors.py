"""The error envelope every route answers with (CONTRACT.md section 2).

``{"error": {"code": "<snake_case>", "message": "<one sentence>", "details"?: ...}}``, plus any
top-level extras the contract names (``runId`` on 409).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

#: HTTP status -> the contract's error code.
CODES: dict[int, str] = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "already_running",
    413: "payload_too_large",
    429: "rate_limited",
    500: "internal",
    503: "upstream_unavailable",
}


class ApiError(Exception):
    """Raised by handlers and helpers; the error middleware renders it as the envelope."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "internal")
        self.message = message
        self.details = details
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def response(self) -> web.Response:
        """The error envelope (CONTRACT.md section 2), with ``extra`` beside ``error``."""
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            error["details"] = self.details
        body = {"error": error, **self.extra}
        return web.json_response(body, status=self.status, headers=self.headers)
