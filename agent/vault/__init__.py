"""The privacy vault: chosen folders encrypted and hidden, closed for every engineer session.

Public API (what the CLI, the panel and the session machinery use):
    Vault(data_dir, lang)           init · add · close · open · remove · passwd · status · recover
                                    begin_session · end_session · session_active
                                    vault_paths · request_touches_vault
    VaultError and its subclasses   every failure, each with a zh-CN/en message
See docs/vault.md for the design.
"""

from agent.vault.errors import (
    Damaged,
    FolderBusy,
    FolderRefused,
    MetadataDamaged,
    MetadataTampered,
    NotInitialized,
    SessionActive,
    UnknownFolder,
    VaultError,
    WrongPassphrase,
)
from agent.vault.vault import FolderStatus, OpenResult, Vault, VaultStatus

__all__ = [
    "Damaged",
    "FolderBusy",
    "FolderRefused",
    "FolderStatus",
    "MetadataDamaged",
    "MetadataTampered",
    "NotInitialized",
    "OpenResult",
    "SessionActive",
    "UnknownFolder",
    "Vault",
    "VaultError",
    "VaultStatus",
    "WrongPassphrase",
]
