"""A content-addressed cache of build stages, outside the checkout.

`RME_RESCUE_CACHE` names it; else `$XDG_CACHE_HOME/rme-rescue`, else `/var/cache/rme-rescue` for root
and `~/.cache/rme-rescue` for anyone else. A stage is a folder named by the hash of its inputs, made
under a temporary name and renamed into place when complete, so a build stopped half-way leaves nothing
a later build could mistake for a finished stage.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path


def cache_root() -> Path:
    if os.environ.get("RME_RESCUE_CACHE"):
        return Path(os.environ["RME_RESCUE_CACHE"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "rme-rescue"
    if os.geteuid() == 0:
        return Path("/var/cache/rme-rescue")
    return Path.home() / ".cache" / "rme-rescue"


def digest_of(value: object) -> str:
    """A stable hash of JSON-able inputs."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def digest_tree(root: Path, packages: Iterable[str]) -> str:
    """The hash of every .py / data file under the named packages (paths and contents)."""
    h = hashlib.sha256()
    for name in sorted(packages):
        for path in sorted((root / name).rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            h.update(str(path.relative_to(root)).encode() + b"\0")
            h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()[:24]


class Stage:
    """One cached stage: `done` when its folder exists; `begin()` gives a scratch folder, `commit()`
    renames it into place."""

    def __init__(self, root: Path, name: str, key: str) -> None:
        self.path = root / f"{name}-{key}"
        self.scratch = root / f".{name}-{key}.{os.getpid()}.tmp"

    @property
    def done(self) -> bool:
        return self.path.is_dir()

    def begin(self) -> Path:
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch.mkdir(parents=True)
        return self.scratch

    def commit(self, keep: int = 2) -> Path:
        if self.path.exists():  # another build finished the same stage first
            shutil.rmtree(self.scratch, ignore_errors=True)
        else:
            self.scratch.rename(self.path)
        prune(self.path.parent, self.path.name.rsplit("-", 1)[0], keep)
        return self.path


def prune(root: Path, name: str, keep: int) -> None:
    """Keep the `keep` newest finished stages called `name`; drop scratch folders of dead builds."""
    done = sorted(root.glob(f"{name}-*"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in done[keep:]:
        shutil.rmtree(old, ignore_errors=True)
    for scratch in root.glob(f".{name}-*.tmp"):
        pid = scratch.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(scratch, ignore_errors=True)
