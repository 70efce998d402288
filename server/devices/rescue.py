"""Rescue devices: enrolled by the rescue system (`rme-agent rescue boot`), which names itself
"[rescue] <host name>" at enrollment (agent/rescue/boot.py). The flag is the device's own report, as its
name and OS are; it grants nothing — the rescue action kinds are gated on the agent's side."""

from __future__ import annotations

RESCUE_PREFIX = "[rescue] "


def is_rescue_device(name: str) -> bool:
    return name.startswith(RESCUE_PREFIX)
