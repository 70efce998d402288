"""A real X server for the screen tests and benchmark: Xvfb on a free display number, and a real Tk
program on it with a known colour, a button and a text field (it reports on stdout)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

COLOUR = (0x12, 0xC4, 0x56)  # the known colour, RGB
APP = Path(__file__).with_name("tk_app.py")


def need(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        if os.environ.get("CI") == "true":
            raise RuntimeError(f"{tool} is missing (scripts/bootstrap installs it)")
        pytest.skip(f"{tool} is not installed")
    return found


@contextlib.contextmanager
def xvfb(width: int = 1024, height: int = 768) -> Iterator[str]:
    """Xvfb on the first free display from :91; yields the DISPLAY string."""
    binary = need("Xvfb")
    for number in range(91, 140):
        if Path(f"/tmp/.X11-unix/X{number}").exists() or Path(f"/tmp/.X{number}-lock").exists():
            continue
        proc = subprocess.Popen(
            [binary, f":{number}", "-screen", "0", f"{width}x{height}x24", "-nolisten", "tcp", "-ac"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None:
            if Path(f"/tmp/.X11-unix/X{number}").exists():
                break
            time.sleep(0.05)
        if proc.poll() is not None:
            continue
        try:
            yield f":{number}"
        finally:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
        return
    raise RuntimeError("no free X display")


@dataclass
class Geometry:
    x: int
    y: int
    w: int
    h: int

    @property
    def centre(self) -> tuple[int, int]:
        return self.x + self.w // 2, self.y + self.h // 2


class TkApp:
    """The test's X program: reports `geom NAME x y w h`, `pressed`, `text VALUE` on stdout."""

    def __init__(self, display: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(APP)],
            env={**os.environ, "DISPLAY": display},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
        )
        self.geometry: dict[str, Geometry] = {}
        self.lines: list[str] = []
        import threading

        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 20
        while len(self.geometry) < 3:
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"the Tk app did not start: {self.lines[-5:]}")
            time.sleep(0.05)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.rstrip("\n")
            self.lines.append(line)
            if line.startswith("geom "):
                _, name, *nums = line.split()
                self.geometry[name] = Geometry(*map(int, nums))

    def wait_for(self, line: str, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if line in self.lines:
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def window_named(display: str, name: str) -> Geometry | None:
    """Where the top-level window titled `name` is on `display` (the agent's indicator: "RME")."""
    from Xlib import display as xdisplay

    d = xdisplay.Display(display)
    try:
        root = d.screen().root
        for child in root.query_tree().children:
            if child.get_wm_name() == name and child.get_attributes().map_state == 2:  # IsViewable
                g = child.get_geometry()
                return Geometry(g.x, g.y, g.width, g.height)
        return None
    finally:
        d.close()
