"""Config loading, validation, environment overrides and reload diffs: tables of cases."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from theset_daemon import config
from theset_daemon.config import ConfigError, Settings

REPO = Path(__file__).resolve().parents[2]


def parse(text: str, env: dict[str, str] | None = None) -> Settings:
    return config.parse(text, env or {})


def problems_of(text: str, env: dict[str, str] | None = None) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        parse(text, env)
    return {p.key: p.message for p in info.value.problems}


def test_repository_config_is_the_documented_defaults() -> None:
    assert config.load(REPO / "config.toml", {}) == Settings()


def test_repository_config_documents_every_key_with_a_comment() -> None:
    text = (REPO / "config.toml").read_text()
    written = set(config.flatten(Settings.model_validate(tomllib.loads(text))))
    in_file: set[str] = set()
    table = ""
    for line in text.splitlines():
        if header := re.match(r"^\[(.+)\]", line):
            table = header.group(1)
        elif assignment := re.match(r"^(\w+)\s*=", line):
            in_file.add(f"{table}.{assignment.group(1)}")
            assert "#" in line, f"{table}.{assignment.group(1)} has no comment"
    assert in_file == written == set(config.flatten(Settings()))


VALID = [
    ("", lambda s: s.server.port == 8080 and s.database.data_dir == Path(".theset/pg")),
    ("[server]\nport = 0", lambda s: s.server.port == 0),
    (
        '[server]\ncors_origins = ["https://theset.live", "http://localhost:3000"]',
        lambda s: s.server.cors_origins == ("https://theset.live", "http://localhost:3000"),
    ),
    ('[database]\nurl = "postgresql://u:p@db:5432/theset"', lambda s: s.database.url),
    ("[database]\npool_min_size = 0\npool_max_size = 1", lambda s: s.database.pool_max_size == 1),
    ('[log]\nlevel = "debug"\nformat = "console"', lambda s: s.log.format == "console"),
    ("[import]\nper_client_per_minute = 5", lambda s: s.import_.per_client_per_minute == 5),
    (
        "[import]\nreuse_within_s = 0\nmax_running = 1",
        lambda s: s.import_.reuse_within_s == 0 and s.import_.max_running == 1,
    ),
    (
        '[server]\ntrusted_proxies = ["10.0.0.7/8", "::1", " 192.168.1.1 "]',
        lambda s: s.server.trusted_proxies == ("10.0.0.0/8", "::1/128", "192.168.1.1/32"),
    ),
    ('[upstream.spotify]\napi_mode = "development"', lambda s: s.upstream.spotify.api_mode),
    (
        "[upstream.ticketmaster.breaker]\nfailure_threshold = 2\nreset_timeout_s = 0.5",
        lambda s: s.upstream.ticketmaster.breaker.failure_threshold == 2,
    ),
    (
        '[jobs.calculate-trending]\nschedule = "*/5 * * * *"\nenabled = false',
        lambda s: not s.jobs.calculate_trending.enabled,
    ),
    (
        "[jobs.complete-catalog-sync]\nmax_artists = 100000\ndelay_s = 0",
        lambda s: s.jobs.complete_catalog_sync.max_artists == 100_000,
    ),
    (
        '[monitoring.email]\nsmtp_host = "mail"\nsender = "a@b.c"\nrecipients = ["ops@b.c"]',
        lambda s: s.monitoring.email.recipients == ("ops@b.c",),
    ),
    ("[cache.ttl_s]\nartist = 1", lambda s: s.cache.ttl_s.artist == 1),
]


@pytest.mark.parametrize(("text", "check"), VALID)
def test_valid_configs(text: str, check: object) -> None:
    settings = parse(text)
    assert callable(check) and check(settings)


INVALID = [
    ("[server]\nport = 70000", {"server.port"}),
    ("[server]\nport = 'eighty'", {"server.port"}),
    ("[server]\ncolour = 'blue'", {"server.colour"}),
    ("[serverr]\nport = 1", {"serverr"}),
    ('[server]\ncors_origins = ["theset.live"]', {"server.cors_origins"}),
    ('[server]\ntrusted_proxies = ["proxy.local"]', {"server.trusted_proxies"}),
    ("[import]\nmax_running = 0", {"import.max_running"}),
    ("[import]\nreuse_within_s = -1", {"import.reuse_within_s"}),
    ('[database]\nurl = "mysql://x"', {"database.url"}),
    ("[database]\npool_min_size = 20\npool_max_size = 10", {"database"}),
    ('[redis]\nurl = "http://cache"', {"redis.url"}),
    ('[log]\nlevel = "loud"', {"log.level"}),
    ("[shutdown]\ngrace_seconds = 0", {"shutdown.grace_seconds"}),
    ("[sse]\nqueue_max_events = 0", {"sse.queue_max_events"}),
    ('[upstream]\nmode = "mocked"', {"upstream.mode"}),
    ("[upstream.spotify]\nmax_rate_per_s = 0", {"upstream.spotify.max_rate_per_s"}),
    (
        "[upstream.setlistfm.retry]\nbase_delay_s = 10\nmax_delay_s = 1",
        {"upstream.setlistfm.retry"},
    ),
    ('[upstream.ticketmaster]\nbase_url = "ftp://tm"', {"upstream.ticketmaster.base_url"}),
    ('[jobs.calculate-trending]\nschedule = "every hour"', {"jobs.calculate-trending.schedule"}),
    ('[jobs.calculate-trending]\nschedule = "61 * * * *"', {"jobs.calculate-trending.schedule"}),
    ('[jobs.calculate-trending]\nschedule = "0 3 * * 8"', {"jobs.calculate-trending.schedule"}),
    ('[monitoring.routing]\nwarning = ["pager"]', {"monitoring.routing.warning.0"}),
    ("[jobs.update-active-artists]\nlimit = 1001", {"jobs.update-active-artists.limit"}),
    ("[jobs.nightly-backup]\nenabled = true", {"jobs.nightly-backup"}),
    ("[monitoring]\nerror_rate_threshold = 1.5", {"monitoring.error_rate_threshold"}),
    ('[monitoring.email]\nsmtp_host = "mail"', {"monitoring.email"}),
    ("this is not toml", {"<file>"}),
]


@pytest.mark.parametrize(("text", "keys"), INVALID)
def test_invalid_configs_name_the_key(text: str, keys: set[str]) -> None:
    assert set(problems_of(text)) == keys


def test_every_problem_is_listed_at_once() -> None:
    text = """
