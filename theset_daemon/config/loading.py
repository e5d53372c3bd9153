"""Loading: file text + environment -> :class:`Settings`, or a :class:`ConfigError` listing every
problem with its key path. Pure: nothing here applies the settings."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from theset_daemon.config.settings import Settings

DEFAULT_CONFIG_PATH = Path("config.toml")

#: Environment variable -> dotted key it overrides. An empty variable counts as unset.
ENV_OVERRIDES: dict[str, str] = {
    "DATABASE_URL": "database.url",
    "REDIS_URL": "redis.url",
    "REDIS_TOKEN": "redis.token",
    "CRON_SECRET": "auth.cron_secret",
    "ADMIN_API_KEY": "auth.admin_api_key",
    "SPOTIFY_CLIENT_ID": "upstream.spotify.client_id",
    "SPOTIFY_CLIENT_SECRET": "upstream.spotify.client_secret",
    "TICKETMASTER_API_KEY": "upstream.ticketmaster.api_key",
    "SETLISTFM_API_KEY": "upstream.setlistfm.api_key",
}


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


class ConfigError(Exception):
    """The configuration could not be loaded; ``problems`` lists every one, with its key path."""

    def __init__(self, source: str, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: {len(problems)} problem(s): " + "; ".join(map(str, problems)))


def resolve_path(cli_path: str | None, env: Mapping[str, str]) -> Path:
    """``--config`` wins, then ``$THESET_CONFIG``, then ``./config.toml``."""
    return Path(cli_path or env.get("THESET_CONFIG") or DEFAULT_CONFIG_PATH)


def load(path: Path, env: Mapping[str, str] | None = None) -> Settings:
    """Read ``path`` (TOML), apply environment overrides, validate; or raise ConfigError."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        hint = "pass --config PATH or set THESET_CONFIG"
        raise ConfigError(str(path), [ConfigProblem("<file>", f"{exc.strerror}; {hint}")]) from exc
    return parse(text, os.environ if env is None else env, source=str(path))


def parse(text: str, env: Mapping[str, str], *, source: str = "<string>") -> Settings:
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [ConfigProblem("<file>", f"not valid TOML: {exc}")]) from exc
    for variable, key in ENV_OVERRIDES.items():
        if value := env.get(variable):
            set_key(raw, key, value)
    try:
        return Settings.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(source, [_problem(error) for error in exc.errors()]) from None


def _problem(error: Mapping[str, Any]) -> ConfigProblem:
    key = ".".join(str(part) for part in error["loc"]) or "<root>"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (see config.toml for the documented keys)"
    return ConfigProblem(key, message)


def set_key(tree: dict[str, Any], dotted: str, value: object) -> None:
    """Set ``dotted`` (``"upstream.spotify.client_id"``) in a raw TOML tree, making its tables."""
    *parents, leaf = dotted.split(".")
    for part in parents:
        child = tree.setdefault(part, {})
        if not isinstance(child, dict):  # the file has a scalar where a table belongs
            return  # leave it: validation reports the file's mistake
        tree = child
    tree[leaf] = value
