"""Diagnosis settings for every agent a test starts: nothing it probes is beyond loopback.

A real diagnosis probes the default route's gateway, the system's resolvers, public reference resolvers and
a public connectivity-check URL. Test agents diagnose the loopback adapter instead (it has no default
route, so the diagnosis judges the local layers and sends no active probe at all), and every address the
settings name is a loopback one that cannot answer: reference DNS 127.0.0.1 (nothing listens on port 53),
and the TCP probe and check URL on a port this module holds bound without listening, so a connection is
refused at once and no other process can take the port. The suite-wide packet guard (`tests/conftest.py`)
checks that this holds.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

# Bound for the whole run, never listening: connecting to it is refused immediately.
_HOLD = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
_HOLD.bind(("127.0.0.1", 0))
CLOSED_PORT: int = _HOLD.getsockname()[1]

LOCAL_DIAGNOSIS: dict[str, str | tuple[str, ...]] = {
    "interface": "lo",
    "reference_dns": ("127.0.0.1",),
    "probe_tcp": (f"127.0.0.1:{CLOSED_PORT}",),
    "check_url": f"http://127.0.0.1:{CLOSED_PORT}/connecttest.txt",
    "known_names": ("rme.test",),
}


def local_diagnosis_env() -> dict[str, str]:
    """The settings as `RME_DIAGNOSIS_*` variables, for agents started as processes."""
    return {
        f"RME_DIAGNOSIS_{name.upper()}": value if isinstance(value, str) else ",".join(value)
        for name, value in LOCAL_DIAGNOSIS.items()
    }


def write_local_diagnosis(path: Path) -> Path:
    """The settings as an agent TOML file's `[diagnosis]` table, for agents run in-process."""
    # JSON strings and arrays of plain ASCII are valid TOML.
    lines = ["[diagnosis]"]
    lines += [
        f"{name} = {json.dumps(v if isinstance(v, str) else list(v))}" for name, v in LOCAL_DIAGNOSIS.items()
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# Headless Chromium for the panel and console tests. Even with background networking off it looks names
# up through the system's resolver (55 queries in 15 s on one local page, caught by the packet guard):
# every name but the loopback ones is answered "not found" inside the browser, so none is ever sent.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost , EXCLUDE 127.0.0.1",
]
