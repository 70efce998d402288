"""What the sandbox tests share: a child made with a given preexec step, and the CI rule for a kernel
feature that is missing here (skip locally, fail in CI)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from tests.lab.managed import require


def run_in(step: Callable[[], None], script: str) -> subprocess.CompletedProcess[str]:
    """Run `sh -c script` in a child that ran `step` between fork and exec."""
    return subprocess.run(
        ["/bin/sh", "-c", script],
        preexec_fn=step,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def need(ok: bool, what: str) -> None:
    require(None if ok and sys.platform.startswith("linux") else f"this kernel has no {what}")
