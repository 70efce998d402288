"""The screen view and control end to end, with real processes on a real X server: Xvfb, a Tk program
(known colour, a button, a text field), `rme-server serve`, `rme-agent run` on that display, and a
protocol engineer client (the console's part is `test_screen_console.py`).

Proven here: without the user's Allow no frame leaves the agent (counted at the relay); the engineer
sees the known colour at the right place; a click presses the button; typed text (Chinese too)
arrives in the field; control without a view is refused; malformed input is rejected with a clear
error; the user's Stop and End each stop the stream within 200 ms."""

from __future__ import annotations

import asyncio
import json
import os
import re
import ssl
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import simplejpeg

from agent.screen.inject import XInjector
from protocol.actions import ScreenControlParams, ScreenViewParams
from protocol.messages import (
    ActionProgress,
    ActionResult,
    ActionStop,
    ActionStopBody,
    Error,
    ScreenInput,
    ScreenInputBody,
    SessionAccept,
    Welcome,
)
from protocol.screen import InputEvent, PointerButton, ScreenFrame, TypeText, decode_screen
from tests.e2e.harness import Engineer, RealAgent, RealServer, engineer, real_agent, real_server
from tests.screen.xdisplay import COLOUR, TkApp, window_named, xvfb

METRICS_TOKEN = "screen-test-metrics"
pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with xvfb(1024, 768) as name:
        yield name


@pytest.fixture(scope="module")
def screen_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealServer]:
    os.environ["RME_METRICS_TOKEN"] = METRICS_TOKEN  # inherited by `rme-server serve` only
    try:
        with real_server(Path(tmp_path_factory.mktemp("screen"))) as running:
            yield running
    finally:
        os.environ.pop("RME_METRICS_TOKEN", None)


def relay_counts(server: RealServer) -> tuple[float, float]:
    """(screen frames relayed to the engineer, frames dropped from agents) from the relay's metrics."""
    context = ssl.create_default_context(cafile=str(server.ca))
    with httpx.Client(base_url=server.https, verify=context, trust_env=False) as client:
        text = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    relayed = re.search(r'rme_relay_relayed_total\{type="screen.frame"\} ([0-9.e+]+)', text)
    dropped = sum(
        float(m.group(1))
        for m in re.finditer(r'rme_relay_dropped_frames_total\{[^}]*peer="agent"[^}]*\} ([0-9.e+]+)', text)
    )
    return (float(relayed.group(1)) if relayed else 0.0), dropped


class Screen:
    """The engineer's picture, built from the frames as the console builds it."""

    def __init__(self) -> None:
        self.picture: np.ndarray | None = None
        self.frames = 0
        self.last_at = 0.0

    def apply(self, frame: ScreenFrame) -> None:
        if self.picture is None or self.picture.shape[:2] != (frame.height, frame.width):
            self.picture = np.zeros((frame.height, frame.width, 3), dtype=np.uint8)
        for tile in frame.tiles:
            rgb = simplejpeg.decode_jpeg(bytes(tile.jpeg), colorspace="RGB")
            self.picture[tile.y : tile.y + tile.h, tile.x : tile.x + tile.w] = rgb
        self.frames += 1
        self.last_at = time.monotonic()


class Arrivals:
    """When each binary frame reached the engineer (polled every 5 ms beside the client's reader)."""

    def __init__(self, eng: Engineer) -> None:
        self.eng = eng
        self.times: list[tuple[float, bytes]] = []
        self.seen = 0
        self.task = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        while True:
            frames = self.eng.frames
            now = time.monotonic()
            for raw in frames[self.seen :]:
                if isinstance(raw, bytes):
                    self.times.append((now, raw))
            self.seen = len(frames)
            await asyncio.sleep(0.005)

    def last(self) -> float:
        return self.times[-1][0] if self.times else 0.0


async def follow(eng: Engineer, screen: Screen, since: int) -> int:
    """Apply every screen frame received after index `since`; returns the new index."""
    frames = eng.frames
    for raw in frames[since:]:
        if isinstance(raw, bytes):
            screen.apply(decode_screen(raw))
    return len(frames)


async def open_session(eng: Engineer, agent: RealAgent, words: str) -> str:
    await eng.expect(Welcome)
    await asyncio.to_thread(agent.cli, "help", words, "--wait", "20")
    await eng.accept_ticket_of(words)
    prompt = await asyncio.to_thread(agent.wait_prompt, "session")
    await asyncio.to_thread(agent.answer, prompt["id"], True)
    return (await eng.expect(SessionAccept)).session or ""


