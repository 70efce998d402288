"""A webhook receiver as a process of its own (`python -m tests.server.billing.receiver_process`): an
HTTP server on 127.0.0.1 (uvicorn, one ASGI callable) that verifies each POST with the
`standardwebhooks` library and appends one JSON line per POST — its `webhook-id`, whether it verified,
and the sender's user-agent (which node) — to a log file. It answers 204, or 400 for a bad signature.
The secret is read from a file (the server makes it after the receiver's URL is known). Used by the
two-node test and by `bench.billing` (fast enough not to be what is measured: ~thousands of POSTs/s)."""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


def app(secret_file: Path, log_file: Path) -> Any:
    log = log_file.open("a", encoding="utf-8", buffering=1)
    hooks: dict[str, Webhook] = {}

    def webhook() -> Webhook | None:
        secret = secret_file.read_text(encoding="utf-8").strip() if secret_file.exists() else ""
        if not secret:
            return None
        return hooks.get(secret) or hooks.setdefault(secret, Webhook(secret))

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        hook = webhook()
        ok = False
        if hook is not None:
            try:
                hook.verify(body, headers)
                ok = True
            except WebhookVerificationError:
                ok = False
        log.write(
            json.dumps({"id": headers.get("webhook-id"), "ok": ok, "agent": headers.get("user-agent")}) + "\n"
        )
        await send({"type": "http.response.start", "status": 204 if ok else 400, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return asgi


@contextlib.contextmanager
def receiver_process(folder: Path) -> Iterator[tuple[str, Path, Path]]:
    """Start the receiver in a process of its own: (URL, secret file to write, log file); stopped after."""
    secret, log, port = folder / "secret", folder / "received.jsonl", folder / "port"
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.server.billing.receiver_process",
         "--secret-file", str(secret), "--log", str(log), "--port-file", str(port)],
        cwd=Path(__file__).resolve().parents[3],
    )  # fmt: skip
    try:
        for _ in range(400):
            if port.exists() and port.read_text():
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port.read_text()}/hook", secret, log
    finally:
        process.terminate()
        process.wait(10)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--secret-file", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--port-file", type=Path, required=True)
    args = parser.parse_args()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    args.port_file.write_text(str(sock.getsockname()[1]), encoding="utf-8")
    config = uvicorn.Config(
        app(args.secret_file, args.log), log_level="warning", access_log=False, lifespan="off", backlog=1024
    )
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
