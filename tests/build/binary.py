"""Builds the single-file `rme-agent` with PyInstaller, once per source state: the binary is cached in
build/dist with a hash of everything that goes into it, so an unchanged tree is not rebuilt."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "build" / "dist"
BINARY = DIST / "rme-agent"
STAMP = DIST / "rme-agent.sources.sha256"
SPEC = ROOT / "build" / "rme-agent.spec"


def sources_hash() -> str:
    digest = hashlib.sha256()
    files = sorted(
        [
            *ROOT.glob("agent/**/*.py"),
            *ROOT.glob("protocol/**/*.py"),
            *ROOT.glob("protocol/**/*.json"),
            SPEC,
            ROOT / "build" / "entry.py",
            ROOT / "requirements.lock",
        ]
    )
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def build_binary() -> Path:
    """The binary for the current sources, building it if needed (about a minute on two cores)."""
    wanted = sources_hash()
    if BINARY.exists() and STAMP.exists() and STAMP.read_text().strip() == wanted:
        return BINARY
    pyinstaller = Path(sys.executable).with_name("pyinstaller")
    subprocess.run(
        [
            str(pyinstaller),
            "--noconfirm",
            "--clean",
            "--log-level",
            "WARN",
            "--distpath",
            str(DIST),
            "--workpath",
            str(ROOT / "build" / "work"),
            str(SPEC),
        ],
        cwd=ROOT,
        check=True,
        timeout=900,
    )
    STAMP.write_text(wanted + "\n")
    return BINARY
