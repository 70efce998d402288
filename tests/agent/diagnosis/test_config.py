"""Settings precedence: defaults ← TOML ← RME_DIAGNOSIS_* ← flags; bad values are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.diagnosis.config import (
    DEFAULT_CHECK_URL,
    DEFAULT_REFERENCE_DNS,
    ConfigError,
    load_settings,
    split_host_port,
)


def test_defaults_target_chinese_home_broadband() -> None:
    settings = load_settings(environ={})
    assert settings.check_url == DEFAULT_CHECK_URL
    assert settings.reference_dns == DEFAULT_REFERENCE_DNS == ("223.5.5.5", "119.29.29.29")
    assert settings.tcp_targets() == (("223.5.5.5", 53), ("119.29.29.29", 53))


def test_each_layer_overrides_the_one_before(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        '[diagnosis]\ncheck_url = "http://file/"\nreference_dns = ["1.1.1.1"]\ndns_timeout_s = 2\n'
        "[other]\nx = 1\n"
    )
    env = {"RME_DIAGNOSIS_REFERENCE_DNS": "9.9.9.9, 8.8.8.8", "RME_DIAGNOSIS_DNS_SLOW_MS": "250"}
    settings = load_settings(config, env, {"check_url": "http://flag/", "probe_tcp": None})
    assert settings.check_url == "http://flag/"
    assert settings.reference_dns == ("9.9.9.9", "8.8.8.8")
    assert (settings.dns_timeout_s, settings.dns_slow_ms) == (2.0, 250.0)


def test_rme_config_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('[diagnosis]\nknown_names = ["a.example", "b.example"]\n')
    assert load_settings(environ={"RME_CONFIG": str(config)}).known_names == ("a.example", "b.example")


def test_probe_tcp_replaces_the_default_targets() -> None:
    settings = load_settings(environ={}, overrides={"probe_tcp": ("1.2.3.4:443", "[2001:db8::1]:80")})
    assert settings.tcp_targets() == (("1.2.3.4", 443), ("2001:db8::1", 80))


@pytest.mark.parametrize(
    "overrides",
    [
        {"reference_dns": ("not-an-ip",)},
        {"probe_tcp": ("example.com:80",)},
        {"probe_tcp": ("1.2.3.4",)},
        {"probe_tcp": ("1.2.3.4:70000",)},
        {"check_url": "https://tls.example/"},
        {"dns_timeout_s": 0},
        {"unknown": 1},
    ],
)
def test_bad_values_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        load_settings(environ={}, overrides=overrides)


def test_unreadable_or_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_settings(tmp_path / "missing.toml", environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("[diagnosis\n")
    with pytest.raises(ConfigError):
        load_settings(bad, environ={})
    not_table = tmp_path / "not_table.toml"
    not_table.write_text("diagnosis = 3\n")
    with pytest.raises(ConfigError):
        load_settings(not_table, environ={})


def test_split_host_port() -> None:
    assert split_host_port("10.0.0.1:53") == ("10.0.0.1", 53)
    with pytest.raises(ValueError, match="HOST:PORT"):
        split_host_port("10.0.0.1")
