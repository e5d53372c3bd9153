"""Local secrets (``theset_daemon/local_secrets.py``): when they apply, what the file must hold,
how it is written, and that the environment and the config win."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from theset_daemon import config, local_secrets
from theset_daemon.local_secrets import ADMIN, CRON, MIN_CHARS


def settings(text: str = "", **env: str) -> config.Settings:
    return config.parse(text, env)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LocalHost", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.0.0.7", False),
        ("theset.live", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert local_secrets.is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("text", "env", "applies"),
    [
        ("", {}, True),
        ('[server]\nhost = "::1"\n', {}, True),
        ('[server]\nhost = "0.0.0.0"\n', {}, False),
        ("", {"CRON_SECRET": "set-in-the-environment"}, False),
        ("", {"ADMIN_API_KEY": "set-in-the-environment"}, False),
        ('[auth]\nadmin_api_key = "set-in-the-config-file"\n', {}, False),
    ],
)
def test_they_apply_on_loopback_with_neither_secret_set(
    text: str, env: dict[str, str], applies: bool
) -> None:
    assert local_secrets.applies(settings(text, **env)) is applies


def test_the_file_is_created_once_0600_with_two_strong_different_secrets(tmp_path: Path) -> None:
    config_path = tmp_path / "config.toml"
    first_settings, first = local_secrets.fill_or_create(settings(), config_path)
    assert first is not None and first.created
    assert first.path == tmp_path / ".theset" / "secrets.env"
    assert mode_of(first.path) == 0o600
    assert mode_of(first.path.parent) == 0o700
    cron = first_settings.auth.cron_secret.get_secret_value()
    admin = first_settings.auth.admin_api_key.get_secret_value()
    assert len(cron) >= 40 and len(admin) >= 40 and cron != admin
    text = first.path.read_text()
    assert f"{CRON}={cron}\n" in text and f"{ADMIN}={admin}\n" in text
    assert [p.name for p in first.path.parent.iterdir()] == ["secrets.env"]  # no temporary left

    again_settings, again = local_secrets.fill_or_create(settings(), config_path)
    assert again is not None and not again.created
    assert again_settings.auth == first_settings.auth
    # The CLI, from the same config file, reads the same two.
    assert local_secrets.fill(settings(), config_path).auth == first_settings.auth


def test_the_environment_and_the_config_win_and_nothing_is_written(tmp_path: Path) -> None:
    config_path = tmp_path / "config.toml"
    local_secrets.fill_or_create(settings(), config_path)  # a file from an earlier start
    from_env = settings(ADMIN_API_KEY="admin-from-the-environment")
    assert local_secrets.fill(from_env, config_path) == from_env
    assert local_secrets.fill_or_create(from_env, config_path) == (from_env, None)

    elsewhere = tmp_path / "other" / "config.toml"
    public = settings('[server]\nhost = "0.0.0.0"\n')
    assert local_secrets.fill_or_create(public, elsewhere) == (public, None)
    assert local_secrets.fill(public, config_path) == public  # the file is never read either
    assert not (tmp_path / "other").exists()


def test_the_cli_never_writes(tmp_path: Path) -> None:
    plain = settings()
    assert local_secrets.fill(plain, tmp_path / "config.toml") == plain
    assert not (tmp_path / ".theset").exists()


@pytest.mark.parametrize(
    "text",
    [
        "",
        f"{CRON}={'c' * 40}\n",
        f"{CRON}={'c' * (MIN_CHARS - 1)}\n{ADMIN}={'a' * 40}\n",
        f"{CRON}={'same' * 10}\n{ADMIN}={'same' * 10}\n",
    ],
)
def test_an_unusable_file_is_ignored_by_the_cli_and_replaced_by_the_daemon(
    tmp_path: Path, text: str
) -> None:
    path = tmp_path / ".theset" / "secrets.env"
    path.parent.mkdir()
    path.write_text(text)
    assert local_secrets.read(path) is None
    assert local_secrets.fill(settings(), tmp_path / "config.toml") == settings()
    _, local = local_secrets.fill_or_create(settings(), tmp_path / "config.toml")
    found = local_secrets.read(path)
    assert local is not None and local.created and found is not None
    assert (found.cron_secret, found.admin_api_key) == (local.cron_secret, local.admin_api_key)
    assert mode_of(path) == 0o600


def test_a_hand_written_file_is_used_and_its_loose_mode_tightened(tmp_path: Path) -> None:
    path = tmp_path / ".theset" / "secrets.env"
    path.parent.mkdir()
    path.write_text(f"# mine\n{CRON} = {'c' * MIN_CHARS}\n\n{ADMIN}={'a' * MIN_CHARS}\n")
    path.chmod(0o644)
    filled, local = local_secrets.fill_or_create(settings(), tmp_path / "config.toml")
    assert local is not None and not local.created
    assert filled.auth.cron_secret.get_secret_value() == "c" * MIN_CHARS
    assert filled.auth.admin_api_key.get_secret_value() == "a" * MIN_CHARS
    assert mode_of(path) == 0o600


def test_no_secret_in_a_repr(tmp_path: Path) -> None:
    _, local = local_secrets.fill_or_create(settings(), tmp_path / "config.toml")
    assert local is not None
    assert local.cron_secret.get_secret_value() not in repr(local)
    assert local.admin_api_key.get_secret_value() not in repr(local)
