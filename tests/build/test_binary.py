"""The single-file binary: built by PyInstaller, small, quick to start, and diagnosing for real (in the
fault lab) with the same JSON contract as the module."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.build.binary import build_binary
from tests.lab.netlab import FaultLab, require_lab
from tests.screen.xdisplay import xvfb

pytestmark = pytest.mark.netns

MAX_SIZE = 30 * 1024 * 1024


@pytest.fixture(scope="module")
def binary() -> Path:
    return build_binary()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultLab]:
    require_lab()
    with FaultLab(tmp_path_factory.mktemp("binlab")) as lab:
        yield lab


def test_binary_is_small(binary: Path) -> None:
    assert binary.stat().st_size < MAX_SIZE


def test_binary_starts_quickly(binary: Path) -> None:
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        done = subprocess.run(
            [str(binary), "--help"], capture_output=True, text=True, check=False, timeout=30
        )
        timings.append(time.perf_counter() - start)
        assert done.returncode == 0 and "diagnose" in done.stdout
    # The target is < 1 s (measured idle in bench.diagnosis); this guards against gross regressions on a
    # shared, busy test machine.
    assert min(timings) < 2.5


def test_binary_diagnoses_in_the_lab(binary: Path, lab: FaultLab) -> None:
    lab.reset()
    healthy = lab.diagnose(binary=binary)
    assert (healthy.report.verdict, healthy.report.root_cause) == ("ok", None)
    lab.resolver_down()
    broken = lab.diagnose(binary=binary)
    assert broken.report.root_cause == "dns.unreachable"
    assert broken.report.duration_ms < 3000


def test_binary_carries_the_screen_view(binary: Path) -> None:
    """The frozen binary's screen executors are there and would not refuse; its tile diff and JPEG
    encoder round-trip a known picture; on a real X server (Xvfb) it grabs the monitor and puts the
    indicator on screen by starting itself (`_screen-indicator`), as the view does."""
    with xvfb(640, 480) as display:
        done = subprocess.run(
            [str(binary), "_screen-check"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
            env={**os.environ, "DISPLAY": display},
        )
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["frozen"] is True
    assert (report["view"], report["control"]) == ("ready", "ready")
    assert report["codec"]["ok"] and report["codec"]["tile"] == [32, 32, 32, 32]
    assert report["screen"] == {"monitors": 1, "grab": [640, 480], "indicator_shown": True}
