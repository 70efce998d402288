"""What the network labs share: whether they can run here, and their life cycle — `start()` on entering
(undone by `close()` if it fails halfway) and `close()` on leaving, also on Ctrl-C or an error, so no
namespace or process outlives a run."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from types import TracebackType
from typing import Self


def missing(what: str, tools: Iterable[str]) -> str | None:
    """Why `what` cannot run here (not root, or a tool not installed), or None if it can."""
    if os.geteuid() != 0:
        return f"{what} needs root (network namespaces)"
    for tool in tools:
        if shutil.which(tool) is None:
            return f"{what} needs {tool} (see scripts/bootstrap)"
    return None


def require(reason: str | None) -> None:
    """Skip a test that cannot run here (`reason`) — except in CI (`CI=true`), where a missing tool is a
    failure, not a skip."""
    import pytest  # imported here: the benchmarks use this module outside pytest

    if reason is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


class Managed:
    def start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Undo everything `start` may have done, from any point; never raises."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
