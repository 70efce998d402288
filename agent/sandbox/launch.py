"""What happens between fork and exec of an engineer command, chosen once per command in the agent.

| this machine has | the command runs in | hidden paths are |
|---|---|---|
| cgroup v2 we may write | its own cgroup (`cgroup.py`) | — |
| mount (+ user) namespaces, Landlock | a private mount namespace in a Landlock domain | empty tmpfs |
| mount namespaces, no Landlock | a private mount namespace | empty tmpfs |
| Landlock, no namespaces | a Landlock domain (`holes`) | not on the allow-list: EACCES |
| neither | the agent's own view | visible (only the request check refuses them) |

The parent prepares everything (the cgroup directory and its `cgroup.procs` descriptor, the encoded
mount targets, the Landlock ruleset); the child (`Launch.child`, run as `preexec_fn`) only makes system
calls on them, so it neither imports nor opens anything by name except its own /proc files.
Any failure in the child aborts the start: a command the sandbox was asked for never runs without it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from agent.sandbox import landlock, mounts, syscalls
from agent.sandbox.cgroup import CgroupUnavailable, CommandCgroup, cgroup2_mounts

log = logging.getLogger(__name__)
_warned: set[str] = set()


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(message)


@dataclass
class Launch:
    cgroup: CommandCgroup | None = None
    mounts: mounts.MountPlan | None = None
    ruleset: landlock.Ruleset | None = None
    cwd: bytes | None = None
    hidden: list[Path] = field(default_factory=list)

    @property
    def needed(self) -> bool:
        """Anything to do in the child? (Without a step there, `subprocess` keeps its faster vfork.)"""
        return self.cgroup is not None or self.mounts is not None or self.ruleset is not None

    @property
    def mode(self) -> str:
        """What hides the paths: "namespace+landlock", "namespace", "landlock" or "none"."""
        if not self.hidden:
            return "none"
        parts = (["namespace"] if self.mounts else []) + (["landlock"] if self.ruleset else [])
        return "+".join(parts) or "none"

    def child(self) -> None:
        """Runs in the forked child, before exec. Order matters: the cgroup before its namespace, the
        mounts before Landlock (a Landlock domain may not mount), the working directory last (looked up
        again through the new mounts, so a hidden folder cannot be the way in)."""
        if self.cgroup is not None:
            self.cgroup.join()
        if self.mounts is not None:
            self.mounts.enter()  # includes the cgroup namespace
        elif self.cgroup is not None:
            # Without hiding, the cgroup namespace alone (root only: it needs CAP_SYS_ADMIN) still stops
            # a command from moving itself out of its cgroup.
            with contextlib.suppress(OSError):
                syscalls.unshare(syscalls.CLONE_NEWCGROUP)
        if self.ruleset is not None:
            syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1)  # setuid/file caps gain nothing inside
            self.ruleset.restrict_self()
        if self.cwd is not None and self.mounts is not None:
            os.chdir(self.cwd)

    def started(self) -> None:
        """In the parent, once the child exec'd (or failed): descriptors it needed are closed."""
        if self.ruleset is not None:
            self.ruleset.close()
        if self.cgroup is not None:
            self.cgroup.close_fd()

    def failed(self) -> None:
        self.started()
        if self.cgroup is not None:
            self.cgroup.remove()


def runtime_dir() -> list[Path]:
    """The user's runtime directory holds the session D-Bus and systemd's user socket: through them a
    command could have the user's service manager run something outside the sandbox
    (`systemd-run --user`), or ask the keyring for saved passwords. Hidden with the rest."""
    value = os.environ.get("XDG_RUNTIME_DIR")
    return [Path(value)] if value and Path(value).is_dir() else []


def prepare(hide: Iterable[Path] = (), cwd: Path | None = None, contain: bool = True) -> Launch:
    """Plan one command's launch. `hide`: paths the command must not see (empty: no hiding)."""
    launch = Launch(cwd=os.fsencode(cwd) if cwd is not None else None)
    if not sys.platform.startswith("linux"):
        return launch
    if contain:
        try:
            launch.cgroup = CommandCgroup.create()
        except (CgroupUnavailable, OSError) as exc:
            _warn_once(
                "cgroup",
                f"engineer commands run without a cgroup ({exc}): a process that leaves the command's "
                "process group (setsid, a daemon) survives End",
            )
    hidden = mounts.outermost(hide)
    launch.hidden = hidden
    # A command that could write cgroup.procs above its own cgroup could move out of it: the cgroup
    # file system is hidden too (see cgroup.py).
    cgroup_fs = cgroup2_mounts() if launch.cgroup is not None else []
    if not hidden and not cgroup_fs:
        return launch
    try:
        if mounts.usable():
            launch.mounts = mounts.plan([*hidden, *cgroup_fs])
            if landlock.abi_version() > 0:  # also what stops root from unmounting the tmpfs
                launch.ruleset = landlock.wall()
        elif hidden and landlock.abi_version() > 0:
            launch.ruleset = landlock.holes([*hidden, *cgroup_fs])
        elif hidden:
            _warn_once(
                "hide",
                "engineer commands run without a sandbox (no mount namespace, no Landlock): the vault "
                "and the agent's data dir are protected only by the request check",
            )
    except OSError:
        launch.failed()
        raise
    return launch
