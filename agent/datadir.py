"""The agent's data directory is private to the user: 0700, and the session logs in it 0600.

The directory holds the device key, the panel's secret and the session logs, and a log holds what was
done on this PC during sessions — commands, chat, output. Other local accounts must not read them. The
agent makes the directory owner-only when it creates it, and at every start checks it and repairs what
has been loosened (a copy restored from a backup, a folder made by hand, a file made by an older agent),
telling the user what it repaired. Windows: the per-user application data folder is already private to
its owner through its ACL, so nothing is changed there.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from agent.i18n import Text

DIR_MODE = 0o700
FILE_MODE = 0o600
LOGS = "logs"

T_REPAIRED = Text(
    "数据文件夹的权限过宽，已改为只有你能读取：{paths}",
    "The data folder could be read by other accounts; it is now yours alone: {paths}",
)


def _tighten(path: Path, mode: int) -> bool:
    """Give `path` at most `mode` (owner bits only); True when it had more."""
    current = stat.S_IMODE(path.lstat().st_mode)
    if current & ~mode == 0:
        return False
    path.chmod(current & mode)
    return True


def make_private(data_dir: Path) -> list[Path]:
    """Create `data_dir` owner-only, or repair it and its session logs; returns what was repaired."""
    data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if sys.platform == "win32":
        return []
    repaired = [data_dir] if _tighten(data_dir, DIR_MODE) else []
    logs = data_dir / LOGS
    if logs.is_dir() and not logs.is_symlink():
        if _tighten(logs, DIR_MODE):
            repaired.append(logs)
        for log in sorted(logs.iterdir()):
            if log.is_file() and not log.is_symlink() and _tighten(log, FILE_MODE):
                repaired.append(log)
    return repaired


def open_private_append(path: Path) -> int:
    """A descriptor appending to `path`, created 0600 if new (the umask cannot widen it)."""
    path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    return os.open(path, flags, FILE_MODE)
