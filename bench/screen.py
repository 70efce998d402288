"""Screen view benchmark: a 1920×1080 Xvfb screen, a full-screen editor, a real `rme-server` and
`rme-agent`, and a protocol engineer client on loopback (the console's path without the browser).

Workloads, through the relay, each a few seconds: typing in the editor (control `text` events),
scrolling it (wheel events), a full-screen change (F9 recolours the whole editor). For each: frames
per second delivered to the engineer, bytes per frame, the link's Mb/s, the agent's CPU (its process
and children, per cent of one core), and input → changed pixel latency p50/p95 (an input event sent →
the first frame carrying a tile over the place it changes).

Anchors, same run, same screen: x11vnc serving it to a minimal RFB client (`bench/_rfb.py`, ZRLE) with
the same workloads sent as RFB key and wheel events; and every frame sent whole as one JPEG at the same
quality (what a view without tile diffing sends).
Run: .venv/bin/python -m bench.screen
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import mss
import numpy as np
import psutil
import simplejpeg

from protocol.actions import ScreenControlParams, ScreenViewParams
from protocol.messages import ActionProgress, ScreenInput, ScreenInputBody, SessionAccept, Welcome
from protocol.screen import InputEvent, Key, TypeText, Wheel, decode_screen
from tests.e2e.harness import Engineer, engineer, real_agent, real_server
from tests.screen.xdisplay import xvfb

SECONDS = float(os.environ.get("RME_BENCH_SCREEN_SECONDS", "5"))
LATENCY_SAMPLES = 30
HEADER = (
    "| workload | fps | bytes/frame | Mb/s | agent CPU % | input→pixel p50 ms | p95 ms "
    "| full-frame JPEG bytes/frame (anchor) |"
)
VNC_HEADER = (
    "| anchor: x11vnc → RFB client (ZRLE) | updates/s | bytes/update | Mb/s | x11vnc CPU % "
    "| p50 ms | p95 ms |"
)
APP = Path(__file__).resolve().parent.parent / "tests" / "screen" / "bench_app.py"


class Watch:
    """Every binary frame the engineer gets, with its arrival time."""

    def __init__(self, eng: Engineer) -> None:
        self.eng, self.seen = eng, 0
        self.frames: list[tuple[float, bytes]] = []
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            now = time.monotonic()
            for raw in self.eng.frames[self.seen :]:
                if isinstance(raw, bytes):
                    self.frames.append((now, raw))
            self.seen = len(self.eng.frames)
            await asyncio.sleep(0.002)


def cpu_of(proc: psutil.Process) -> float:
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            continue
    return total


async def workload(
    name: str, eng: Engineer, watch: Watch, session: str, control: str, agent_pid: int, step: list[InputEvent]
) -> dict[str, float]:
    proc = psutil.Process(agent_pid)
    message = ScreenInput(session=session, body=ScreenInputBody(action_id=control, events=step))
    # Dense: an input every 25 ms (40 changes a second, faster than the view's 30 fps cap): how many
    # frames the engineer gets, how big, what the agent's CPU pays.
    start_n, cpu0, t0 = len(watch.frames), cpu_of(proc), time.monotonic()
    while time.monotonic() - t0 < SECONDS:
        await eng.send(message)
        await asyncio.sleep(0.025)
    elapsed = time.monotonic() - t0
    cpu = cpu_of(proc) - cpu0
    frames = [raw for _, raw in watch.frames[start_n:]]
    # Sparse: one input, then wait for the first frame after it (it carries the change): the latency.
    await asyncio.sleep(0.5)
    latencies: list[float] = []
    for _ in range(LATENCY_SAMPLES):
        before = len(watch.frames)
        sent = time.monotonic()
        await eng.send(message)
        while time.monotonic() - sent < 1.0:
            if len(watch.frames) > before:
                latencies.append(watch.frames[before][0] - sent)
                break
            await asyncio.sleep(0.002)
        await asyncio.sleep(0.15)
    sizes = [len(raw) for raw in frames]
    q = sorted(latencies) or [float("nan")]
    return {
        "fps": len(frames) / elapsed,
        "bytes_per_frame": statistics.mean(sizes) if sizes else 0.0,
        "mbps": sum(sizes) * 8 / elapsed / 1e6,
        "agent_cpu_pct": cpu / elapsed * 100,
        "p50_ms": q[len(q) // 2] * 1000,
        "p95_ms": q[min(len(q) - 1, int(len(q) * 0.95))] * 1000,
        "frames": len(frames),
    }


def full_frame_anchor(display: str, frames: float, quality: int = 70) -> dict[str, float]:
    """The same screen sent whole as one JPEG per frame: bytes per frame and encode CPU per frame."""
    os.environ["DISPLAY"] = display
    sizes, cpu = [], 0.0
    with mss.MSS() as grab:
        mon = grab.monitors[1]
        for _ in range(max(5, min(int(frames), 60))):
            began = time.process_time()
            shot = grab.grab(mon)
            pic = np.frombuffer(shot.bgra, dtype=np.uint8).reshape(shot.height, shot.width, 4)
            sizes.append(
                len(
                    simplejpeg.encode_jpeg(
                        pic, quality=quality, colorspace="BGRA", colorsubsampling="420", fastdct=True
                    )
                )
            )
            cpu += time.process_time() - began
    n = len(sizes)
    return {"bytes_per_frame": statistics.mean(sizes), "cpu_ms_per_frame": cpu / n * 1000}


async def vnc_anchor(display: str) -> dict[str, dict[str, float]]:
    """x11vnc serving the same screen to an RFB client (`bench._rfb`, ZRLE), the same workloads: key
    presses into the editor, wheel scrolls. Updates per second, bytes per update, Mb/s, x11vnc's CPU,
    input → first update after it."""
    from bench._rfb import RfbClient
    from tests.e2e.harness import free_port

    port = free_port()
    vnc = subprocess.Popen(  # noqa: ASYNC220 (started once, before anything is measured)
        ["x11vnc", "-display", display, "-rfbport", str(port), "-localhost", "-nopw", "-forever", "-shared",
         "-quiet", "-noipv6", "-nocursorshape", "-nocursorpos"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        client = None
        for _ in range(100):
            try:
                client = await RfbClient.connect(port)
                break
            except OSError:
                await asyncio.sleep(0.1)
        if client is None:
            raise OSError("x11vnc did not start")
        await asyncio.sleep(1.5)
        proc = psutil.Process(vnc.pid)
        out: dict[str, dict[str, float]] = {}
        actions: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("typing", lambda: client.key(0x61)),
            ("scrolling", lambda: client.wheel(900, 500)),
        ]
        for name, act in actions:
            start_n, cpu0, t0 = len(client.updates), cpu_of(proc), time.monotonic()
            while time.monotonic() - t0 < SECONDS:
                await act()
                await asyncio.sleep(0.025)
            elapsed = time.monotonic() - t0
            cpu = cpu_of(proc) - cpu0
            sizes = [u.size for u in client.updates[start_n:]]
            await asyncio.sleep(0.5)
            latencies = []
            for _ in range(LATENCY_SAMPLES):
                before, sent = len(client.updates), time.monotonic()
                await act()
                while time.monotonic() - sent < 1.0:
                    if len(client.updates) > before:
                        latencies.append(client.updates[before].at - sent)
                        break
                    await asyncio.sleep(0.002)
                await asyncio.sleep(0.15)
            q = sorted(latencies) or [float("nan")]
            out[name] = {
                "fps": len(sizes) / elapsed,
                "bytes_per_frame": statistics.mean(sizes) if sizes else 0.0,
                "mbps": sum(sizes) * 8 / elapsed / 1e6,
                "cpu_pct": cpu / elapsed * 100,
                "p50_ms": q[len(q) // 2] * 1000,
                "p95_ms": q[min(len(q) - 1, int(len(q) * 0.95))] * 1000,
            }
        await client.close()
        return out
    finally:
        vnc.terminate()
        vnc.wait(5)


def codec_choice(display: str, frames: int = 30) -> None:
    """The same typing pictures (a key every frame, 1080p) through three encoders: JPEG tiles of the
    changed regions (ours), H.264 (PyAV/libx264, ultrafast, zerolatency, CRF 28 — a video stream, as
    RustDesk and TeamViewer use), and a whole JPEG per picture. Bytes and CPU per picture."""
    from agent.screen.encoder import encode_tiles
    from agent.screen.inject import XInjector
    from agent.screen.tiles import Picture, changed_mask, rects

    os.environ["DISPLAY"] = display
    typist = XInjector(name=display)
    pictures: list[Picture] = []
    with mss.MSS() as grab:
        mon = grab.monitors[1]
        for _ in range(frames):
            typist.apply([TypeText(text="x")])
            time.sleep(0.03)
            shot = grab.grab(mon)
            pictures.append(Picture(shot.width, shot.height, bytes(shot.bgra)))
    typist.close()
    h, w = pictures[0].height, pictures[0].width
    rows = []
    began, sizes, prev = time.process_time(), [], None
    for pic in pictures:
        sizes.append(sum(len(t.jpeg) for t in encode_tiles(pic, rects(changed_mask(prev, pic), w, h), 70)))
        prev = pic
    rows.append(("JPEG tiles (ours)", sizes, time.process_time() - began))
    arrays = [np.frombuffer(p.data, dtype=np.uint8).reshape(p.height, p.width, 4) for p in pictures]
    began, sizes = time.process_time(), []
    for array in arrays:
        sizes.append(
            len(
                simplejpeg.encode_jpeg(
                    array, quality=70, colorspace="BGRA", colorsubsampling="420", fastdct=True
                )
            )
        )
    rows.append(("whole JPEG per picture", sizes, time.process_time() - began))
    try:
        import av
    except ImportError:
        print("(PyAV not installed: `uv pip install av` to compare with H.264)")
    else:
        codec = av.CodecContext.create("libx264", "w")
        codec.width, codec.height, codec.pix_fmt = w, h, "yuv420p"
        codec.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": "28"}
        began, sizes = time.process_time(), []
        for n, array in enumerate(arrays):
            frame = av.VideoFrame.from_ndarray(array, format="bgra").reformat(format="yuv420p")
            frame.pts = n
            sizes.append(sum(len(bytes(p)) for p in codec.encode(frame)))
        sizes[-1] += sum(len(bytes(p)) for p in codec.encode(None))
        rows.append(("H.264 (PyAV, libx264 ultrafast)", sizes, time.process_time() - began))
    print("| encoder, typing at 1080p | bytes/picture (first = key) | after the first | CPU ms/picture |")
    print("|---|---|---|---|")
    for name, sizes, cpu in rows:
        print(f"| {name} | {sizes[0]} | {statistics.mean(sizes[1:]):.0f} | {cpu / len(sizes) * 1000:.1f} |")


async def run(tmp: Path, display: str) -> None:
    app = subprocess.Popen(  # noqa: ASYNC220 (started once, before anything is measured)
        [sys.executable, str(APP)], env={**os.environ, "DISPLAY": display}, stdout=subprocess.PIPE, text=True
    )
    assert app.stdout is not None and app.stdout.readline().strip() == "ready"
    try:
        with real_server(tmp) as server, real_agent(tmp, server, DISPLAY=display) as agent:
            async with engineer(server) as eng:
                await eng.expect(Welcome)
                await asyncio.to_thread(agent.cli, "help", "bench", "--wait", "20")
                await eng.accept_ticket_of("bench")
                prompt = await asyncio.to_thread(agent.wait_prompt, "session")
                await asyncio.to_thread(agent.answer, prompt["id"], True)
                session = (await eng.expect(SessionAccept)).session or ""
                watch = Watch(eng)
                view = await eng.request(session, ScreenViewParams())
                await asyncio.to_thread(
                    agent.answer, (await asyncio.to_thread(agent.wait_prompt, "action"))["id"], True
                )
                await eng.expect(ActionProgress, body__action_id=view)
                control = await eng.request(session, ScreenControlParams(view=view))
                await asyncio.to_thread(
                    agent.answer, (await asyncio.to_thread(agent.wait_prompt, "action"))["id"], True
                )
                await eng.expect(ActionProgress, body__action_id=control)
                await asyncio.sleep(1.5)
                key = decode_screen(watch.frames[0][1])
                print(f"screen {key.width}x{key.height}, key frame {len(watch.frames[0][1]) / 1024:.0f} KiB")
                pid = agent.proc.pid
                results = {
                    "typing": await workload(
                        "typing", eng, watch, session, control, pid, [TypeText(text="a")]
                    ),
                    "scrolling": await workload(
                        "scrolling", eng, watch, session, control, pid, [Wheel(x=900, y=500, dy=1)]
                    ),
                    "full-screen change": await workload(
                        "full",
                        eng,
                        watch,
                        session,
                        control,
                        pid,
                        [Key(key="F9", down=True), Key(key="F9", down=False)],
                    ),
                }
                anchor = full_frame_anchor(display, results["typing"]["frames"])
                print(HEADER)
                print("|---|---|---|---|---|---|---|---|")
                for name, r in results.items():
                    print(
                        f"| {name} | {r['fps']:.1f} | {r['bytes_per_frame']:.0f} | {r['mbps']:.2f} |"
                        f" {r['agent_cpu_pct']:.0f} |"
                        f" {r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {anchor['bytes_per_frame']:.0f} |"
                    )
                print(
                    f"anchor: one full 1080p JPEG costs {anchor['cpu_ms_per_frame']:.1f} ms CPU to encode;"
                    f" at the typing frame rate that is "
                    f"{anchor['bytes_per_frame'] * results['typing']['fps'] * 8 / 1e6:.1f} Mb/s"
                )
        try:
            vnc = await vnc_anchor(display)  # the agent and server are gone: x11vnc has the same machine
        except (OSError, asyncio.IncompleteReadError) as exc:
            print(f"x11vnc anchor not measured: {exc}")
        else:
            print(VNC_HEADER)
            print("|---|---|---|---|---|---|---|")
            for name, r in vnc.items():
                print(
                    f"| {name} | {r['fps']:.1f} | {r['bytes_per_frame']:.0f} | {r['mbps']:.2f} |"
                    f" {r['cpu_pct']:.0f} | {r['p50_ms']:.0f} | {r['p95_ms']:.0f} |"
                )
        codec_choice(display)  # the agent and server are gone: the encoders have the CPU to themselves
    finally:
        app.terminate()
        app.wait(5)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, xvfb(1920, 1080) as display:
        asyncio.run(run(Path(tmp), display))


if __name__ == "__main__":
    main()
