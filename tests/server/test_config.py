from pathlib import Path

import pytest

from server.config import ConfigError, load_config


def test_defaults_then_file_then_env_then_flags(tmp_path: Path) -> None:
    file = tmp_path / "rme.toml"
    file.write_text('port = 9000\nhost = "0.0.0.0"\nallowed_origins = ["https://console.example"]\n')
    env = {"RME_PORT": "9100", "RME_LOGIN_MAX_FAILURES": "3", "RME_TLS_NAMES": "rme.example, 10.0.0.5"}
    config = load_config(file, env=env, overrides={"port": 9200, "data_dir": None})
    assert config.host == "0.0.0.0"  # file
    assert config.port == 9200  # flag beats env beats file
    assert config.login_max_failures == 3  # env, parsed to int
    assert config.tls_names == ("rme.example", "10.0.0.5")
    assert config.origins == frozenset({"https://console.example"})
    assert config.data_dir == Path("rme-data")  # a None flag means "not given"


def test_config_file_from_environment(tmp_path: Path) -> None:
    file = tmp_path / "other.toml"
    file.write_text('database_url = "postgresql+asyncpg://db/rme"\n')
    config = load_config(env={"RME_CONFIG": str(file)})
    assert config.effective_database_url == "postgresql+asyncpg://db/rme"


def test_default_database_is_sqlite_under_data_dir(tmp_path: Path) -> None:
    config = load_config(env={"RME_DATA_DIR": str(tmp_path)})
    assert config.effective_database_url == f"sqlite+aiosqlite:///{tmp_path.resolve() / 'rme.db'}"
    assert config.origins == frozenset({"https://127.0.0.1:8443", "https://localhost:8443"})


@pytest.mark.parametrize(
    ("text", "env"),
    [
        ("prot = 1\n", {}),  # a typo is an error, not silently ignored
        ("", {"RME_PORT": "eighty"}),
        ("port = [\n", {}),  # not TOML
        ("", {"RME_LOG_LEVEL": "loud"}),
    ],
)
def test_bad_configuration_is_refused(tmp_path: Path, text: str, env: dict[str, str]) -> None:
    file = tmp_path / "rme.toml"
    file.write_text(text)
    with pytest.raises(ConfigError):
        load_config(file, env=env)


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml", env={})


def test_node_intervals_from_env_and_checked() -> None:
    config = load_config(env={"RME_NODE_HEARTBEAT": "0.5", "RME_NODE_DEAD_AFTER": "2"})
    assert (config.node_heartbeat, config.node_dead_after) == (0.5, 2.0)
    defaults = load_config(env={})
    assert (defaults.node_heartbeat, defaults.node_dead_after) == (10.0, 30.0)
    # A node must be allowed to miss more than two beats before it is taken for dead.
    for env in ({"RME_NODE_DEAD_AFTER": "20"}, {"RME_NODE_HEARTBEAT": "0"}, {"RME_NODE_DEAD_AFTER": "-1"}):
        with pytest.raises(ConfigError):
            load_config(env=env)
