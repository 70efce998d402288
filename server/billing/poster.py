"""Keep-alive HTTP/1.1 POSTs to one billing endpoint: h11 (sans-I/O) over asyncio streams.

The delivery loop sends thousands of small POSTs to one or two URLs. A general client (httpx) spends
most of its time in its pool's bookkeeping; this does only what delivery needs: up to `size` open
connections per endpoint, each reused while the server keeps it alive, one request at a time on each,
a deadline per POST, HTTPS with the system's trust store. Any failure closes that connection and is
raised as `PostError` with a short reason (the outbox retries the event).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from urllib.parse import urlsplit

import h11

__all__ = ["PostError", "Poster"]

MAX_ANSWER = 64 * 1024  # we read the status; a receiver's body beyond this is not our business


class PostError(Exception):
    """The POST did not get an answer (refused, reset, timed out, not HTTP)."""


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(our_role=h11.CLIENT)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class Poster:
    def __init__(self, url: str, size: int = 32, timeout: float = 10.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        self.tls = ssl.create_default_context() if parts.scheme == "https" else None
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        default_port = parts.port is None or parts.port == (443 if parts.scheme == "https" else 80)
        self.authority = parts.hostname if default_port else f"{parts.hostname}:{parts.port}"
        self.timeout = timeout
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(size)

    async def post(self, body: bytes, headers: dict[str, str]) -> int:
        """POST `body`; returns the answer's status code, or raises `PostError`."""
        async with self._slots:
            try:
                async with asyncio.timeout(self.timeout):
                    connection, status = await self._post(body, headers)
            except TimeoutError as exc:
                raise PostError(f"TimeoutError: {exc}"[:300]) from exc
            if connection.h11.our_state is h11.DONE and connection.h11.their_state is h11.DONE:
                connection.h11.start_next_cycle()
                self._idle.append(connection)  # kept alive for the next POST
            else:
                connection.close()
            return status

    async def _post(self, body: bytes, headers: dict[str, str]) -> tuple[_Connection, int]:
        # A kept-alive connection the receiver closed while idle fails before any answer: then (and
        # only then) the POST goes again on a fresh connection, not into the outbox's back-off.
        while True:
            reused = self._idle.pop() if self._idle else None
            connection = reused
            try:
                if connection is None:
                    reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self.tls)
                    connection = _Connection(reader, writer)
                return connection, await self._exchange(connection, body, headers)
            except (OSError, h11.ProtocolError, ssl.SSLError, EOFError) as exc:
                if connection is not None:
                    connection.close()
                if reused is not None and reused.h11.their_state is h11.SEND_RESPONSE:
                    continue
                raise PostError(f"{type(exc).__name__}: {exc}"[:300]) from exc
            except BaseException:
                if connection is not None:
                    connection.close()
                raise

    async def _exchange(self, connection: _Connection, body: bytes, headers: dict[str, str]) -> int:
        conn = connection.h11
        fields = [("host", self.authority), ("content-length", str(len(body)))]
        fields += [(k, v) for k, v in headers.items() if k.lower() not in ("host", "content-length")]
        out = conn.send(h11.Request(method="POST", target=self.target, headers=fields))
        out += conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
        connection.writer.write(out)
        await connection.writer.drain()
        status: int | None = None
        read = 0
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await connection.reader.read(65536)
                if not data:
                    conn.receive_data(b"")
                    if status is None:
                        raise EOFError("the connection closed before an answer")
                    return status
                conn.receive_data(data)
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                read += len(event.data)
                if read > MAX_ANSWER:
                    # The status is the answer; the rest is not read (so the connection is not reused).
                    return status if status is not None else 0
            elif isinstance(event, h11.EndOfMessage):
                assert status is not None
                return status
            elif isinstance(event, h11.ConnectionClosed):
                if status is None:
                    raise EOFError("the connection closed before an answer")
                return status

    async def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
