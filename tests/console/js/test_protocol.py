"""The console's JS port of the protocol (`console/js/protocol.js`) against the Python reference,
run in the real browser: chunk frames decode with `protocol.codec.decode_chunk`, the engineer's rows
of the direction table match `protocol.directions`, envelopes decode with the strict Python decoder,
and the action lifecycle agrees with `protocol.lifecycle`."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from protocol.codec import decode, decode_chunk
from protocol.directions import DIRECTION_TABLE, SCREEN, Peer, is_allowed
from protocol.lifecycle import ACTION_TRANSITIONS, ActionState
from protocol.limits import MAX_CHUNK_PAYLOAD, MAX_FILE_SIZE
from tests.console.conftest import new_context
from tests.server.helpers import RunningServer

MODULE = "/console/js/protocol.js"


@pytest.fixture
def page(console_server: RunningServer, browser: Browser) -> Iterator[Page]:
    context = new_context(browser)
    page = context.new_page()
    page.goto(f"{console_server.base}/console/")  # the login page: same origin, no session needed
    try:
        yield page
    finally:
        context.close()


def js(page: Page, body: str, arg: Any = None) -> Any:
    """Run `body` (an async function body with `p` = the protocol module and `arg`) in the page."""
    return page.evaluate(f"async (arg) => {{ const p = await import('{MODULE}'); {body} }}", arg)


def outcome(page: Page, call: str) -> str:
    """`call`'s error message, or "accepted" if it did not throw."""
    return str(js(page, f"try {{ {call}; return 'accepted'; }} catch (e) {{ return e.message; }}"))


@pytest.mark.parametrize(
    ("size", "offset", "last"),
    # The last two reach the 4 GiB limit exactly; the last needs the offset's high 32 bits.
    [
        (0, 0, True),
        (1, 7, False),
        (MAX_CHUNK_PAYLOAD, MAX_FILE_SIZE - MAX_CHUNK_PAYLOAD, True),
        (0, MAX_FILE_SIZE, True),
    ],
)
def test_chunk_frames_decode_with_the_reference_codec(page: Page, size: int, offset: int, last: bool) -> None:
    payload = os.urandom(size)
    frame_b64 = js(
        page,
        """const bin = Uint8Array.from(atob(arg.payload), (c) => c.charCodeAt(0));
           const frame = p.encodeChunk(arg.id, arg.offset, bin, arg.last);
           let s = "";
           for (let i = 0; i < frame.length; i += 8192) {
             s += String.fromCharCode(...frame.subarray(i, i + 8192));
           }
           return btoa(s);""",
        {"payload": base64.b64encode(payload).decode(), "id": "act_1.x:y-z", "offset": offset, "last": last},
    )
    chunk = decode_chunk(base64.b64decode(frame_b64))
    assert (chunk.action_id, chunk.offset, chunk.last) == ("act_1.x:y-z", offset, last)
    assert bytes(chunk.payload) == payload


def test_chunk_encoder_refuses_what_the_protocol_forbids(page: Page) -> None:
    refusals = js(
        page,
        """const tries = [
             () => p.encodeChunk("bad id!", 0, new Uint8Array(1), true),
             () => p.encodeChunk("a", 0, new Uint8Array(p.MAX_CHUNK_PAYLOAD + 1), true),
             () => p.encodeChunk("a", -1, new Uint8Array(1), true),
             () => p.encodeChunk("a", 4 * 2 ** 30, new Uint8Array(1), true)];
           return tries.map((f) => { try { f(); return "accepted"; } catch (e) { return e.name; } });""",
    )
    assert refusals == ["Error"] * 4


def test_direction_rows_match_the_reference_table(page: Page) -> None:
    sets = js(page, "return { sends: [...p.ENGINEER_SENDS], receives: [...p.ENGINEER_RECEIVES] };")
    expected_sends = {
        t for t in DIRECTION_TABLE if t != "chunk" and is_allowed(t, Peer.ENGINEER, Peer.SERVER)
    }
    expected_receives = {
        t for t in DIRECTION_TABLE if t != SCREEN and is_allowed(t, Peer.SERVER, Peer.ENGINEER)
    }  # screen frames are binary: `decodeScreen`, tested below
    assert set(sets["sends"]) == expected_sends
    assert set(sets["receives"]) == expected_receives


