"""`rme-agent run` and `rme-agent diagnose`: `--data-dir` and `--config` reach the diagnosis settings.

Each agent here diagnoses an interface name that exists nowhere, set only in the file the flag names: a
diagnosis that read another file would name another interface. The file a mistaken search would find (the
default data directory's `agent.toml`, under `XDG_DATA_HOME`) names `lo`, and every other setting comes
from loopback-only variables, so even a wrong answer sends no packet off the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from agent.panel.control import call, running_agent
from tests.localnet import local_diagnosis_env, write_local_diagnosis

RME_AGENT = Path(sys.executable).parent / "rme-agent"


def _env(tmp: Path) -> dict[str, str]:
    default_dir = tmp / "xdg" / "rme"
    write_local_diagnosis(default_dir / "agent.toml")  # interface "lo": what a wrong search would read
    env = {k: v for k, v in os.environ.items() if not k.startswith("RME_")}
    env.update(local_diagnosis_env())
    del env["RME_DIAGNOSIS_INTERFACE"]
    env.update({"HOME": str(tmp), "XDG_DATA_HOME": str(tmp / "xdg"), "RME_LANG": "en"})
    return env


def _config(path: Path, interface: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'[diagnosis]\ninterface = "{interface}"\n', encoding="utf-8")
    return path


@contextlib.contextmanager
def _running(tmp: Path, *flags: str) -> Iterator[Path]:
    data_dir = Path(flags[flags.index("--data-dir") + 1])
    with (tmp / "agent.log").open("wb") as log:
        proc = subprocess.Popen(
            [str(RME_AGENT), "run", "--no-browser", *flags],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=_env(tmp),
        )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp / "agent.log").read_text()
            with contextlib.suppress(Exception):
                running_agent(data_dir)
                break
            time.sleep(0.05)
        yield data_dir
    finally:
        proc.terminate()
        proc.wait(10)


def _diagnosis_after_help(data_dir: Path) -> dict[str, Any]:
    call(data_dir, "/api/help", {"words": "no internet"}, timeout=30)
    info = running_agent(data_dir)
    with httpx.Client(base_url=info.base, trust_env=False, timeout=10) as client:
        state = client.get("/api/state", headers={"Authorization": f"Bearer {info.secret}"}).json()
    report: dict[str, Any] = state["diagnosis"]
    return report


def test_run_data_dir_reaches_the_diagnosis(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _config(data_dir / "agent.toml", "rmetest-dd")
    with _running(tmp_path, "--data-dir", str(data_dir)):
        assert _diagnosis_after_help(data_dir)["interface"] == "rmetest-dd"


def test_run_config_reaches_the_diagnosis(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _config(data_dir / "agent.toml", "rmetest-dd")  # --config wins over the data directory's file
    config = _config(tmp_path / "elsewhere" / "my.toml", "rmetest-cf")
    with _running(tmp_path, "--data-dir", str(data_dir), "--config", str(config)):
        assert _diagnosis_after_help(data_dir)["interface"] == "rmetest-cf"


def test_diagnose_data_dir_reaches_the_settings(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    _config(data_dir / "agent.toml", "rmetest-dd")
    done = subprocess.run(
        [str(RME_AGENT), "diagnose", "--json", "--data-dir", str(data_dir)],
        env=_env(tmp_path), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert json.loads(done.stdout)["interface"] == "rmetest-dd", done.stderr
