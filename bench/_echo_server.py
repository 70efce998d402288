"""A plain WebSocket echo server over TLS (the anchor of `bench.relay`): `python -m bench._echo_server
PORT CERT KEY`. It is the `websockets` library alone — no app, no protocol checks, no database."""

from __future__ import annotations

import asyncio
import ssl
import sys

from websockets.asyncio.server import ServerConnection, serve


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def run(port: int, cert: str, key: str) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    async with serve(echo, "127.0.0.1", port, ssl=context, max_size=4 << 20) as server:
        print("ready", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(run(int(sys.argv[1]), sys.argv[2], sys.argv[3]))
