"""Plain `websockets` servers over TLS, the anchors of `bench.relay` (no app, no checks, no database):

python -m bench._echo_server PORT CERT KEY            echo every message back
python -m bench._echo_server PORT CERT KEY forward    pass messages between the two peers of
                                                      path /a and path /b (a bare two-hop relay)
python -m bench._echo_server PORT CERT KEY MODE HOST  the same, listening on HOST (default 127.0.0.1)
"""

from __future__ import annotations

import asyncio
import ssl
import sys

from websockets.asyncio.server import ServerConnection, serve


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


class Forwarder:
    def __init__(self) -> None:
        self.peers: dict[str, ServerConnection] = {}

    async def __call__(self, ws: ServerConnection) -> None:
        side = ws.request.path if ws.request else "/a"
        other = "/b" if side == "/a" else "/a"
        self.peers[side] = ws
        async for message in ws:
            peer = self.peers.get(other)
            if peer is not None:
                await peer.send(message)


async def run(port: int, cert: str, key: str, mode: str, host: str) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    handler = Forwarder() if mode == "forward" else echo
    async with serve(handler, host, port, ssl=context, max_size=4 << 20) as server:
        print("ready", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    mode = sys.argv[4] if len(sys.argv) > 4 else "echo"
    host = sys.argv[5] if len(sys.argv) > 5 else "127.0.0.1"
    asyncio.run(run(int(sys.argv[1]), sys.argv[2], sys.argv[3], mode, host))
