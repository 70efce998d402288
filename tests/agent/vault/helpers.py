"""Trees to protect, byte-exact snapshots of them, and the real vault CLI as a subprocess."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from agent.vault import Vault

ROOT = Path(__file__).resolve().parents[3]
PASSPHRASE = "correct horse battery 电池"
MARKER = b"RME-PLAINTEXT-MARKER"
FAST_KDF = {"memory_kib": 8 * 1024, "iterations": 1}


def fast_vault(data_dir: Path) -> Vault:
    vault = Vault(data_dir)
    vault.init(PASSPHRASE, **FAST_KDF)
    return vault


def make_tree(root: Path, big: int = 9 * 1024 * 1024 + 7, outside: Path | None = None) -> None:
    """Nested dirs, Unicode names, an empty file, a multi-chunk file, links in and out of the tree.

    Every regular file starts with MARKER so leftover plaintext can be found by scanning bytes.
    """
    (root / "docs" / "深层" / "更深").mkdir(parents=True)
    (root / "空目录").mkdir()
    (root / "notes.txt").write_bytes(MARKER + b" shopping list\n")
    (root / "empty").write_bytes(b"")
    (root / "docs" / "Ünïcödé naïve café.txt").write_bytes(MARKER + "Grüße 🌏".encode())
    (root / "docs" / "深层" / "日记.md").write_bytes(MARKER + "今天很好\n".encode() * 100)
    (root / "docs" / "深层" / "更深" / "photo.raw").write_bytes(MARKER + os.urandom(300_000))
    (root / "docs" / "mode600").write_bytes(MARKER + b"secret")
    (root / "docs" / "mode600").chmod(0o600)
    data = bytearray(os.urandom(big))
    data[: len(MARKER)] = MARKER
    (root / "big.bin").write_bytes(bytes(data))
    (root / "link-inside").symlink_to("docs/深层/日记.md")
    if outside is not None:
        (root / "link-outside").symlink_to(outside)


def snapshot(root: Path) -> dict[str, tuple[str, str, int]]:
    """Every entry under root, links not followed: kind, SHA-256 or link target, mode."""
    found: dict[str, tuple[str, str, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = path.relative_to(root).as_posix()
            st = path.lstat()
            if path.is_symlink():
                found[rel] = ("link", os.readlink(path), 0)
            elif path.is_dir():
                found[rel] = ("dir", "", 0)
            else:
                found[rel] = ("file", hashlib.sha256(path.read_bytes()).hexdigest(), st.st_mode & 0o777)
    return found


def files_with_marker(root: Path) -> list[Path]:
    """Regular files under root whose bytes contain MARKER (plaintext left behind)."""
    hits = []
    for dirpath, _dirs, filenames in os.walk(root, followlinks=False):
        for name in filenames:
            path = Path(dirpath) / name
            if not path.is_symlink() and path.is_file() and MARKER in path.read_bytes():
                hits.append(path)
    return hits


def vault_cli(
    *args: str | Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """The real `rme-agent vault …` command, as its own process (`python -m agent.cli vault`)."""
    inherited = {k: v for k, v in os.environ.items() if k != "RME_VAULT_CRASH_AT"}
    full_env = {**inherited, "RME_LANG": "en", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", "vault", *map(str, args)],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
