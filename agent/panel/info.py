"""`panel.json`: how local commands find the running agent's panel (port, pid, per-launch secret).

Kept apart from the panel's server so that `rme-agent end|panel|help` read it without importing the
web stack (uvicorn, starlette): a command beside a running agent starts in a fraction of the time.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

PANEL_FILE = "panel.json"


@dataclass(frozen=True)
class PanelInfo:
    port: int
    pid: int
    secret: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def read_panel_info(data_dir: Path) -> PanelInfo | None:
    try:
        doc = json.loads((data_dir / PANEL_FILE).read_text("utf-8"))
        return PanelInfo(int(doc["port"]), int(doc["pid"]), str(doc["secret"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_panel_info(path: Path, info: PanelInfo) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_suffix(".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump({"port": info.port, "pid": info.pid, "secret": info.secret}, handle)
    temp.replace(path)
