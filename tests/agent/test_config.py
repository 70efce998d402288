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


def test_the_file_read_is_recorded_and_handed_on(tmp_path: Path) -> None:
    """`config_file` names the file the search found, so the diagnosis and repairs read the same one."""
    from agent.diagnosis.config import load_settings
    from agent.repairs.config import load_context

    data = tmp_path / "data"
    data.mkdir()
    (data / "agent.toml").write_text('[diagnosis]\ninterface = "from-data-dir"\n')
    other = tmp_path / "other.toml"
    other.write_text('config_file = "/etc/passwd"\n[diagnosis]\ninterface = "from-flag"\n')
    env = {"RME_CONFIG_FILE": "/etc/shadow"}  # neither the file nor the environment may set it
    by_dir = load_config(environ=env, overrides={"data_dir": data})
    assert by_dir.config_file == data / "agent.toml"
    by_flag = load_config(other, environ=env, overrides={"data_dir": data})
    assert by_flag.config_file == other
    assert load_config(environ={}, overrides={"data_dir": tmp_path / "none"}).config_file is None
    for config, interface in ((by_dir, "from-data-dir"), (by_flag, "from-flag")):
        settings = load_settings(config.config_file, environ={}, data_dir=config.data_dir)
        assert settings.interface == interface
    # The data directory alone finds its agent.toml, and repairs keep their state in it by default.
    assert load_settings(environ={}, data_dir=data).interface == "from-data-dir"
    assert load_context(environ={}, data_dir=data).state_dir == data / "repairs"
