"""The file-push anchor's receiver, in its own process: one TLS WebSocket, chunk frames in, each payload
hashed and written to a file, fsync at the end, then "ok <sha256>" back. The same work the agent does,
without the relay. Usage: python -m bench._push_sink CERT KEY PORT_FILE OUT_FILE"""

from __future__ import annotations

import asyncio
import hashlib
import os
import ssl
import sys
from pathlib import Path

from websockets.asyncio.server import ServerConnection, serve

from protocol.codec import MAX_CHUNK_FRAME, decode_chunk


async def main() -> None:
    cert, key, port_file, out = sys.argv[1:5]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    done = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        digest = hashlib.sha256()
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            async for frame in ws:
                assert isinstance(frame, bytes)
                chunk = decode_chunk(frame)
                os.write(fd, chunk.payload)
                digest.update(chunk.payload)
                if chunk.last:
                    os.fsync(fd)
                    await ws.send(f"ok {digest.hexdigest()}")
                    break
        finally:
            os.close(fd)
            done.set()

    async with serve(
        handler, "127.0.0.1", 0, ssl=context, compression=None, max_size=MAX_CHUNK_FRAME
    ) as server:
        port = str(next(iter(server.sockets)).getsockname()[1])
        await asyncio.to_thread(Path(port_file).write_text, port)
        await done.wait()


if __name__ == "__main__":
    asyncio.run(main())
