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
    return _request(data_dir, "POST", path, body or {}, timeout)


def get(data_dir: Path, path: str, timeout: float = 10.0) -> dict[str, Any]:
    """GET from the running agent's panel as the CLI (e.g. `/api/vault`: is a session on?)."""
    return _request(data_dir, "GET", path, None, timeout)


def _request(
    data_dir: Path, method: str, path: str, body: dict[str, Any] | None, timeout: float
) -> dict[str, Any]:
    info = running_agent(data_dir)
    headers = {"Authorization": f"Bearer {info.secret}", "Host": f"127.0.0.1:{info.port}"}
    with httpx.Client(base_url=info.base, timeout=timeout, trust_env=False) as client:
        response = client.request(method, path, json=body, headers=headers)
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result
