"""The user's copy of the server's audit proof for each session (see docs/audit.md, "Evidence")."""

from agent.evidence.store import evidence_files, keep_evidence, pinned_key, recheck
from agent.evidence.verify import EvidenceReport, verify_evidence

__all__ = ["EvidenceReport", "evidence_files", "keep_evidence", "pinned_key", "recheck", "verify_evidence"]