async def start(
    eng: Engineer, agent: RealAgent, session: str, params: ScreenViewParams | ScreenControlParams
) -> str:
    """Request a screen view or control, the user allows it, wait until it is on; its action id."""
    action_id = await eng.request(session, params)
    await allow_next(agent)
    await eng.expect(ActionProgress, body__action_id=action_id)
    return action_id


async def allow_next(agent: RealAgent) -> None:
    prompt = await asyncio.to_thread(agent.wait_prompt, "action")
    await asyncio.to_thread(agent.answer, prompt["id"], True)


def press(x: int, y: int) -> list[InputEvent]:
    return [PointerButton(x=x, y=y, button=1, down=True), PointerButton(x=x, y=y, button=1, down=False)]


def inputs(session: str, action_id: str, events: list[InputEvent]) -> ScreenInput:
    return ScreenInput(session=session, body=ScreenInputBody(action_id=action_id, events=events))


def binary_count(eng: Engineer) -> int:
    return sum(1 for f in eng.frames if isinstance(f, bytes))


async def test_view_and_control_a_real_x_program(
    tmp_path: Path, screen_server: RealServer, display: str
) -> None:
    app = TkApp(display)
    try:
        with real_agent(tmp_path, screen_server, DISPLAY=display) as agent:
            async with engineer(screen_server) as eng:
                session = await open_session(eng, agent, "screen please")
                screen = Screen()
                arrivals = Arrivals(eng)

                # Control without a view: refused before the user is asked.
                control = await eng.request(session, ScreenControlParams(view="no-such-view"))
                refused = await eng.expect(Error)
                assert refused.body.code == "action.refused" and "screen view" in refused.body.message

                # The view asked, not yet allowed: nothing leaves the agent.
                view = await eng.request(session, ScreenViewParams(monitor=0))
                await asyncio.to_thread(agent.wait_prompt, "action")
                await asyncio.sleep(1.0)
                assert binary_count(eng) == 0
                assert relay_counts(screen_server) == (0.0, 0.0)

                await allow_next(agent)
                live = await eng.expect(ActionProgress, body__action_id=view)
                assert live.body.note == "live" and live.body.total == 1
                seen = 0
                deadline = time.monotonic() + 15
                block = app.geometry["block"]
                while time.monotonic() < deadline:
                    seen = await follow(eng, screen, seen)
                    if screen.picture is not None:
                        cx, cy = block.centre
                        if tuple(int(v) for v in screen.picture[cy, cx]) == pytest.approx(COLOUR, abs=6):
                            break
                    await asyncio.sleep(0.05)
                assert screen.picture is not None, "no screen frame reached the engineer"
                cx, cy = block.centre
                assert np.allclose(screen.picture[cy, cx], COLOUR, atol=6), screen.picture[cy, cx]
                # ... and not outside the block: the colour is at the right place.
                assert not np.allclose(screen.picture[block.y - 30, cx], COLOUR, atol=6)
                relayed, dropped = relay_counts(screen_server)
                assert relayed >= 1 and dropped == 0

                # Control, with the user's second Allow.
                control = await start(eng, agent, session, ScreenControlParams(view=view))
                bx, by = app.geometry["button"].centre
                click = press(bx, by)
                await eng.send(inputs(session, control, click))
                assert await asyncio.to_thread(app.wait_for, "pressed", 10)
                ex, ey = app.geometry["entry"].centre
                await eng.send(inputs(session, control, press(ex, ey)))
                await asyncio.sleep(0.3)
                typed: list[InputEvent] = [TypeText(text="Hello 你好，世界")]
                await eng.send(inputs(session, control, typed))
                assert await asyncio.to_thread(app.wait_for, "text Hello 你好，世界", 10), app.lines[-3:]

                # Malformed input: rejected at the relay with a clear error, nothing reaches the screen.
                bad = {
                    "v": 1,
                    "id": "bad1",
                    "session": session,
                    "ts": 1,
                    "type": "screen.input",
                    "body": {"action_id": control, "events": [{"type": "move", "x": -5, "y": 1}]},
                }
                await eng.ws.send(json.dumps(bad))
                error = await eng.expect(Error, body__code="frame.dropped")
                assert "greater than or equal to 0" in error.body.message
                # Input for the view (not a control): refused by the relay.
                await eng.send(inputs(session, view, click))
                error = await eng.expect(Error, body__code="action.refused")
                assert "not a screen control" in error.body.message

                # The user's Stop (panel): the stream stops within 200 ms; the control goes with it.
                await asyncio.sleep(0.5)
                with agent._client() as panel:
                    panel.get("/api/state")
                    clicked = time.monotonic()
                    stop = await asyncio.to_thread(panel.post, "/api/screen/stop", json={"action_id": view})
                assert stop.status_code == 200
                results: dict[str, str] = {}
                while len(results) < 2:  # the view's result and its control's, in either order
                    got = await eng.expect(ActionResult)
                    results[got.body.action_id] = got.body.outcome.stopped_by  # type: ignore[union-attr]
                assert results == {view: "user", control: "view_ended"}
                stopped_at = time.monotonic()
                await asyncio.sleep(0.6)
                seen = await follow(eng, screen, seen)
                assert arrivals.last() - clicked < 0.2, (
                    f"a frame {arrivals.last() - clicked:.3f} s after Stop"
                )
                assert stopped_at - clicked < 1.0

                # A second view, then the engineer stops it (action.stop).
                view2 = await start(eng, agent, session, ScreenViewParams())
                await eng.send(ActionStop(session=session, body=ActionStopBody(action_id=view2)))
                result = await eng.expect(ActionResult, body__action_id=view2)
                assert result.body.outcome.stopped_by == "engineer"  # type: ignore[union-attr]

                # A view stopped by the user on the on-screen indicator (its Stop button, clicked on X).
                view4 = await start(eng, agent, session, ScreenViewParams())
                bar = window_named(display, "RME")
                assert bar is not None and bar.y == 0  # shown, at the top of the screen
                clicker = XInjector(name=display)
                stop_x, stop_y = bar.x + bar.w - 30, bar.y + bar.h // 2
                clicker.apply([PointerButton(x=stop_x, y=stop_y, button=1, down=True)])
                clicker.apply([PointerButton(x=stop_x, y=stop_y, button=1, down=False)])
                clicker.close()
                result = await eng.expect(ActionResult, body__action_id=view4)
                assert result.body.outcome.stopped_by == "user"  # type: ignore[union-attr]
                await asyncio.sleep(0.3)
                assert window_named(display, "RME") is None  # the indicator goes with the view

                # A third view, then End: the stream stops within 200 ms.
                await start(eng, agent, session, ScreenViewParams())
                before = len(arrivals.times)
                deadline = time.monotonic() + 10
                while len(arrivals.times) < before + 3 and time.monotonic() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
                assert len(arrivals.times) >= before + 3  # frames flow (the ticker changes 20 times a second)
                with agent._client() as panel:  # the click is the request leaving (connection made)
                    panel.get("/api/state")
                    clicked = time.monotonic()
                    await asyncio.to_thread(panel.post, "/api/end", json={})
                await asyncio.sleep(0.8)
                assert arrivals.last() - clicked < 0.2, f"a frame {arrivals.last() - clicked:.3f} s after End"
                # No indicator is left on the user's screen after the end.
                await asyncio.sleep(0.3)
                assert not [p for p in _processes() if "agent.screen.indicator" in p]

        # The audit: who asked, the Allow, the engineer's stop, how long each ran and who stopped it;
        # never a pixel.
        out = tmp_path / "audit"
        await asyncio.to_thread(screen_server.admin, "audit", "export", session, "--out", str(out))
        record = next(out.glob("*.json")).read_text(encoding="utf-8")
        events = [json.loads(e["leaf"]) for e in json.loads(record)["events"]]
        requested = {e["data"]["action"]["kind"] for e in events if e["kind"] == "action.request"}
        assert requested == {"screen_view", "screen_control"}
        ends = [e["data"]["outcome"] for e in events if e["kind"] == "action.result"]
        assert {o["stopped_by"] for o in ends} == {"user", "engineer", "view_ended"}
        assert all(o["kind"] == "screen" and o["duration_ms"] >= 0 for o in ends)
        stops = [e for e in events if e["kind"] == "screen.stop"]
        assert stops and stops[0]["actor"] == "engineer:wangwei"
        assert "jpeg" not in record.lower() and "RMES" not in record and len(record) < 300_000
    finally:
        app.close()


def _processes() -> list[str]:
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline"]):
        found.append(" ".join(proc.info["cmdline"] or []))
    return found
