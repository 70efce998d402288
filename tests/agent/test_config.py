"""Agent settings: defaults ← TOML ← RME_* ← flags."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import ConfigError, load_config


def test_precedence(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "agent.toml").write_text('server = "wss://file:1"\nconsent_timeout = 30\n[diagnosis]\nx = 1\n')
    env = {"RME_DATA_DIR": str(data), "RME_CONSENT_TIMEOUT": "20", "RME_OPEN_BROWSER": "0"}
    config = load_config(environ=env)
    assert config.server == "wss://file:1" and config.consent_timeout == 20 and not config.open_browser
    flagged = load_config(environ=env, overrides={"server": "wss://flag:2", "lang": None})
    assert flagged.server == "wss://flag:2" and flagged.ca_path == data / "ca.pem"


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load_config(environ={"RME_DATA_DIR": str(tmp_path), "RME_CONSENT_TIMEOUT": "0"})
    bad = tmp_path / "bad.toml"
    bad.write_text("nonsense = [")
    with pytest.raises(ConfigError):
        load_config(bad, environ={})
    typo = tmp_path / "typo.toml"
    typo.write_text("consent_timout = 5\n")
    with pytest.raises(ConfigError):
        load_config(typo, environ={})
