"""Run an installed Linux's own tools inside it: `/dev`, `/proc`, `/sys` bound into its root for the
time of a `with` block, and unmounted again however the block ends.

Why the binds: `grub-install` and `grub-mkconfig` find the disk behind `/` with `grub-probe`, which reads
`/proc/self/mountinfo` and opens the device nodes; without them in the chroot they stop with "failed
to get canonical path". Used by the hard-disk edition's `update-grub` into a mounted root and by the
boot repair.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

BINDS = ("dev", "proc", "sys")


class ChrootError(RuntimeError):
    """A mount into the root failed; what was mounted before it has been undone."""


def mount(args: Sequence[str]) -> None:
    run = subprocess.run(["mount", *args], capture_output=True, text=True, timeout=60, check=False)
    if run.returncode != 0:
        raise ChrootError(f"mount {' '.join(args)}: {run.stderr.strip()[:200]}")


def umount(point: Path) -> bool:
    """Unmount; a busy mount is detached lazily (it goes when its last user does). True when gone."""
    run = subprocess.run(["umount", str(point)], capture_output=True, timeout=120, check=False)
    if run.returncode == 0:
        return True
    lazy = subprocess.run(["umount", "-l", str(point)], capture_output=True, timeout=60, check=False)
    return lazy.returncode == 0


@contextlib.contextmanager
def mounts(steps: Sequence[tuple[Sequence[str], Path]]) -> Iterator[None]:
    """Each `(mount arguments, mount point)` in order; all unmounted in reverse order afterwards, also
    when a later mount or the block fails."""
    done: list[Path] = []
    try:
        for args, point in steps:
            point.mkdir(parents=True, exist_ok=True)
            mount([*args, str(point)])
            done.append(point)
        yield
    finally:
        for point in reversed(done):
            umount(point)


@contextlib.contextmanager
def bound(root: Path) -> Iterator[None]:
    """`/dev`, `/proc` and `/sys` of this system inside `root`."""
    steps = [(["--bind", f"/{name}"], root / name) for name in BINDS]
    with mounts(steps):
        yield


def command(root: Path, argv: Sequence[str]) -> list[str]:
    """`argv` run inside `root` (as is when `root` is this system's own)."""
    return list(argv) if root.resolve() == Path("/") else ["chroot", str(root), *argv]