def test_envelopes_pass_the_strict_python_decoder(page: Page) -> None:
    frames = js(
        page,
        """return [
             p.hello(),
             p.envelope("ticket.accept", { ticket_id: "t_1" }),
             p.envelope("chat", { text: "您好" }, "s_1"),
             p.envelope("action.request", { action_id: p.newId(), reason: "",
               action: { kind: "push_file", name: "a.bin", size: 3, sha256: "0".repeat(64) } }, "s_1"),
             p.envelope("session.end", { reason: "resolved", resolution: "dns.fixed", note: "ok" }, "s_1"),
           ].map((m) => JSON.stringify(m));""",
    )
    types = [decode(frame).type for frame in frames]
    assert types == ["hello", "ticket.accept", "chat", "action.request", "session.end"]
    refused = outcome(page, 'p.envelope("help.request", { words: "x" })')
    assert "may not send" in refused


def test_incoming_frames_are_checked(page: Page) -> None:
    verdicts = js(
        page,
        """const cases = [
             '{"v":1,"type":"chat","id":"m1","session":"s1","ts":1,"body":{"text":"hi"}}',
             '{"v":1,"type":"help.request","id":"m1","session":null,"ts":1,"body":{"words":"x"}}',
             '{"v":2,"type":"chat","id":"m1","session":"s1","ts":1,"body":{"text":"hi"}}',
             '{"v":1,"type":"chat","id":"bad id","session":"s1","ts":1,"body":{"text":"hi"}}',
             '[1,2]', 'not json'];
           return cases.map((c) => { try { return p.decode(c).type; } catch (e) { return "refused"; } });""",
    )
    assert verdicts == ["chat", "refused", "refused", "refused", "refused", "refused"]


def test_action_lifecycle_agrees_with_the_reference(page: Page) -> None:
    # The console names the "denied by timeout" state apart (`timed_out`) to tell the engineer the
    # user never answered; the reference folds it into DENIED.
    rename = {"timed_out": "denied"}
    pairs = [(state.value, event) for (state, event) in ACTION_TRANSITIONS if event != "session.end"]
    got = js(
        page,
        "return arg.map(([s, e]) => { try { return p.advanceAction(s, e); } catch (x) { return null; } });",
        pairs,
    )
    for (state, event), value in zip(pairs, got, strict=True):
        expected = ACTION_TRANSITIONS[(ActionState(state), event)].value
        assert rename.get(value, value) == expected, (state, event, value)
    illegal = outcome(page, 'p.advanceAction("requested", "action.result:ok")')
    assert "not allowed" in illegal


def test_sha256_matches_hashlib(page: Page) -> None:
    data = os.urandom(70_000)
    digest = js(
        page,
        "return p.sha256Hex(new Blob([Uint8Array.from(atob(arg), (c) => c.charCodeAt(0))]));",
        base64.b64encode(data).decode(),
    )
    assert digest == hashlib.sha256(data).hexdigest()


def test_screen_frames_decode_like_the_reference_and_bad_ones_are_refused(page: Page) -> None:
    from tests.protocol.vectors import frame_of, load

    valid = [c for c in load("valid.json") if c["kind"] == "screen"]
    got = js(
        page,
        """return arg.map((hex) => {
             const bytes = new Uint8Array(hex.match(/../g).map((h) => parseInt(h, 16)));
             const f = p.decodeScreen(bytes.buffer);
             return [f.actionId, f.seq, f.width, f.height, f.key,
                     f.tiles.map((t) => [t.x, t.y, t.w, t.h,
                       Array.from(t.jpeg, (b) => b.toString(16).padStart(2, "0")).join("")])];
           });""",
        [c["frame_hex"] for c in valid],
    )
    for case, frame in zip(valid, got, strict=True):
        assert frame == [
            case["action_id"],
            case["seq"],
            case["width"],
            case["height"],
            case["key"],
            case["tiles"],
        ]
    invalid = [frame_of(c) for c in load("invalid.json") if c["kind"] == "screen"]
    errors = js(
        page,
        """return arg.map((hex) => {
             const bytes = new Uint8Array((hex.match(/../g) || []).map((h) => parseInt(h, 16)));
             try { p.decodeScreen(bytes.buffer); return "accepted"; } catch (e) { return e.message; }
           });""",
        [bytes(f).hex() if isinstance(f, bytes) else f.encode().hex() for f in invalid],
    )
    assert invalid and all(e.startswith("bad screen frame") for e in errors), errors