[server]
port = -1
[log]
level = "loud"
[jobs.trending-artist-sync]
schedule = "* *"
limit = 0
[upstream.spotify.breaker]
half_open_max_calls = 0
"""
    assert set(problems_of(text)) == {
        "server.port",
        "log.level",
        "jobs.trending-artist-sync.schedule",
        "jobs.trending-artist-sync.limit",
        "upstream.spotify.breaker.half_open_max_calls",
    }


def test_environment_overrides_the_file() -> None:
    env = {
        "DATABASE_URL": "postgresql://app:pw@db/theset",
        "REDIS_URL": "redis://cache:6379/0",
        "CRON_SECRET": "cron-s3cret",
        "ADMIN_API_KEY": "admin-s3cret",
        "SPOTIFY_CLIENT_ID": "cid",
        "SPOTIFY_CLIENT_SECRET": "csecret",
        "TICKETMASTER_API_KEY": "tm",
        "SETLISTFM_API_KEY": "sf",
        "REDIS_TOKEN": "rt",
    }
    settings = parse('[auth]\ncron_secret = "from-file"', env)
    assert settings.database.url.get_secret_value() == env["DATABASE_URL"]
    assert settings.redis.url.get_secret_value() == env["REDIS_URL"]
    assert settings.redis.token.get_secret_value() == "rt"
    assert settings.auth.cron_secret.get_secret_value() == "cron-s3cret"
    assert settings.auth.admin_api_key.get_secret_value() == "admin-s3cret"
    assert settings.upstream.spotify.client_id.get_secret_value() == "cid"
    assert settings.upstream.spotify.client_secret.get_secret_value() == "csecret"
    assert settings.upstream.ticketmaster.api_key.get_secret_value() == "tm"
    assert settings.upstream.setlistfm.api_key.get_secret_value() == "sf"


def test_empty_environment_variable_counts_as_unset() -> None:
    settings = parse('[auth]\ncron_secret = "from-file"', {"CRON_SECRET": ""})
    assert settings.auth.cron_secret.get_secret_value() == "from-file"


def test_an_invalid_environment_value_names_the_key() -> None:
    assert set(problems_of("", {"DATABASE_URL": "sqlite:///x"})) == {"database.url"}


def test_secrets_never_appear_in_repr() -> None:
    settings = parse(
        '[auth]\ncron_secret = "hunter2"\n[database]\nurl = "postgresql://u:pw-9@h/d"',
        {"SPOTIFY_CLIENT_SECRET": "spot-secret"},
    )
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "hunter2" not in text and "pw-9" not in text and "spot-secret" not in text


def test_missing_file_is_a_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        config.load(tmp_path / "absent.toml", {})
    assert info.value.problems[0].key == "<file>"
    assert "THESET_CONFIG" in info.value.problems[0].message


def test_resolve_path_order() -> None:
    assert config.resolve_path("a.toml", {"THESET_CONFIG": "b.toml"}) == Path("a.toml")
    assert config.resolve_path(None, {"THESET_CONFIG": "b.toml"}) == Path("b.toml")
    assert config.resolve_path(None, {}) == Path("config.toml")


DIFFS = [
    ("[log]\nlevel = 'debug'", ("log.level",), ()),
    (
        "[jobs.calculate-trending]\nschedule = '*/5 * * * *'",
        ("jobs.calculate-trending.schedule",),
        (),
    ),
    ("[upstream.spotify]\nmax_rate_per_s = 3", ("upstream.spotify.max_rate_per_s",), ()),
    ("[auth]\ncron_secret = 'new'", ("auth.cron_secret",), ()),
    ("[cache.ttl_s]\nartist = 60", ("cache.ttl_s.artist",), ()),
    ("[monitoring]\nslow_run_s = 10", ("monitoring.slow_run_s",), ()),
    ("[server]\nport = 9999", (), ("server.port",)),
    ("[server]\nhost = '0.0.0.0'", (), ("server.host",)),
    ("[database]\nurl = 'postgresql://h/d'", (), ("database.url",)),
    ("[database]\npool_max_size = 50", (), ("database.pool_max_size",)),
    (
        "[server]\nport = 1\ncors_origins = ['https://a.b']",
        ("server.cors_origins",),
        ("server.port",),
    ),
    ("", (), ()),
]


@pytest.mark.parametrize(("text", "reloadable", "restart"), DIFFS)
def test_diff_splits_reloadable_from_restart_required(
    text: str, reloadable: tuple[str, ...], restart: tuple[str, ...]
) -> None:
    changes = config.diff(Settings(), parse(text))
    assert changes.reloadable == reloadable
    assert changes.restart_required == restart
    assert bool(changes) == bool(reloadable or restart)


def test_apply_reload_keeps_restart_only_values_and_applies_the_rest() -> None:
    old = parse('[server]\nport = 8080\n[database]\nurl = "postgresql://h/old"')
    new = parse(
        '[server]\nport = 9090\n[database]\nurl = "postgresql://h/new"\n[log]\nlevel = "debug"'
    )
    in_force, changes = config.apply_reload(old, new)
    assert changes.restart_required == ("database.url", "server.port")
    assert in_force.server.port == 8080
    assert in_force.database.url.get_secret_value() == "postgresql://h/old"
    assert in_force.log.level == "debug"
    assert config.diff(old, in_force).restart_required == ()


def test_sunday_is_0_or_7_as_in_cron() -> None:
    settings = config.parse('[jobs.complete-catalog-sync]\nschedule = "0 3 * * 7"', {})
    assert settings.jobs.complete_catalog_sync.schedule == "0 3 * * 7"
