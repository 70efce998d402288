"""Admission before TLS: at most `limit` connections in their TLS handshake at once, per process.

Why: a TLS handshake costs the server ~1–2 ms of CPU (ECDHE and a signature) and several loop
callbacks. When a restarted node is hit by thousands of reconnecting agents, accepting every connection
puts thousands of handshakes in flight at once; each waits its turn behind all the others, they outlive
the agents' 30 s connect timeout (work done and thrown away) and the event loop falls so far behind
that the node misses its own `nodes` heartbeat. The 503 shedding in the app (`server.app.shed`) only
acts after TLS, too late to prevent that.

So uvicorn gets no TLS context: the listening socket is plain TCP, and this module's protocol, given
to uvicorn as its HTTP protocol class (`gated`), sees each connection at accept. Under the limit it
starts TLS itself (`loop.start_tls`) and, once the handshake is done, hands the TLS transport to
uvicorn's real HTTP protocol, which sees exactly what it would have seen had the loop done TLS (the
transport's `sslcontext` extra makes the scheme https/wss). At the limit the connection is aborted at
once (a TCP reset: no TLS bytes, no Python objects kept); there is no cheaper refusal, and no
plain-text 503 is possible before TLS. The agent sees its TLS handshake fail with a reset and treats
it as "busy": it waits like for a 503 (`agent.connection.client`, jittered back-off with a floor).

The only Python object added per connection lives only during the handshake (`_Admission`); an idle
agent's connection afterwards is exactly what it was.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from typing import Any, cast

from server.shedding import ShedLog

__all__ = ["TlsGate", "gated"]


class TlsGate:
    """The per-process count of handshakes in flight and what to do past `limit`."""

    def __init__(self, context: ssl.SSLContext, limit: int, timeout: float, shed: ShedLog) -> None:
        self.context = context
        self.limit = limit
        self.timeout = timeout
        self.shed = shed
        self.in_flight = 0
        self.refused = 0  # connections aborted at accept since start (also in `shed`'s summaries)
        self._tasks: set[asyncio.Task[None]] = set()

    def admit(self) -> bool:
        """Take a handshake slot; False (and counted) when none is free."""
        if self.in_flight >= self.limit:
            self.refused += 1
            self.shed.note("tls")
            return False
        self.in_flight += 1
        return True

    def release(self) -> None:
        self.in_flight -= 1

    def upgrade(self, transport: asyncio.Transport, holder: _Admission) -> None:
        task = asyncio.get_running_loop().create_task(self._upgrade(transport, holder))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _upgrade(self, transport: asyncio.Transport, holder: _Admission) -> None:
        loop = asyncio.get_running_loop()
        # Bytes the peer sent before this task ran (uvloop starts reading right after
        # `connection_made`, whatever it was told) go to the TLS layer first: `start_tls` swaps the
        # transport's protocol synchronously and schedules the handshake after this callback.
        transport.pause_reading()
        holder.tls_started = True
        if holder.early:
            loop.call_soon(_feed, transport, b"".join(holder.early))
            holder.early.clear()
        try:
            tls = await loop.start_tls(
                transport, holder, self.context, server_side=True, ssl_handshake_timeout=self.timeout
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError, EOFError):
            transport.abort()  # a failed or timed-out handshake: nothing to tell the peer
            return
        finally:
            self.release()
        if tls is None or holder.lost:
            return
        holder.hand_over(tls)


def _feed(transport: asyncio.Transport, data: bytes) -> None:
    """Give the TLS layer (now the transport's protocol, a buffered protocol) bytes read before it was
    in place; before its handshake starts they wait in its incoming buffer."""
    protocol = cast(asyncio.BufferedProtocol, transport.get_protocol())
    view = memoryview(data)
    while view:
        buffer = memoryview(protocol.get_buffer(len(view)))
        n = min(len(buffer), len(view))
        buffer[:n] = view[:n]
        protocol.buffer_updated(n)
        view = view[n:]


class _Admission(asyncio.Protocol):
    """One connection from accept to the end of its TLS handshake. Before TLS it keeps the bytes read
    early (`early`); during `start_tls` it is the TLS layer's application protocol and keeps whatever
    the peer sends right after the handshake (an HTTP request can arrive before the handshake's
    waiter wakes us); then it passes the transport and those bytes to uvicorn's protocol."""

    __slots__ = ("buffered", "early", "eof", "gate", "lost", "make", "tls_started")

    def __init__(self, gate: TlsGate, make: Callable[[], asyncio.Protocol]) -> None:
        self.gate = gate
        self.make = make
        self.early: list[bytes] = []
        self.buffered: list[bytes] = []
        self.tls_started = False
        self.eof = False
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tcp = cast(asyncio.Transport, transport)  # uvloop's TCPTransport does not subclass it
        if not self.gate.admit():
            tcp.abort()
            return
        self.gate.upgrade(tcp, self)

    def data_received(self, data: bytes) -> None:
        (self.buffered if self.tls_started else self.early).append(data)

    def eof_received(self) -> bool | None:
        self.eof = True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True

    def hand_over(self, tls: asyncio.Transport) -> None:
        protocol = self.make()
        tls.set_protocol(protocol)
        protocol.connection_made(tls)
        for data in self.buffered:
            protocol.data_received(data)
        self.buffered.clear()
        if self.eof:
            protocol.eof_received()


def gated(gate: TlsGate, inner: Callable[..., asyncio.Protocol]) -> Callable[..., asyncio.Protocol]:
    """A stand-in for uvicorn's HTTP protocol class (`uvicorn.Config(http=...)`): uvicorn calls it with
    its keyword arguments per connection; the real protocol is made once TLS is up."""

    def factory(**kwargs: Any) -> asyncio.Protocol:
        return _Admission(gate, lambda: inner(**kwargs))

    return factory
