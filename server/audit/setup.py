"""Build the server's `AuditLog` from its configuration: where the signing key is, which witness.

The signing key is looked up in this order: the key text in `audit_signing_key`
(`RME_AUDIT_SIGNING_KEY`), the file `audit_signing_key_file` (created there, 0600, if missing),
else `<data dir>/audit-signing.key`. docs/audit.md says why the first two are better.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from server.audit.cosign import WitnessVerifier
from server.audit.log import AuditLog
from server.audit.note import NoteError, NoteSigner
from server.audit.witness_client import WitnessClient
from server.config import ConfigError, ServerConfig

__all__ = ["load_signer", "open_audit_log", "witness_key"]


def load_signer(config: ServerConfig, name: str) -> NoteSigner:
    try:
        if config.audit_signing_key is not None:
            return NoteSigner.parse(config.audit_signing_key.get_secret_value())
        if config.audit_signing_key_file is not None:
            return NoteSigner.load_or_create_file(config.audit_signing_key_file, name)
        return NoteSigner.load_or_create(config.data_dir, name)
    except (NoteError, OSError) as exc:
        raise ConfigError(f"audit signing key: {exc}") from exc


def witness_key(config: ServerConfig) -> WitnessVerifier | None:
    if config.audit_witness_key is None:
        return None
    try:
        return WitnessVerifier.parse(config.audit_witness_key)
    except NoteError as exc:
        raise ConfigError(f"audit_witness_key: {exc}") from exc


def open_audit_log(engine: AsyncEngine, config: ServerConfig, name: str) -> AuditLog:
    """The audit log over `engine`, signing as `config` says and submitting to its witness."""
    audit = AuditLog(engine, load_signer(config, name))
    key = witness_key(config)
    if config.audit_witness_url and key is None:
        raise ConfigError("audit_witness_url is set but audit_witness_key (the witness's key) is not")
    if key is not None:
        if not config.audit_witness_url:
            raise ConfigError("audit_witness_key is set but audit_witness_url is not")
        audit.witness = WitnessClient(config.audit_witness_url, key)
    return audit
