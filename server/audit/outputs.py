"""Command outputs in a session export: the texts the output store still keeps, attached beside the
signed events (which hold only each output's SHA-256 and size), and checked against them.

An export made within the retention period (`output_retention_days`) carries each retained text; the
verifier hashes it and compares with the `output_sha256`/`output_size` of the `action.result` event
that carried it — an event whose inclusion in the signed log is proven. So the export still proves
what the engineer saw, while the append-only log never holds the text itself. Pure: no database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class ExportedOutput:
    """One retained command output: the result message that carried it, and its text."""

    message_id: str
    action_id: str
    sha256: str
    size: int
    text: str

    def document(self) -> dict[str, Any]:
        return {
            "message": self.message_id,
            "action": self.action_id,
            "sha256": self.sha256,
            "size": self.size,
            "text": self.text,
        }

    @classmethod
    def from_document(cls, item: Mapping[str, Any]) -> ExportedOutput:
        """From an export's `outputs` entry; TypeError/KeyError on a malformed one."""
        fields = (item["message"], item["action"], item["sha256"], item["text"])
        size = item["size"]
        if not all(isinstance(f, str) for f in fields) or isinstance(size, bool) or not isinstance(size, int):
            raise TypeError(f"malformed output entry {dict(item)!r:.200}")
        return cls(item["message"], item["action"], item["sha256"], size, item["text"])


def check_outputs(leaves: Iterable[str], outputs: Iterable[ExportedOutput]) -> list[str]:
    """Problems with the attached outputs: each must hash to what its `action.result` event recorded.
    `leaves` are the export's (already verified) canonical event texts."""
    recorded: dict[str, tuple[object, object]] = {}
    for leaf in leaves:
        try:
            event = json.loads(leaf)
        except ValueError:
            continue  # reported by the event checks
        if not isinstance(event, dict) or event.get("kind") != "action.result":
            continue
        data = event.get("data")
        outcome = data.get("outcome") if isinstance(data, dict) else None
        if isinstance(data, dict) and isinstance(outcome, dict) and "output_sha256" in outcome:
            recorded[str(data.get("message"))] = (outcome.get("output_sha256"), outcome.get("output_size"))
    problems = []
    for output in outputs:
        raw = output.text.encode("utf-8")
        digest = hashlib.sha256(raw).hexdigest()
        where = f"output of result {output.message_id}"
        if output.message_id not in recorded:
            problems.append(f"{where}: no action.result event in this export records it")
        elif recorded[output.message_id] != (digest, len(raw)):
            problems.append(f"{where}: its text does not match the SHA-256 and size in the signed log")
        elif (output.sha256, output.size) != (digest, len(raw)):
            problems.append(f"{where}: the export's own hash of it is wrong")
    return problems


__all__ = ["ExportedOutput", "check_outputs"]
