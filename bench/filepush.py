"""File push throughput: engineer → real relay (`rme-server serve`) → real agent (`rme-agent run`) → inbox,
against a direct copy of the same bytes over one TLS WebSocket (target ≥ 1 Gb/s on loopback).

The relay figure is wall time from the first chunk sent to the agent's `action.result` (the file written,
SHA-256 verified, fsynced and renamed in the inbox). The anchor is the same client sending the same chunk
frames to a receiver process that does the same work (write, hash, fsync) without a relay in between.
The server's per-connection frame limit (200 frames/s by default, i.e. ~420 Mb/s of 256 KiB chunks) is
raised for the bench and the default is measured too. RME_BENCH_PUSH_MB sets the size (default 256).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import ssl
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect

from protocol.actions import PushFileParams
from protocol.codec import FileChunk, encode_chunk
from protocol.limits import MAX_CHUNK_PAYLOAD
from protocol.messages import ActionResult, ConsentReply, SessionAccept, Welcome
from server.tls import ensure_local_tls
from tests.e2e.harness import RealAgent, engineer, real_agent, real_server


def _frames(action_id: str, data: bytes) -> list[bytes]:
    frames = []
    for offset in range(0, len(data), MAX_CHUNK_PAYLOAD):
        piece = data[offset : offset + MAX_CHUNK_PAYLOAD]
        frames.append(encode_chunk(FileChunk(action_id, offset, piece, offset + len(piece) >= len(data))))
    return frames


async def direct(data: bytes, tmp: Path) -> float:
    tls = ensure_local_tls(tmp / "sink-tls", [])
    assert tls.ca is not None
    port_file = tmp / "sink.port"
    sink = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench._push_sink",
        str(tls.cert),
        str(tls.key),
        str(port_file),
        str(tmp / "sink.out"),
    )
    try:
        for _ in range(200):
            if port_file.exists() and port_file.read_text():
                break
            await asyncio.sleep(0.05)
        context = ssl.create_default_context(cafile=str(tls.ca))
        frames = _frames("direct", data)
        async with connect(
            f"wss://127.0.0.1:{port_file.read_text()}", ssl=context, compression=None, proxy=None
        ) as ws:
            start = time.perf_counter()
            for frame in frames:
                await ws.send(frame)
            reply = await ws.recv()
            elapsed = time.perf_counter() - start
        assert reply == f"ok {hashlib.sha256(data).hexdigest()}"
        return elapsed
    finally:
        await sink.wait()


async def _prompt(agent: RealAgent, kind: str) -> str:
    return str((await asyncio.to_thread(agent.wait_prompt, kind))["id"])


async def relay(data: bytes, tmp: Path, frames_per_second: str | None) -> float:
    if frames_per_second:
        os.environ["RME_WS_FRAMES_PER_SECOND"] = frames_per_second
        os.environ["RME_WS_FRAME_BURST"] = frames_per_second
        os.environ["RME_WS_CHUNK_BYTES_PER_SECOND"] = str(8 << 30)
    try:
        with real_server(tmp) as server, real_agent(tmp, server, RME_MAX_PUSH_SIZE=str(8 << 30)) as agent:
            async with engineer(server) as eng:
                await eng.expect(Welcome)
                await asyncio.to_thread(agent.cli, "help", "bench push", "--wait", "30")
                await eng.accept_ticket_of("bench push")
                await asyncio.to_thread(agent.answer, await _prompt(agent, "session"), True)
                session = (await eng.expect(SessionAccept)).session or ""
                digest = hashlib.sha256(data).hexdigest()
                push = PushFileParams(name="bench.bin", size=len(data), sha256=digest)
                action = await eng.request(session, push)
                await asyncio.to_thread(agent.answer, await _prompt(agent, "action"), True)
                await eng.expect(ConsentReply, body__action_id=action)
                frames = _frames(action, data)
                start = time.perf_counter()
                for frame in frames:
                    await eng.ws.send(frame)
                result = await eng.expect(ActionResult, body__action_id=action, timeout=600)
                elapsed = time.perf_counter() - start
                assert result.body.status == "ok", result.body.error
                return elapsed
    finally:
        for name in ("RME_WS_FRAMES_PER_SECOND", "RME_WS_FRAME_BURST", "RME_WS_CHUNK_BYTES_PER_SECOND"):
            os.environ.pop(name, None)


def _gbps(size: int, seconds: float) -> float:
    return size * 8 / seconds / 1e9


def main() -> None:
    size = int(os.environ.get("RME_BENCH_PUSH_MB", "256")) << 20
    data = os.urandom(size)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        anchor = asyncio.run(direct(data, base))
        raised = asyncio.run(relay(data, base / "raised", "100000"))
        default = None
        with contextlib.suppress(Exception):
            default = asyncio.run(relay(data, base / "default", None))
    print(f"file size                         {size >> 20} MiB")
    print(f"anchor: direct, one WebSocket     {_gbps(size, anchor):6.2f} Gb/s  ({anchor:.2f} s)")
    print(
        f"relay → agent → inbox             {_gbps(size, raised):6.2f} Gb/s  ({raised:.2f} s)  "
        f"= {raised / anchor:.2f} × the direct time"
    )
    if default is not None:
        print(f"relay, server default frame limit {_gbps(size, default):6.2f} Gb/s")
    print(f"target ≥ 1 Gb/s: {'MET' if _gbps(size, raised) >= 1 else 'MISSED'}")


if __name__ == "__main__":
    main()
