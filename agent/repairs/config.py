"""Repair settings from the agent's TOML config (`[repairs]` table) and `RME_REPAIRS_*` variables:
`state_dir`, `dhcp_client` (auto | dhclient | networkctl | nmcli), `dhclient_script`, `timeout_s`.

`state_dir` defaults to `repairs` in the agent's data directory when one is given."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from agent.diagnosis.config import ConfigError, config_file, read_table
from agent.repairs.models import RepairContext

_FIELDS = ("state_dir", "dhcp_client", "dhclient_script", "timeout_s")


def load_context(
    config_path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    data_dir: Path | None = None,
    **overrides: Any,
) -> RepairContext:
    env = os.environ if environ is None else environ
    config_path = config_file(config_path, env, data_dir)
    merged: dict[str, Any] = {} if data_dir is None else {"state_dir": data_dir / "repairs"}
    if config_path is not None:
        merged.update(read_table(config_path, "repairs"))
    merged.update({f: env[f"RME_REPAIRS_{f.upper()}"] for f in _FIELDS if f"RME_REPAIRS_{f.upper()}" in env})
    merged.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return RepairContext.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(str(exc)) from exc
