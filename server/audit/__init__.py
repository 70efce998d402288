"""Tamper-evident audit log: RFC 9162 Merkle tree over RFC 8785 JSON, C2SP signed checkpoints.

The server calls `AuditLog` (append / checkpoint / proofs / export_session); auditors call
`verify_export` on an export file, offline. See docs/audit.md.
"""

from server.audit.events import (
    AuditEntry,
    AuditError,
    AuditIntegrityError,
    AuditRecord,
    AuditWriteError,
    InvalidAuditEvent,
)
from server.audit.export import ExportedEvent, SessionAuditExport, VerificationReport, verify_export
from server.audit.jcs import JsonValue
from server.audit.log import AuditLog
from server.audit.note import Checkpoint, NoteSigner, NoteVerifier, SignedCheckpoint
from server.audit.verify_log import LogVerificationReport

__all__ = [
    "AuditEntry",
    "AuditError",
    "AuditIntegrityError",
    "AuditLog",
    "AuditRecord",
    "AuditWriteError",
    "Checkpoint",
    "ExportedEvent",
    "InvalidAuditEvent",
    "JsonValue",
    "LogVerificationReport",
    "NoteSigner",
    "NoteVerifier",
    "SessionAuditExport",
    "SignedCheckpoint",
    "VerificationReport",
    "verify_export",
]
