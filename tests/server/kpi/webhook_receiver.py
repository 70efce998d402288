"""A real webhook receiver for tests: an HTTP server on 127.0.0.1 (in a thread) that verifies each
delivery with the `standardwebhooks` library, deduplicates by `webhook-id`, and can be told to fail
the first attempts."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

SECRET = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # any base64: the tests' shared secret


class Receiver:
    def __init__(self, secret: str = SECRET, fail_first: int = 0, port: int = 0) -> None:
        self.secret = secret
        self.fail_first = fail_first
        self.attempts = 0
        self.rejected = 0
        self.events: dict[str, Any] = {}  # webhook-id → payload, each once
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver.lock:
                    receiver.attempts += 1
                    if receiver.attempts <= receiver.fail_first:
                        self.send_response(500)
                        self.end_headers()
                        return
                    try:
                        payload = Webhook(receiver.secret).verify(body, dict(self.headers))
                    except WebhookVerificationError:
                        receiver.rejected += 1
                        self.send_response(400)
                        self.end_headers()
                        return
                    receiver.events.setdefault(self.headers["webhook-id"], payload)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def kinds(self) -> list[tuple[str, str]]:
        with self.lock:
            return [(e["type"], e["data"]["kind"]) for e in self.events.values()]

    def dump(self) -> str:
        return json.dumps(self.events)
