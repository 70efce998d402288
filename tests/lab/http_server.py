"""A tiny HTTP server for the fault lab: the connectivity-check page, or a captive portal's redirect.

python -m tests.lab.http_server ADDRESS PORT check "BODY"
python -m tests.lab.http_server ADDRESS PORT portal LOCATION
"""

from __future__ import annotations

import asyncio
import contextlib
import sys


async def serve(address: str, port: int, kind: str, value: str) -> None:
    if kind == "check":
        body = value.encode()
        head = f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
    else:
        body = b"<html>Please log in</html>"
        head = f"HTTP/1.1 302 Found\r\nLocation: {value}\r\nContent-Length: {len(body)}\r\n"
    response = (head + "Connection: close\r\n\r\n").encode() + body

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(response)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, address, port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]))
