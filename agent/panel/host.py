"""Serving the panel inside the agent's event loop, and `panel.json`: how local commands find it.

`panel.json` (mode 0600, in the data directory) holds the port, the agent's pid and the per-launch secret.
It is rewritten at every launch, so an old secret is worthless, and removed when the agent stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from pathlib import Path

import uvicorn

from agent.panel.info import PANEL_FILE, PanelInfo, read_panel_info, write_panel_info
from agent.panel.server import PanelAuth, PanelBackend, build_app


class PanelHost:
    def __init__(self, backend: PanelBackend, data_dir: Path, port: int = 0) -> None:
        self.data_dir = data_dir
        self.auth = PanelAuth()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))  # loopback only: never reachable from another host
        self.port: int = self._sock.getsockname()[1]
        app = build_app(backend, self.auth, lambda: self.port)
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="off",
            access_log=False,
            timeout_graceful_shutdown=1,
            server_header=False,
            date_header=False,
        )
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None

    @property
    def started(self) -> bool:
        return bool(self._server.started)

    @property
    def info(self) -> PanelInfo:
        return PanelInfo(self.port, os.getpid(), self.auth.secret)

    def login_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/login?t={self.auth.login_token()}"

    async def start(self) -> None:
        self._sock.listen(64)
        self._task = asyncio.ensure_future(self._server.serve(sockets=[self._sock]))
        while not self._server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        write_panel_info(self.data_dir / PANEL_FILE, self.info)

    async def stop(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            current = read_panel_info(self.data_dir)
            if current is not None and current.pid == os.getpid():
                (self.data_dir / PANEL_FILE).unlink()
        self._server.should_exit = True
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, 3.0)
        self._sock.close()
