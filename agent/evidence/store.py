"""The user's own copy of the audit evidence: one file per session end, in the agent's data folder.

`<data dir>/evidence/` (0700) holds `<session>-<size>.json` (0600): what the server sent
(`audit.evidence`), when it came, and the result of checking it on arrival. The first log key the
agent sees is pinned in `log-key.txt`; evidence signed by another key is still kept, checked against
the pinned key (so it shows as not verified) and flagged `key_changed`, because a server that
changes its audit key could be presenting a different history.
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

from agent.evidence.verify import EvidenceReport, verify_evidence

__all__ = ["EVIDENCE_DIR", "evidence_files", "keep_evidence", "pinned_key", "recheck"]

EVIDENCE_DIR = "evidence"
PIN_FILE = "log-key.txt"


def _folder(data_dir: Path) -> Path:
    folder = data_dir / EVIDENCE_DIR
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    folder.chmod(0o700)  # an existing folder made with a looser mode is repaired
    return folder


def _write_private(path: Path, text: str) -> None:
    temp = path.with_name(path.name + ".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    temp.replace(path)


def pinned_key(data_dir: Path) -> str | None:
    path = data_dir / EVIDENCE_DIR / PIN_FILE
    return path.read_text(encoding="ascii").strip() if path.is_file() else None


def _report_json(report: EvidenceReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "origin": report.origin,
        "size": report.size,
        "index": report.index,
        "kind": report.kind,
        "log_key": report.log_key,
        "witnesses": report.witnesses,
        "problems": report.problems,
    }


def keep_evidence(data_dir: Path, session: str | None, body: dict[str, Any]) -> Path | None:
    """Check and store one `audit.evidence` body; returns the file, or None if it could not be written.

    Never raises: losing the evidence must not disturb the agent."""
    try:
        folder = _folder(data_dir)
        offered = str(body.get("log_key", ""))
        pinned = pinned_key(data_dir)
        if pinned is None and offered:
            _write_private(folder / PIN_FILE, offered + "\n")
            pinned = offered
        key = pinned or offered
        report = verify_evidence(body, key, [str(k) for k in body.get("witness_keys", [])])
        document = {
            "format": "rme-audit-evidence/1",
            "session": session,
            "received": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "key_changed": bool(pinned and offered and offered != pinned),
            "evidence": body,
            "checked_on_arrival": _report_json(report),
        }
        name = re.sub(r"[^A-Za-z0-9_-]", "_", session or "none")[:64]
        path = folder / f"{name}-{report.size or 0}.json"
        _write_private(path, json.dumps(document, ensure_ascii=False, indent=1) + "\n")
        return path
    except (OSError, ValueError, TypeError):
        return None


def evidence_files(data_dir: Path) -> list[Path]:
    folder = data_dir / EVIDENCE_DIR
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def recheck(path: Path, key: str | None = None) -> tuple[dict[str, Any], EvidenceReport]:
    """Check a kept file again, offline, against `key` (default: the pinned key)."""
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    body = document["evidence"]
    trusted = key or pinned_key(path.parent.parent) or str(body.get("log_key", ""))
    return document, verify_evidence(body, trusted, [str(k) for k in body.get("witness_keys", [])])
