"""Property-based fuzzing of the decoders: any input gives a valid message or one RemoteProtocolError.

Five properties, 100,000 generated inputs in all in the full run (cheap strategies get more examples).
Set RME_FUZZ_SCALE below 1 for a quick local run.
"""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocol import FileChunk, RemoteProtocolError, decode, decode_chunk, encode, encode_chunk
from protocol.codec import CHUNK_MAGIC
from tests.protocol.vectors import load

FUZZ_SCALE = float(os.environ.get("RME_FUZZ_SCALE", "1"))
# Examples per property; they sum to 100,000.
EXAMPLES = {"bytes": 30_000, "text": 30_000, "chunks": 20_000, "flips": 10_000, "mutated": 10_000}
assert sum(EXAMPLES.values()) == 100_000


def fuzz(kind: str) -> settings:
    return settings(
        max_examples=max(1, int(EXAMPLES[kind] * FUZZ_SCALE)),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


VALID_FRAMES = [json.loads(c["frame"]) for c in load("valid.json") if c["kind"] == "text"]

json_scalars = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=40)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=20,
)


def _decode_or_reject(frame: str | bytes) -> None:
    try:
        message = decode(frame)
    except RemoteProtocolError as exc:
        assert exc.reason
        return
    # Whatever is accepted is fully valid: it re-encodes and decodes to the same message.
    assert decode(encode(message)) == message


@fuzz("bytes")
@given(st.binary(max_size=512))
def test_random_bytes(data: bytes) -> None:
    _decode_or_reject(data)


@fuzz("text")
@given(st.text(max_size=512))
def test_random_text(text: str) -> None:
    _decode_or_reject(text)


@st.composite
def mutated_frames(draw: st.DrawFn) -> Any:
    """A valid frame with one field somewhere replaced, removed or added: reaches deep validation."""
    frame = json.loads(json.dumps(draw(st.sampled_from(VALID_FRAMES))))
    path: list[Any] = []
    node: Any = frame
    while isinstance(node, dict | list) and node and draw(st.booleans()):
        key = draw(st.sampled_from(list(node.keys()) if isinstance(node, dict) else list(range(len(node)))))
        path.append(key)
        node = node[key]
    parent: Any = frame
    for key in path[:-1]:
        parent = parent[key]
    action = draw(st.sampled_from(["replace", "delete", "add"]))
    if not path:
        frame[draw(st.text(max_size=8))] = draw(json_values)
    elif action == "replace":
        parent[path[-1]] = draw(json_values)
    elif action == "delete":
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent[draw(st.text(max_size=8))] = draw(json_values)
    return frame


@fuzz("mutated")
@given(mutated_frames())
def test_mutated_valid_frames(frame: Any) -> None:
    try:
        text = json.dumps(frame, allow_nan=True)
    except (ValueError, TypeError):
        return
    _decode_or_reject(text)


@fuzz("flips")
@given(st.sampled_from([c["frame"] for c in load("valid.json") if c["kind"] == "text"]), st.data())
def test_byte_flips_of_valid_frames(frame: str, data: st.DataObject) -> None:
    raw = bytearray(frame.encode())
    for _ in range(data.draw(st.integers(1, 4))):
        index = data.draw(st.integers(0, len(raw) - 1))
        raw[index] = data.draw(st.integers(0, 255))
    _decode_or_reject(bytes(raw))


@fuzz("chunks")
@given(
    st.one_of(
        st.binary(max_size=128),
        st.builds(lambda tail: CHUNK_MAGIC + tail, st.binary(max_size=128)),
        st.builds(lambda flags, n, tail: CHUNK_MAGIC + bytes([1, flags, n]) + tail,
                  st.integers(0, 255), st.integers(0, 80), st.binary(max_size=120)),
    )
)  # fmt: skip
def test_random_chunk_frames(data: bytes) -> None:
    try:
        chunk = decode_chunk(data)
    except RemoteProtocolError as exc:
        assert exc.reason
        return
    assert isinstance(chunk, FileChunk)
    assert encode_chunk(chunk) == data
