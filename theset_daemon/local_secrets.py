"""Local secrets: a daemon started on a fresh clone can be operated at once.

Without ``CRON_SECRET`` and ``ADMIN_API_KEY`` the daemon refuses its cron, monitoring and status
routes, so a newcomer who ran ``make run`` could neither open ``/status`` nor use ``theset-daemon
status`` or ``trigger``. A daemon that listens on loopback only, with neither secret set in the
environment or the config, therefore uses the two in ``.theset/secrets.env`` next to its config
file, and writes that file with two fresh random secrets the first time (mode 0600).
The CLI, run with the same config file (``./config.toml`` in the checkout by default), reads the
same file under the same condition. One rule for both: the secrets file belongs to a config file.

Why only on loopback: a daemon that other machines can reach gets its secrets from its operator.
It never makes its own; it refuses the routes and says so at start-up, as it always did.

Why all or nothing: an operator who sets either secret has taken charge of them. Filling the
other one from a file would let the daemon and a CLI with another environment disagree silently.
The environment and the config win, because the file is read only when they set neither secret.

The file is ``KEY=value`` lines, so a shell can load it for curl:
``set -a; . .theset/secrets.env; set +a``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from theset_daemon.config import Settings

DIR_NAME = ".theset"
FILE_NAME = "secrets.env"
#: ``secrets.token_urlsafe(32)``: 43 characters carrying 256 random bits.
TOKEN_BYTES = 32
#: Issue 18 refuses shorter secrets; a hand-edited file below this is replaced or ignored.
MIN_CHARS = 16
CRON, ADMIN = "CRON_SECRET", "ADMIN_API_KEY"
LOOPBACK_NAMES = ("localhost",)
HEADER = (
    "# Written by `theset-daemon run` for a daemon on loopback with no secrets configured.\n"
    "# CRON_SECRET or ADMIN_API_KEY in the environment or [auth] in the config wins over this"
    " file.\n"
    "# Status page: any user name, password ADMIN_API_KEY. For curl: set -a; . ./secrets.env\n"
)


@dataclass(frozen=True, slots=True)
class LocalSecrets:
    """The secrets taken from ``path``; ``created`` when this start wrote the file."""

    path: Path
    cron_secret: SecretStr
    admin_api_key: SecretStr
    created: bool = False


def secrets_path(config_path: Path) -> Path:
    """``.theset/secrets.env`` in the config file's directory."""
    return config_path.absolute().parent / DIR_NAME / FILE_NAME


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and ``localhost``: reachable from this machine only."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def applies(settings: Settings) -> bool:
    """On loopback, and neither secret set by the environment or the config."""
    auth = settings.auth
    unset = not auth.cron_secret.get_secret_value() and not auth.admin_api_key.get_secret_value()
    return unset and is_loopback(settings.server.host)


def with_secrets(settings: Settings, local: LocalSecrets) -> Settings:
    auth = settings.auth.model_copy(
        update={"cron_secret": local.cron_secret, "admin_api_key": local.admin_api_key}
    )
    return settings.model_copy(update={"auth": auth})


def read(path: Path) -> LocalSecrets | None:
    """The file's two secrets, or None when it is missing, unreadable or not usable (a secret
    absent, shorter than ``MIN_CHARS``, or both the same)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and not key.startswith("#"):
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]  # KEY="value", as a shell file may have it
            values[key.strip()] = value
    cron, admin = values.get(CRON, ""), values.get(ADMIN, "")
    if len(cron) < MIN_CHARS or len(admin) < MIN_CHARS or cron == admin:
        return None
    return LocalSecrets(path, SecretStr(cron), SecretStr(admin))


def fill(settings: Settings, config_path: Path) -> Settings:
    """``settings`` with the file's secrets where they apply and the file holds them; never
    writes. The CLI's commands use it, and the daemon on SIGHUP (the file was made at start)."""
    if not applies(settings):
        return settings
    local = read(secrets_path(config_path))
    return settings if local is None else with_secrets(settings, local)


def fill_or_create(settings: Settings, config_path: Path) -> tuple[Settings, LocalSecrets | None]:
    """The settings ``run`` starts with, and the local secrets in use (None when they do not
    apply). Creates the file when it applies and the file is missing or unusable; raises
    OSError when it cannot be written."""
    if not applies(settings):
        return settings, None
    local = ensure(secrets_path(config_path))
    return with_secrets(settings, local), local


def ensure(path: Path) -> LocalSecrets:
    """The usable secrets in ``path``, written first if need be (two daemons starting at once
    agree on the first file written)."""
    found = read(path)
    if found is not None:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            os.chmod(path, 0o600)  # someone loosened it: secrets are for this user only
        return found
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    cron, admin = _token(), _token()
    while admin == cron:  # never in practice, but issue 18 refuses equal secrets
        admin = _token()
    # mkstemp creates the file 0600; it is complete before it takes the final name.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".secrets-", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(f"{HEADER}{CRON}={cron}\n{ADMIN}={admin}\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)  # never over a file: another daemon may have just written it
        except FileExistsError:
            won = read(path)
            if won is not None:
                return won
            os.replace(temporary, path)  # an unusable file (hand-edited): replaced whole
        except OSError:  # a file system without hard links: the last writer wins
            os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return LocalSecrets(path, SecretStr(cron), SecretStr(admin), created=True)


def _token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)
