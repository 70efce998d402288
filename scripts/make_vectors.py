"""Regenerate `protocol/vectors/*.json` (deterministic). Run: .venv/bin/python -m scripts.make_vectors

The vectors are the protocol's conformance suite for any implementation; the JSON files are the
artefact, this script only saves typing. Review the diff after running it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from protocol.codec import FileChunk, encode_chunk
from protocol.directions import CHUNK, DIRECTION_TABLE
from protocol.limits import MAX_CHUNK_PAYLOAD, MAX_TEXT_FRAME
from protocol.screen import ScreenFrame, Tile, encode_screen

OUT = Path(__file__).resolve().parent.parent / "protocol" / "vectors"
ENV = {"v": 1, "id": "m1", "session": None, "ts": 1767225600000}
SESSION = {**ENV, "session": "s1"}

REPORT: dict[str, Any] = {
    "verdict": "offline",
    "root_cause": "dns.unreachable",
    "findings": [
        {"check": "dns.answer", "status": "fail", "code": "dns.unreachable",
         "summary": "DNS servers do not answer", "evidence": {"servers": ["192.168.1.1"], "timeout_ms": 800},
         "repair": "dns.set_reference"},
        {"check": "internet.ip", "status": "ok", "code": None, "summary": "Internet answers by IP",
         "evidence": {}, "repair": None},
    ],
    "interface": "eth0",
    "duration_ms": 912,
    "lang": "en",
}  # fmt: skip


# The shape only: a real one verifies (see agent/evidence and tests/agent/evidence).
EVIDENCE: dict[str, Any] = {
    "index": 4,
    "leaf": '{"actor":"device:d1","data":{"reason":"ended_by_user"},"index":4,"kind":"session.end",'
            '"session":"s1","session_prev":3,"time":"2026-01-01T00:00:00.000000Z","v":1}',
    "proof": ["A" * 43 + "=", "B" * 43 + "="],
    "checkpoint": "rme-audit\n5\n" + "C" * 43 + "=\n\n\u2014 rme-audit " + "D" * 92 + "\n",
    "log_key": "rme-audit+01020304+" + "E" * 44,
    "witness_keys": ["witness.example+05060708+" + "F" * 44],
}  # fmt: skip


def msg(type_: str, body: dict[str, Any], env: dict[str, Any] = ENV) -> dict[str, Any]:
    return {**env, "type": type_, "body": body}


VALID: list[tuple[str, dict[str, Any]]] = [
    ("hello-agent", msg("hello", {"role": "agent", "versions": [1], "software": "rme-agent 0.1", "os": "Windows 11"})),
    ("hello-future-version", {**msg("hello", {"role": "engineer", "versions": [1, 2], "software": "console"}), "v": 2}),
    ("welcome", msg("welcome", {"version": 1, "server": "rme-server 0.1", "heartbeat_s": 30})),
    ("auth-challenge", msg("auth.challenge", {"nonce": "A" * 43})),
    ("auth-response", msg("auth.response", {"device_id": "d1", "signature": "B" * 86,
                                            "channel_binding": "tls-server-end-point"})),
    ("auth-ok", msg("auth.ok", {"device_id": "d1", "customer_id": "c1"})),
    ("enroll-request", msg("enroll.request", {"code": "K7Q2-9XZP", "public_key": "C" * 43,
                                              "device_name": "客厅电脑", "os": "Windows 10"})),
    ("enroll-ok", msg("enroll.ok", {"device_id": "d1", "customer_id": "c1"})),
    ("heartbeat", msg("heartbeat", {"seq": 7})),
    ("help-request", msg("help.request", {"words": "上不了网", "report": REPORT, "lang": "zh-CN"})),
    ("help-request-no-report", msg("help.request", {"words": "", "report": None, "lang": "en"})),
    ("help-queued", msg("help.queued", {"ticket_id": "t1", "position": 2, "estimated_wait_s": 40})),
    ("help-refused", msg("help.refused", {"reason": "subscription.suspended",
                                          "message": {"zh_CN": "您的服务已暂停", "en": "Your service is suspended"}})),
    ("queue-update", msg("queue.update", {"changed": [{
        "ticket_id": "t1", "state": "queued", "customer_id": "c1", "customer_name": "张三",
        "subscription": "active", "words": "上不了网", "verdict": "offline", "root_cause": "dns.unreachable",
        "created_ms": 1767225600000}, {
        "ticket_id": "t2", "state": "active", "customer_id": "c2", "customer_name": "Li Si",
        "subscription": "active", "words": "slow", "created_ms": 1767225660000, "engineer_id": "e1"}],
        "removed": [], "snapshot": True})),
    ("ticket-accept", msg("ticket.accept", {"ticket_id": "t1"})),
    ("session-offer", msg("session.offer", {"ticket_id": "t1", "engineer": {"id": "e1", "name": "王工"}}, SESSION)),
    ("session-accept", msg("session.accept", {}, SESSION)),
    ("session-decline", msg("session.decline", {"reason": None}, SESSION)),
    ("action-diagnose", msg("action.request", {"action_id": "a1", "action": {"kind": "diagnose", "interface": None},
                                               "reason": "re-check"}, SESSION)),
    ("action-repair", msg("action.request", {"action_id": "a2", "action": {"kind": "repair",
                                             "repair": "dns.set_reference", "interface": "eth0"}, "reason": ""}, SESSION)),
    ("action-command", msg("action.request", {"action_id": "a3", "action": {"kind": "command",
                                              "command": "ipconfig /all", "timeout_s": 30}, "reason": ""}, SESSION)),
    ("action-push-file", msg("action.request", {"action_id": "a4", "action": {"kind": "push_file",
                             "name": "driver.zip", "size": 5, "sha256": "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"},
                             "reason": ""}, SESSION)),
    ("consent-request", msg("consent.request", {"action_id": "a1", "timeout_s": 60}, SESSION)),
    ("consent-reply", msg("consent.reply", {"action_id": "a1", "decision": "allowed", "reason": None}, SESSION)),
    ("action-progress", msg("action.progress", {"action_id": "a4", "done": 5, "total": 5, "note": None}, SESSION)),
    ("action-result-command", msg("action.result", {"action_id": "a3", "status": "ok", "outcome": {
        "kind": "command", "exit_code": 0, "output": "Windows IP Configuration", "truncated": False,
        "duration_ms": 120}, "error": None}, SESSION)),
    ("action-result-diagnose", msg("action.result", {"action_id": "a1", "status": "ok",
                                   "outcome": {"kind": "diagnose", "report": REPORT}, "error": None}, SESSION)),
    ("chat", msg("chat", {"text": "您好，我是王工"}, SESSION)),
    ("session-end", msg("session.end", {"reason": "ended_by_user", "resolution": None, "note": None}, SESSION)),
    ("feedback", msg("feedback", {"rating": 5, "comment": "很快"}, SESSION)),
    ("error", msg("error", {"code": "rate.limited", "message": "slow down", "ref": "m0"})),
    ("audit-evidence", msg("audit.evidence", EVIDENCE, SESSION)),
    ("action-screen-view", msg("action.request", {"action_id": "a5", "action": {"kind": "screen_view", "monitor": 0},
                                                  "reason": "show me the error"}, SESSION)),
    ("action-screen-control", msg("action.request", {"action_id": "a6", "action": {"kind": "screen_control",
                                                     "view": "a5"}, "reason": ""}, SESSION)),
    ("action-stop", msg("action.stop", {"action_id": "a5"}, SESSION)),
    ("screen-input", msg("screen.input", {"action_id": "a6", "events": [
        {"type": "move", "x": 10, "y": 20}, {"type": "button", "x": 10, "y": 20, "button": 1, "down": True},
        {"type": "button", "x": 10, "y": 20, "button": 1, "down": False}, {"type": "wheel", "x": 5, "y": 5, "dy": -2},
        {"type": "key", "key": "Return", "down": True}, {"type": "text", "text": "你好 hello"}]}, SESSION)),
    ("action-result-screen", msg("action.result", {"action_id": "a5", "status": "ok", "outcome": {
        "kind": "screen", "duration_ms": 61000, "stopped_by": "user", "frames": 900}, "error": None}, SESSION)),
    ("help-request-item", msg("help.request", {"words": "电脑很慢", "report": None, "lang": "zh-CN",
                                               "service_item": "pc_tuneup"})),
    ("catalogue-request", msg("catalogue.request", {})),
    ("catalogue", msg("catalogue", {"billing": True, "plan": {"zh_CN": "宽带无忧", "en": "Broadband care"},
        "sessions_left": 1, "refusal": None, "items": [
        {"code": "network_repair", "name": {"zh_CN": "网络修复", "en": "Network repair"},
         "description": {"zh_CN": "", "en": ""}, "price_cents": 0, "list_price_cents": 2000, "currency": "CNY",
         "expected_minutes": 20, "included": True, "allowed": True, "reason": None},
        {"code": "pc_tuneup", "name": {"zh_CN": "电脑优化", "en": "PC tune-up"},
         "description": {"zh_CN": "清理启动项", "en": "Start-up items"}, "price_cents": 3000,
         "list_price_cents": 3000, "currency": "CNY", "expected_minutes": 30, "included": False,
         "allowed": True, "reason": None}]})),
    ("records-request", msg("records.request", {"limit": 20})),
    ("records", msg("records", {"receipts": ['{"format":"rme-service-receipt/1"}']})),
    ("action-service-item", msg("action.request", {"action_id": "a5", "action": {"kind": "service_item",
                                "item": "virus_cleanup"}, "reason": "病毒"}, SESSION)),
    ("action-result-service-item", msg("action.result", {"action_id": "a5", "status": "ok",
                                       "outcome": {"kind": "service_item", "item": "virus_cleanup"},
                                       "error": None}, SESSION)),
    ("action-rescue-write-image", msg("action.request", {"action_id": "a7", "action": {
        "kind": "rescue_write_image", "image": "debian-12.img.xz", "sha256": "b" * 64, "disk": "/dev/sda"},
        "reason": "重装系统"}, SESSION)),
    ("action-result-rescue-write-image", msg("action.result", {"action_id": "a7", "status": "ok", "outcome": {
        "kind": "rescue_write_image", "disk": "/dev/sda", "confirmed": True, "image_bytes": 2147483648,
        "disk_bytes": 256060514304, "written": 2147483648, "verified": True}, "error": None}, SESSION)),
]  # fmt: skip


def text(name: str, frame: str, reason: str) -> dict[str, Any]:
    return {"name": name, "kind": "text", "frame": frame, "error_contains": reason}


def raw(name: str, kind: str, data: bytes, reason: str) -> dict[str, Any]:
    return {"name": name, "kind": kind, "frame_hex": data.hex(), "error_contains": reason}


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


chat = msg("chat", {"text": "hi"}, SESSION)
INVALID: list[dict[str, Any]] = [
    text("empty", "", "not valid JSON"),
    text("not-json", "{", "not valid JSON"),
    text("array-top-level", "[]", "must be a JSON object"),
    text("unknown-type", dumps({**chat, "type": "file.download"}), "unknown message type"),
    text("missing-type", dumps({k: v for k, v in chat.items() if k != "type"}), "unknown message type"),
    text("wrong-version", dumps({**chat, "v": 2}), "unsupported protocol version"),
    text("version-as-string", dumps({**chat, "v": "1"}), "unsupported protocol version"),
    text("extra-envelope-field", dumps({**chat, "path": "/etc/passwd"}), "Extra inputs"),
    text("extra-body-field", dumps(msg("chat", {"text": "hi", "file": "x"})), "Extra inputs"),
    text("duplicate-key", '{"v":1,"v":1,"type":"heartbeat","id":"m","session":null,"ts":1,"body":{"seq":1}}',
         "duplicate key"),
    text("nan", dumps(chat).replace('"ts":1767225600000', '"ts":NaN'), "NaN is not allowed"),
    text("deep-nesting", "[" * 100_000 + "]" * 100_000, "nested too deeply"),
    text("evidence-too-deep", dumps(msg("help.request", {"words": "", "report": {**REPORT, "findings": [
        {**REPORT["findings"][0], "evidence": {"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}}}]}})), "deeper than"),
    text("chat-too-long", dumps(msg("chat", {"text": "x" * 4001}, SESSION)), "at most 4000"),
    text("oversized-frame", dumps(msg("chat", {"text": "x" * (MAX_TEXT_FRAME + 1)})), "larger than"),
    text("bool-as-int", dumps(msg("heartbeat", {"seq": True})), "valid integer"),
    text("negative-size", dumps(msg("action.request", {"action_id": "a", "action": {"kind": "push_file",
         "name": "x", "size": -1, "sha256": "0" * 64}})), "greater than or equal"),
    text("bad-sha256", dumps(msg("action.request", {"action_id": "a", "action": {"kind": "push_file",
         "name": "x", "size": 1, "sha256": "X" * 64}})), "should match pattern"),
    text("unknown-action-kind", dumps(msg("action.request", {"action_id": "a", "action": {"kind": "read_file",
         "path": "C:/Users"}})), "does not match any of the expected tags"),
    text("bad-id-chars", dumps({**chat, "id": "../../x"}), "should match pattern"),
    text("lone-surrogate-escape", dumps(chat).replace('"hi"', '"\\ud800"'), "unicode string"),
    text("evidence-bad-hash", dumps(msg("audit.evidence", {**EVIDENCE, "proof": ["not base64"]}, SESSION)),
         "should match pattern"),
    text("item-bad-code", dumps(msg("help.request", {"words": "", "service_item": "../x"})), "should match pattern"),
    text("write-image-disk-not-a-device", dumps(msg("action.request", {"action_id": "a", "action": {
         "kind": "rescue_write_image", "image": "x.img", "sha256": "0" * 64, "disk": "/dev/../etc/passwd"}})),
         "should match pattern"),
    text("rating-out-of-range", dumps(msg("feedback", {"rating": 6, "comment": ""})), "less than or equal"),
    raw("invalid-utf8", "text", b'{"v":1,"type":"chat","body":{"text":"\xff"}}', "not valid UTF-8"),
    raw("chunk-bad-magic", "binary", b"XXXX\x01\x00\x01a" + bytes(8), "bad magic"),
    raw("chunk-short", "binary", b"RMEC\x01", "shorter than its header"),
    raw("chunk-unknown-flags", "binary", b"RMEC\x01\x02\x01a" + bytes(8), "unknown chunk flags"),
    raw("chunk-bad-version", "binary", b"RMEC\x02\x00\x01a" + bytes(8), "unsupported chunk version"),
    raw("chunk-empty-id", "binary", b"RMEC\x01\x00\x00" + bytes(8), "id length"),
    raw("chunk-id-path", "binary", b"RMEC\x01\x00\x05../..\x00" + bytes(7), "id alphabet"),
    raw("chunk-truncated-offset", "binary", b"RMEC\x01\x00\x01a\x00\x00", "truncated"),
    raw("chunk-oversized", "binary", b"RMEC\x01\x00\x01a" + bytes(8) + bytes(MAX_CHUNK_PAYLOAD + 1), "larger than"),
    text("screen-input-unknown-event", dumps(msg("screen.input", {"action_id": "a6", "events": [
         {"type": "exec", "cmd": "sh"}]}, SESSION)), "does not match any of the expected tags"),
    text("screen-input-no-events", dumps(msg("screen.input", {"action_id": "a6", "events": []}, SESSION)),
         "at least 1 item"),
    text("screen-input-negative-x", dumps(msg("screen.input", {"action_id": "a6", "events": [
         {"type": "move", "x": -1, "y": 0}]}, SESSION)), "greater than or equal"),
    text("screen-input-bad-button", dumps(msg("screen.input", {"action_id": "a6", "events": [
         {"type": "button", "x": 1, "y": 1, "button": 9, "down": True}]}, SESSION)), "Input should be 1, 2 or 3"),
    text("screen-input-bad-key", dumps(msg("screen.input", {"action_id": "a6", "events": [
         {"type": "key", "key": "a b", "down": True}]}, SESSION)), "should match pattern"),
    raw("screen-short", "screen", b"RMES\x01", "shorter than its header"),
    raw("screen-unknown-flags", "screen", b"RMES\x01\x04\x01a" + bytes(10), "unknown screen frame flags"),
    raw("screen-zero-size", "screen", b"RMES\x01\x00\x01a" + bytes(10), "monitor size out of range"),
    raw("screen-tile-outside", "screen", b"RMES\x01\x00\x01a" + bytes(4) + (8).to_bytes(2, "big") * 2
        + (1).to_bytes(2, "big") + (4).to_bytes(2, "big") + bytes(2) + (8).to_bytes(2, "big") * 2 + bytes(4),
        "tile outside the monitor"),
    raw("screen-trailing-bytes", "screen", b"RMES\x01\x00\x01a" + bytes(4) + (8).to_bytes(2, "big") * 2
        + bytes(2) + b"x", "bytes after its last tile"),
    raw("chunk-beyond-max-file", "binary", b"RMEC\x01\x00\x01a" + (2**40).to_bytes(8, "big") + b"x",
        "beyond the largest"),
]  # fmt: skip

VALID_CHUNKS = [
    ("chunk-first", FileChunk("a4", 0, b"hel", False)),
    ("chunk-last", FileChunk("a4", 3, b"lo", True)),
    ("chunk-empty-last", FileChunk("a4", 5, b"", True)),
]

# Tile payloads are opaque to the protocol (JPEG to the agent and the console): short stand-ins here.
VALID_SCREENS = [
    (
        "screen-key-frame",
        ScreenFrame("a5", 0, 64, 32, (Tile(0, 0, 64, 32, b"\xff\xd8jpeg\xff\xd9"),), key=True),
    ),
    (
        "screen-two-tiles",
        ScreenFrame("a5", 1, 64, 32, (Tile(0, 0, 16, 16, b"\xff\xd8a"), Tile(48, 16, 16, 16, b"\xff\xd8b"))),
    ),
    ("screen-no-change", ScreenFrame("a5", 2, 64, 32, ())),
]


def main() -> None:
    OUT.mkdir(exist_ok=True)
    valid = [{"name": n, "kind": "text", "frame": dumps(m), "type": m["type"]} for n, m in VALID]
    valid += [
        {"name": n, "kind": "binary", "frame_hex": encode_chunk(c).hex(), "action_id": c.action_id,
         "offset": c.offset, "payload_hex": bytes(c.payload).hex(), "last": c.last}
        for n, c in VALID_CHUNKS
    ]  # fmt: skip
    valid += [
        {"name": n, "kind": "screen", "frame_hex": encode_screen(f).hex(), "action_id": f.action_id,
         "seq": f.seq, "width": f.width, "height": f.height, "key": f.key,
         "tiles": [[t.x, t.y, t.w, t.h, bytes(t.jpeg).hex()] for t in f.tiles]}
        for n, f in VALID_SCREENS
    ]  # fmt: skip
    big = [v for v in INVALID if len(v.get("frame", "")) + len(v.get("frame_hex", "")) > 100_000]
    # Huge frames are described, not stored: a generator field builds them (keeps the files small).
    small = [v for v in INVALID if v not in big]
    generated = [
        {"name": "deep-nesting", "kind": "text", "generate": {"repeat": "[", "times": 100_000, "then_repeat": "]"},
         "error_contains": "nested too deeply"},
        {"name": "oversized-frame", "kind": "text", "generate": {"chat_text_length": MAX_TEXT_FRAME + 1},
         "error_contains": "larger than"},
        {"name": "chunk-oversized", "kind": "binary",
         "generate": {"chunk_header_hex": (b"RMEC\x01\x00\x01a" + bytes(8)).hex(), "payload_length": MAX_CHUNK_PAYLOAD + 1},
         "error_contains": "larger than"},
    ]  # fmt: skip
    assert {g["name"] for g in generated} == {b["name"] for b in big}
    directions = {t: sorted(f"{s}->{r}" for s, r in hops) for t, hops in sorted(DIRECTION_TABLE.items())}
    files = {
        "valid.json": valid,
        "invalid.json": small + generated,
        "directions.json": {"chunk_pseudo_type": CHUNK, "table": directions},
    }
    for name, data in files.items():
        (OUT / name).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {OUT / name}")


if __name__ == "__main__":
    main()
