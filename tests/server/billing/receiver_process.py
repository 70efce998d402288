"""A webhook receiver as a process of its own (`python -m tests.server.billing.receiver_process`): an
HTTP server on 127.0.0.1 that verifies each POST with the `standardwebhooks` library and appends one
JSON line per POST — its `webhook-id`, whether it verified, and the sender's user-agent (which node) — to
a log file. It answers 204, or 400 for a bad signature. The secret is read from a file at each request
(the server makes it after the receiver's URL is known). Used by the two-node test and the benchmark."""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


def serve(secret_file: Path, log_file: Path, port_file: Path) -> None:
    lock = threading.Lock()
    log = log_file.open("a", encoding="utf-8", buffering=1)
    webhooks: dict[str, Webhook] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: the sender reuses its connections

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            secret = secret_file.read_text(encoding="utf-8").strip() if secret_file.exists() else ""
            ok = False
            if secret:
                hook = webhooks.get(secret) or webhooks.setdefault(secret, Webhook(secret))
                try:
                    hook.verify(body, dict(self.headers))
                    ok = True
                except WebhookVerificationError:
                    ok = False
            line = {"id": self.headers.get("webhook-id"), "ok": ok, "agent": self.headers.get("user-agent")}
            with lock:
                log.write(json.dumps(line) + "\n")
            self.send_response(204 if ok else 400)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 512  # the sender opens dozens of connections at once

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # a sender closing its keep-alive connection is not an error

    server = Server(("127.0.0.1", 0), Handler)
    port_file.write_text(str(server.server_address[1]), encoding="utf-8")
    server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--secret-file", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--port-file", type=Path, required=True)
    args = parser.parse_args()
    serve(args.secret_file, args.log, args.port_file)


if __name__ == "__main__":
    main()
