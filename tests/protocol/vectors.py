"""Load `protocol/vectors/*.json` and materialise generated frames (shared by the protocol tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS = Path(__file__).resolve().parents[2] / "protocol" / "vectors"


def load(name: str) -> Any:
    return json.loads((VECTORS / name).read_text(encoding="utf-8"))


def frame_of(case: dict[str, Any]) -> str | bytes:
    """The frame a vector describes: text as str, binary (or raw text bytes) as bytes."""
    if "frame" in case:
        return str(case["frame"])
    if "frame_hex" in case:
        return bytes.fromhex(case["frame_hex"])
    gen = case["generate"]
    if "repeat" in gen:
        return str(gen["repeat"] * gen["times"] + gen["then_repeat"] * gen["times"])
    if "chat_text_length" in gen:
        text = "x" * gen["chat_text_length"]
        return json.dumps(
            {"v": 1, "id": "m", "session": None, "ts": 1, "type": "chat", "body": {"text": text}}
        )
    return bytes.fromhex(gen["chunk_header_hex"]) + bytes(gen["payload_length"])
