"""The agent's settings: defaults ← TOML file ← `RME_*` environment ← command-line flags.

Each field `name` is `name = ...` at the top level of the TOML file (`--config`, else `$RME_CONFIG`, else
`agent.toml` in the data directory) or `RME_NAME` in the environment. The `[diagnosis]` table belongs to
`agent.diagnosis.config` and `[repairs]` to `agent.repairs.config`: `AgentConfig.config_file` names the file
this search found, and every part that reads a table is handed it with the data directory, so a
`--config` or `--data-dir` flag reaches them all. Every agent command takes `--server URL` and
`--data-dir DIR` (`agent.commands._common`), so many agents can run side by side on one machine (tests,
load benchmarks).
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

ENV_PREFIX = "RME_"
CONFIG_FILE = "agent.toml"
# Names that are not agent settings although they share the prefix (other parts' variables).
_NOT_OURS = frozenset({"config", "config_file"})


class ConfigError(ValueError):
    """A setting from a file, the environment or a flag is not valid."""


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The per-user application data folder of this OS (`RME_DATA_DIR` wins)."""
    env = os.environ if environ is None else environ
    if env.get("RME_DATA_DIR"):
        return Path(env["RME_DATA_DIR"])
    if sys.platform == "win32":
        return Path(env.get("LOCALAPPDATA", str(Path.home() / "AppData" / "Local"))) / "RME"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "RME"
    return Path(env.get("XDG_DATA_HOME", str(Path.home() / ".local" / "share"))) / "rme"


def default_inbox() -> Path:
    """A "RME Inbox" folder in the user's Downloads."""
    return Path.home() / "Downloads" / "RME Inbox"


class AgentConfig(BaseModel):
    """Everything a user or an operator can set. Durations are seconds, sizes bytes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    server: str | None = None  # wss://host:port — the server the agent dials
    data_dir: Path = Field(default_factory=default_data_dir)
    ca: Path | None = None  # the operator's CA (PEM); default: `ca.pem` in the data directory
    inbox: Path | None = None  # where pushed files land; default: ~/Downloads/RME Inbox
    lang: Literal["zh-CN", "en"] | None = None
    device_name: str | None = None
    consent_timeout: int = Field(default=60, ge=1, le=3600)
    max_push_size: int = Field(default=2 << 30, ge=0)
    # Free space the disk must keep after a push lands (a full disk breaks the user's PC, not just us).
    inbox_reserve: int = Field(default=64 << 20, ge=0)
    # A consented push that stops sending for this long is abandoned (its partial file deleted).
    push_idle_timeout: float = Field(default=60.0, gt=0, le=3600)
    panel_port: int = Field(default=0, ge=0, le=65535)  # 0: any free port
    open_browser: bool = True
    reconnect_min: float = Field(default=0.5, gt=0)
    reconnect_max: float = Field(default=30.0, gt=0)
    connect_timeout: float = Field(default=10.0, gt=0)
    # The rescue live system (`rme-agent rescue boot`): the disk actions (inventory, data rescue) exist.
    rescue: bool = False
    # The TOML file the settings came from (found by `load_config`, never set in it): the diagnosis and
    # repairs read their tables from the same file.
    config_file: Path | None = None

    @property
    def ca_path(self) -> Path:
        return self.ca if self.ca is not None else self.data_dir / "ca.pem"

    @property
    def inbox_dir(self) -> Path:
        return self.inbox if self.inbox is not None else default_inbox()


_BOOL_FIELDS = frozenset({"open_browser"})


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name in AgentConfig.model_fields:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is None or name in _NOT_OURS:
            continue
        values[name] = raw.strip().lower() in {"1", "true", "yes", "on"} if name in _BOOL_FIELDS else raw
    return values


def _from_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    # Tables belong to other parts (`[diagnosis]`); only top-level values are ours.
    return {k: v for k, v in document.items() if not isinstance(v, dict) and k not in _NOT_OURS}


def load_config(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> AgentConfig:
    """Defaults ← TOML ← `RME_*` ← `overrides` (flags; None values are ignored)."""
    env = os.environ if environ is None else environ
    flags = {k: v for k, v in (overrides or {}).items() if v is not None}
    values: dict[str, Any] = {}
    env_values = _from_env(env)
    data_dir = Path(flags.get("data_dir") or env_values.get("data_dir") or default_data_dir(env))
    if path is None and env.get("RME_CONFIG"):
        path = Path(env["RME_CONFIG"])
    if path is None and (data_dir / CONFIG_FILE).is_file():
        path = data_dir / CONFIG_FILE
    if path is not None:
        values.update(_from_file(path))
    values.update(env_values)
    values.update(flags)
    values["config_file"] = path
    try:
        return AgentConfig.model_validate(values)
    except ValidationError as exc:
        raise ConfigError(str(exc)) from exc
