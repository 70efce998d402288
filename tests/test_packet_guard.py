"""The packet guard of `tests/conftest.py` fails a run that sends a packet out of the machine.

A "way out" is made without a wire: a TUN device with no reader (it discards everything sent to it) routes one
address of the benchmarking range 198.18.0.0/15. An inner pytest run that starts after it exists sees it
as one of the machine's interfaces, so a UDP datagram to that address is a leak to it; the outer run
started before the device existed, so for it the same datagram is a test's own device, not a leak.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TARGET = f"198.18.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 1}"

INNER = f"""
import socket

def test_loopback_only():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"x", ("127.0.0.1", 9))

def test_leaks():
    if "LEAK" in __import__("os").environ:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.sendto(b"x", ("{TARGET}", 9))
"""


def _guard_can_run() -> None:
    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("the packet guard needs root in CI")
        pytest.skip("the packet guard needs root")


@pytest.fixture
def way_out() -> Iterator[str]:
    _guard_can_run()
    name = f"rmelg{secrets.token_hex(3)}"
    subprocess.run(["ip", "tuntap", "add", "mode", "tun", "name", name], check=True)
    try:
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        subprocess.run(["ip", "route", "add", f"{TARGET}/32", "dev", name], check=True)
        yield name
    finally:
        subprocess.run(["ip", "link", "del", name], check=False)


def _inner(tmp_path: Path, leak: bool) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_inner.py").write_text(INNER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("LEAK", None)
    if leak:
        env["LEAK"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "test_inner.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_run_that_sends_a_packet_out_fails_and_names_the_destination(tmp_path: Path, way_out: str) -> None:
    done = _inner(tmp_path, leak=True)
    assert done.returncode == pytest.ExitCode.TESTS_FAILED, done.stdout + done.stderr
    assert "2 passed" in done.stdout  # every test passed: the run fails for the packet alone
    assert f"{TARGET} (udp) via {way_out}" in done.stdout
    assert "LEFT THIS MACHINE" in done.stdout


def test_a_run_on_loopback_only_passes(tmp_path: Path, way_out: str) -> None:
    done = _inner(tmp_path, leak=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "packet guard: no packet left this machine" in done.stdout


def test_the_guard_says_when_it_is_off(tmp_path: Path) -> None:
    _guard_can_run()
    (tmp_path / "test_inner.py").write_text("def test_nothing():\n    pass\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": str(tmp_path)}  # no `nft` on this PATH
    env.pop("CI", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "test_inner.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0 and "packet guard: OFF (nft is not installed)" in done.stdout
    env["CI"] = "true"
    refused = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.conftest", "-p", "no:cacheprovider", "test_inner.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "CI must run it" in refused.stdout + refused.stderr
