from typing import Any

import pytest

from protocol import FileChunk, RemoteProtocolError, decode, decode_chunk, encode, encode_chunk
from protocol.errors import LocalProtocolError
from protocol.messages import MESSAGE_TYPES, Chat, ChatBody
from protocol.screen import decode_screen, encode_screen
from tests.protocol.vectors import frame_of, load

VALID = load("valid.json")
INVALID = load("invalid.json")


@pytest.mark.parametrize("case", [c for c in VALID if c["kind"] == "text"], ids=lambda c: c["name"])
def test_valid_text_vectors_decode_and_round_trip(case: dict[str, Any]) -> None:
    message = decode(case["frame"])
    assert message.type == case["type"]
    assert decode(encode(message)) == message


@pytest.mark.parametrize("case", [c for c in VALID if c["kind"] == "binary"], ids=lambda c: c["name"])
def test_valid_chunk_vectors(case: dict[str, Any]) -> None:
    chunk = decode_chunk(bytes.fromhex(case["frame_hex"]))
    assert (chunk.action_id, chunk.offset, bytes(chunk.payload), chunk.last) == (
        case["action_id"], case["offset"], bytes.fromhex(case["payload_hex"]), case["last"])  # fmt: skip
    assert encode_chunk(chunk).hex() == case["frame_hex"]


@pytest.mark.parametrize("case", [c for c in VALID if c["kind"] == "screen"], ids=lambda c: c["name"])
def test_valid_screen_vectors(case: dict[str, Any]) -> None:
    frame = decode_screen(bytes.fromhex(case["frame_hex"]))
    assert (frame.action_id, frame.seq, frame.width, frame.height, frame.key) == (
        case["action_id"], case["seq"], case["width"], case["height"], case["key"])  # fmt: skip
    assert [[t.x, t.y, t.w, t.h, bytes(t.jpeg).hex()] for t in frame.tiles] == case["tiles"]
    assert encode_screen(frame).hex() == case["frame_hex"]


@pytest.mark.parametrize("case", INVALID, ids=lambda c: c["name"])
def test_invalid_vectors_raise_protocol_error_with_reason(case: dict[str, Any]) -> None:
    frame = frame_of(case)
    with pytest.raises(RemoteProtocolError) as info:
        if case["kind"] == "binary":
            decode_chunk(frame if isinstance(frame, bytes) else frame.encode())
        elif case["kind"] == "screen":
            decode_screen(frame if isinstance(frame, bytes) else frame.encode())
        else:
            decode(frame)
    assert case["error_contains"] in info.value.reason


def test_every_message_type_has_a_valid_vector() -> None:
    covered = {c["type"] for c in VALID if c["kind"] == "text"}
    assert covered == set(MESSAGE_TYPES)


def test_decode_accepts_str_bytes_and_memoryview_alike() -> None:
    frame = encode(Chat(session="s1", body=ChatBody(text="你好")))
    assert decode(frame) == decode(frame.decode()) == decode(memoryview(frame)) == decode(bytearray(frame))


def test_decoded_messages_are_immutable() -> None:
    message = decode(encode(Chat(body=ChatBody(text="x"))))
    with pytest.raises(Exception, match="frozen"):
        message.id = "other"


def test_encode_refuses_a_frame_over_the_limit() -> None:
    from protocol.actions import CommandOutcome
    from protocol.messages import ActionResult, ActionResultBody

    # 64 KiB of characters that JSON escapes six-fold still fits: the limit is sized for the worst case.
    output = "\x01" * 65536
    big = ActionResult(body=ActionResultBody(action_id="a", status="ok", outcome=CommandOutcome(
        exit_code=0, output=output, duration_ms=1)))  # fmt: skip
    assert decode(encode(big)) == big


def test_encode_chunk_refuses_bad_fields() -> None:
    with pytest.raises(LocalProtocolError):
        encode_chunk(FileChunk("../x", 0, b""))
    with pytest.raises(LocalProtocolError):
        encode_chunk(FileChunk("a", 0, bytes(256 * 1024 + 1)))
    with pytest.raises(LocalProtocolError):
        encode_chunk(FileChunk("a", -1, b""))


def test_chunk_payload_is_a_view_not_a_copy() -> None:
    frame = encode_chunk(FileChunk("a", 0, b"payload", True))
    chunk = decode_chunk(frame)
    assert isinstance(chunk.payload, memoryview)
    assert bytes(chunk.payload) == b"payload"
    assert chunk.end == 7
