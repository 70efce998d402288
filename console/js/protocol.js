// The wire protocol (protocol/SPEC.md), the engineer's side, ported from the Python reference
// `protocol/`: envelopes, ids, version negotiation, the direction table's engineer rows, and the binary
// file-chunk layout (SPEC §5). Pure: no sockets here (link.js does the I/O).

export const VERSION = 1;
export const SUPPORTED_VERSIONS = [1];
export const MAX_CHUNK_PAYLOAD = 256 * 1024;
export const MAX_TEXT_FRAME = 1 << 20;
export const MAX_FILE_SIZE = 4 * 2 ** 30;
const ID_RE = /^[A-Za-z0-9_.:-]{1,64}$/;

// Direction table rows that touch the engineer (SPEC §4): what we may send to the server, and what
// the server may send us. Anything else is dropped on receipt and refused on send.
export const ENGINEER_SENDS = new Set([
  "hello", "heartbeat", "error", "ticket.accept", "action.request", "chat", "session.end",
  "action.stop", "screen.input",
]);
export const ENGINEER_RECEIVES = new Set([
  "welcome", "heartbeat", "error", "queue.update", "session.accept", "session.decline",
  "consent.request", "consent.reply", "action.progress", "action.result", "chat", "session.end",
]);

export class ProtocolError extends Error {}

// 128 random bits, base64url without padding (the recommended id of SPEC §2).
export function newId() {
  const raw = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...raw)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function envelope(type, body, session = null) {
  if (!ENGINEER_SENDS.has(type)) throw new ProtocolError(`an engineer may not send ${type}`);
  if (session !== null && !ID_RE.test(session)) throw new ProtocolError("bad session id");
  return { v: VERSION, type, id: newId(), session, ts: Date.now(), body };
}

export function hello() {
  return envelope("hello", { role: "engineer", versions: SUPPORTED_VERSIONS, software: "rme-console/0.1" });
}

// Parse one text frame from the server. Throws ProtocolError for anything the engineer must not get.
export function decode(text) {
  if (typeof text !== "string" || text.length > MAX_TEXT_FRAME) throw new ProtocolError("bad frame");
  let msg;
  try { msg = JSON.parse(text); } catch { throw new ProtocolError("not JSON"); }
  if (msg === null || typeof msg !== "object" || Array.isArray(msg)) throw new ProtocolError("not an object");
  if (!ENGINEER_RECEIVES.has(msg.type)) throw new ProtocolError(`unexpected message type ${String(msg.type).slice(0, 40)}`);
  if (msg.v !== VERSION) throw new ProtocolError(`unsupported version ${msg.v}`);
  if (typeof msg.id !== "string" || !ID_RE.test(msg.id)) throw new ProtocolError("bad id");
  if (msg.session !== null && (typeof msg.session !== "string" || !ID_RE.test(msg.session))) {
    throw new ProtocolError("bad session");
  }
  if (msg.body === null || typeof msg.body !== "object" || Array.isArray(msg.body)) throw new ProtocolError("bad body");
  return msg;
}

// SPEC §5 chunk frame: "RMEC", version 1, flags (bit 0 = last), id length, id, u64 BE offset, payload.
export function encodeChunk(actionId, offset, payload, last) {
  if (!ID_RE.test(actionId)) throw new ProtocolError("bad action id");
  const data = payload instanceof Uint8Array ? payload : new Uint8Array(payload);
  if (data.length > MAX_CHUNK_PAYLOAD) throw new ProtocolError("chunk payload too large");
  if (!Number.isSafeInteger(offset) || offset < 0 || offset + data.length > MAX_FILE_SIZE) {
    throw new ProtocolError("chunk offset out of range");
  }
  const n = actionId.length;
  const frame = new Uint8Array(15 + n + data.length);
  const view = new DataView(frame.buffer);
  frame.set([0x52, 0x4d, 0x45, 0x43], 0); // "RMEC"
  view.setUint8(4, 1);
  view.setUint8(5, last ? 1 : 0);
  view.setUint8(6, n);
  for (let i = 0; i < n; i++) frame[7 + i] = actionId.charCodeAt(i);
  view.setBigUint64(7 + n, BigInt(offset), false);
  frame.set(data, 15 + n);
  return frame;
}

