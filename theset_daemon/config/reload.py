"""Reloading: which keys changed, which of them only a restart can apply, the settings in force
after a reload, and :class:`SettingsHolder`, the one place the runtime swaps them on SIGHUP."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr

from theset_daemon.config.loading import set_key
from theset_daemon.config.settings import Settings

#: Keys (or key prefixes ending in ".") whose new value needs a restart: they are bound to a
#: socket, a pool or a process started once. Every other key is applied live on SIGHUP.
RESTART_REQUIRED: tuple[str, ...] = (
    "server.host",
    "server.port",
    "server.max_body_bytes",
    "database.",
    "redis.",
    "upstream.mode",
    "upstream.simulator.",
    "upstream.spotify.api_base_url",
    "upstream.spotify.accounts_base_url",
    "upstream.ticketmaster.base_url",
    "upstream.setlistfm.base_url",
    "cache.memory_max_entries",
    "shutdown.grace_seconds",
    "sse.queue_max_events",
)


def flatten(settings: BaseModel) -> dict[str, Any]:
    """Dotted key (as written in config.toml) -> value, secrets unwrapped for comparison only."""
    out: dict[str, Any] = {}

    def walk(model: BaseModel, prefix: str) -> None:
        for name, field in type(model).model_fields.items():
            value = getattr(model, name)
            key = prefix + (field.alias or name)
            if isinstance(value, BaseModel):
                walk(value, key + ".")
            else:
                out[key] = value.get_secret_value() if isinstance(value, SecretStr) else value

    walk(settings, "")
    return out


def _needs_restart(key: str) -> bool:
    return any(key == r or (r.endswith(".") and key.startswith(r)) for r in RESTART_REQUIRED)


@dataclass(frozen=True, slots=True)
class ConfigDiff:
    reloadable: tuple[str, ...]
    restart_required: tuple[str, ...]

    def __bool__(self) -> bool:
        return bool(self.reloadable or self.restart_required)


def diff(old: Settings, new: Settings) -> ConfigDiff:
    """The changed keys, split into those applied live and those that need a restart."""
    before, after = flatten(old), flatten(new)
    changed = sorted(key for key in after if before.get(key) != after[key])
    return ConfigDiff(
        reloadable=tuple(k for k in changed if not _needs_restart(k)),
        restart_required=tuple(k for k in changed if _needs_restart(k)),
    )


def apply_reload(old: Settings, new: Settings) -> tuple[Settings, ConfigDiff]:
    """The settings in force after a reload: ``new``, but restart-only keys keep ``old``."""
    changes = diff(old, new)
    if not changes.restart_required:
        return new, changes
    tree = new.model_dump(by_alias=True)
    kept = flatten(old)
    for key in changes.restart_required:
        set_key(tree, key, kept[key])
    return Settings.model_validate(tree), changes


class SettingsHolder:
    """The one mutable place settings live; components read ``holder.current`` each time.

    A reload swaps the whole object in one assignment, so a reader never sees half a reload, and
    the assignment tells every subscriber at once, in the same turn of the loop (the scheduler
    reschedules before the reload is logged). A subscriber must not raise.
    """

    def __init__(self, settings: Settings, path: Path) -> None:
        self._current = settings
        self.path = path
        self._subscribers: list[Callable[[Settings], None]] = []

    @property
    def current(self) -> Settings:
        return self._current

    @current.setter
    def current(self, settings: Settings) -> None:
        self._current = settings
        for subscriber in list(self._subscribers):
            subscriber(settings)

    def subscribe(self, subscriber: Callable[[Settings], None]) -> Callable[[], None]:
        """Call ``subscriber`` with every new settings object; returns the unsubscribe."""
        self._subscribers.append(subscriber)
        return lambda: self._subscribers.remove(subscriber)
