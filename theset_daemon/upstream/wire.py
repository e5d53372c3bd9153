"""Validating providers' answers: pydantic models of just the fields we use.

Unknown fields are ignored (providers add fields all the time); a missing or mistyped field we
rely on raises :class:`UpstreamMalformed` naming the provider, the endpoint and the field.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from theset_daemon.upstream.errors import UpstreamMalformed


class WireModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


M = TypeVar("M", bound=BaseModel)


def parse(model: type[M], body: Any, *, provider: str, endpoint: str) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "<body>"
        raise UpstreamMalformed(
            provider, endpoint, f"unexpected JSON at {where}: {first['msg']}", retryable=False
        ) from None
