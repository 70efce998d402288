"""The local control channel, client side: `rme-agent end|panel|help` talking to a running agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import psutil

from agent.panel.info import PanelInfo, read_panel_info


class NoAgent(Exception):
    """No agent is running for this data directory."""


def running_agent(data_dir: Path) -> PanelInfo:
    info = read_panel_info(data_dir)
    if info is None or not psutil.pid_exists(info.pid):
        raise NoAgent(str(data_dir))
    return info


def call(
    data_dir: Path, path: str, body: dict[str, Any] | None = None, timeout: float = 10.0
) -> dict[str, Any]:
    """POST to the running agent's panel as the CLI (bearer secret); raises NoAgent or httpx errors."""
    info = running_agent(data_dir)
    headers = {"Authorization": f"Bearer {info.secret}", "Host": f"127.0.0.1:{info.port}"}
    with httpx.Client(base_url=info.base, timeout=timeout, trust_env=False) as client:
        response = client.post(path, json=body or {}, headers=headers)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result
