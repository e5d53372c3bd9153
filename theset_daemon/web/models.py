"""Request and response models shared by every route; the OpenAPI document is built from these."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class RequestModel(BaseModel):
    """Base of request bodies and queries: unknown fields are an error that names the field."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorEnvelope(BaseModel):
    error: ErrorBody


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"
