"""Where the audit signing key lives: the environment, a file anywhere, or (default) the data directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from server.audit import NoteSigner
from server.audit.cosign import CosignerKey
from server.audit.setup import open_audit_log
from server.config import ConfigError, load_config

NAME = "rme-audit"


def test_the_key_can_come_from_the_environment(tmp_path: Path, engine: AsyncEngine) -> None:
    signer = NoteSigner.generate(NAME)
    env = {"RME_DATA_DIR": str(tmp_path / "data"), "RME_AUDIT_SIGNING_KEY": signer.to_text()}
    config = load_config(env=env)
    assert signer.to_text() not in repr(config)  # a secret: never printed with the config
    audit = open_audit_log(engine, config, NAME)
    assert audit.verifier_key == str(signer.verifier)
    assert not (tmp_path / "data").exists()  # nothing written next to the database


def test_the_key_file_can_live_outside_the_data_directory(tmp_path: Path, engine: AsyncEngine) -> None:
    key_file = tmp_path / "secrets" / "audit.key"
    env = {"RME_DATA_DIR": str(tmp_path / "data"), "RME_AUDIT_SIGNING_KEY_FILE": str(key_file)}
    first = open_audit_log(engine, load_config(env=env), NAME)
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert open_audit_log(engine, load_config(env=env), NAME).verifier_key == first.verifier_key
    assert not (tmp_path / "data" / "audit-signing.key").exists()


def test_a_bad_key_or_half_a_witness_is_a_clear_config_error(tmp_path: Path, engine: AsyncEngine) -> None:
    with pytest.raises(ConfigError, match="audit signing key"):
        open_audit_log(engine, load_config(env={"RME_AUDIT_SIGNING_KEY": "PRIVATE+KEY+x"}), NAME)
    base = {"RME_DATA_DIR": str(tmp_path)}
    with pytest.raises(ConfigError, match="audit_witness_key"):
        open_audit_log(engine, load_config(env={**base, "RME_AUDIT_WITNESS_URL": "http://127.0.0.1:1"}), NAME)
    witness = str(CosignerKey.generate("w1").verifier)
    audit = open_audit_log(
        engine,
        load_config(
            env={**base, "RME_AUDIT_WITNESS_URL": "http://127.0.0.1:1", "RME_AUDIT_WITNESS_KEY": witness}
        ),
        NAME,
    )
    assert audit.witness is not None and str(audit.witness.key) == witness