export async function sha256Hex(blob) {
  const digest = await crypto.subtle.digest("SHA-256", await blob.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

// The action lifecycle (SPEC §4 "Session and action lifecycles"), as the console shows it.
const ACTION_NEXT = {
  "requested|consent.request": "awaiting_consent",
  "requested|consent.reply:refused": "refused",
  "awaiting_consent|consent.reply:allowed": "allowed",
  "awaiting_consent|consent.reply:denied": "denied",
  "awaiting_consent|consent.reply:timed_out": "timed_out",
  "awaiting_consent|consent.reply:refused": "refused",
  "allowed|action.progress": "running",
  "running|action.progress": "running",
  "allowed|action.result:ok": "done", "running|action.result:ok": "done",
  "allowed|action.result:failed": "failed", "running|action.result:failed": "failed",
  "allowed|action.result:cancelled": "cancelled", "running|action.result:cancelled": "cancelled",
  // screen view and control stay on until stopped (SPEC §4, §5a)
  "running|screen.frame": "running", "running|screen.input": "running",
  "allowed|action.stop": "stopping", "running|action.stop": "stopping", "stopping|action.progress": "stopping",
  "stopping|action.result:ok": "done", "stopping|action.result:failed": "failed",
  "stopping|action.result:cancelled": "cancelled",
};

// SPEC §5a screen frame: "RMES", version 1, flags (bit 0 = key), id length, id, u32 seq, u16 width,
// u16 height, u16 tile count, then tiles (x, y, w, h u16; length u32; JPEG bytes). Throws on anything else.
export function decodeScreen(buffer) {
  const view = new DataView(buffer);
  const bytes = new Uint8Array(buffer);
  const fail = (why) => { throw new ProtocolError(`bad screen frame: ${why}`); };
  if (bytes.length < 7 || bytes[0] !== 0x52 || bytes[1] !== 0x4d || bytes[2] !== 0x45 || bytes[3] !== 0x53) fail("magic");
  if (bytes[4] !== 1) fail("version");
  if (bytes[5] & ~1) fail("flags");
  const n = bytes[6];
  if (n < 1 || n > 64 || bytes.length < 17 + n) fail("header");
  const actionId = String.fromCharCode(...bytes.subarray(7, 7 + n));
  if (!ID_RE.test(actionId)) fail("action id");
  let pos = 7 + n;
  const seq = view.getUint32(pos), width = view.getUint16(pos + 4), height = view.getUint16(pos + 6);
  const count = view.getUint16(pos + 8);
  pos += 10;
  if (!width || !height) fail("size");
  const tiles = [];
  for (let i = 0; i < count; i++) {
    if (bytes.length < pos + 12) fail("tile header");
    const x = view.getUint16(pos), y = view.getUint16(pos + 2), w = view.getUint16(pos + 4), h = view.getUint16(pos + 6);
    const size = view.getUint32(pos + 8);
    pos += 12;
    if (!w || !h || x + w > width || y + h > height || bytes.length < pos + size) fail("tile");
    tiles.push({ x, y, w, h, jpeg: bytes.subarray(pos, pos + size) });
    pos += size;
  }
  if (pos !== bytes.length) fail("trailing bytes");
  return { actionId, seq, width, height, key: Boolean(bytes[5] & 1), tiles, size: bytes.length };
}
export const FINAL_ACTION_STATES = new Set(["denied", "timed_out", "refused", "done", "failed", "cancelled"]);

export function advanceAction(state, event) {
  if (event === "session.end") return FINAL_ACTION_STATES.has(state) ? state : "cancelled";
  const next = ACTION_NEXT[`${state}|${event}`];
  if (next === undefined) throw new ProtocolError(`${event} not allowed for an action that is ${state}`);
  return next;
}
