// The engineer WebSocket: hello → welcome, heartbeats, reconnects with back-off, and file-push
// streaming with back-pressure. Messages are checked by protocol.js before anyone sees them.

import { decode, decodeScreen, encodeChunk, envelope, hello, MAX_CHUNK_PAYLOAD, ProtocolError } from "./protocol.js";

const MAX_BUFFERED = 4 << 20; // bytes queued in the socket before we wait: keeps memory flat

export class Link {
  constructor(onMessage, onState) {
    this.onMessage = onMessage;
    this.onState = onState;
    this.ws = null;
    this.ready = false;
    this.stopped = false;
    this.retry = 500;
    this.beat = null;
    this.seq = 0;
  }

  start() {
    this.stopped = false;
    this.open();
  }

  stop() {
    this.stopped = true;
    clearInterval(this.beat);
    if (this.ws) this.ws.close(1000, "logout");
  }

  open() {
    this.onState("connecting");
    const ws = new WebSocket(`wss://${location.host}/ws/engineer`);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    ws.onopen = () => ws.send(JSON.stringify(hello()));
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string") { // binary from the server: only screen frames (SPEC §5a)
        try { this.onScreen?.(decodeScreen(ev.data)); } catch (err) { console.warn("dropped a frame:", err.message); }
        return;
      }
      let msg;
      try { msg = decode(ev.data); } catch (err) {
        console.warn("dropped a frame:", err.message);
        return;
      }
      if (msg.type === "welcome") {
        this.ready = true;
        this.retry = 500;
        this.onState("live");
        clearInterval(this.beat);
        const every = Math.max(1, Math.min(msg.body.heartbeat_s || 30, 60)) * 1000;
        this.beat = setInterval(() => this.send("heartbeat", { seq: ++this.seq }), every);
        return;
      }
      if (msg.type === "heartbeat") return;
      this.onMessage(msg);
    };
    ws.onclose = () => {
      this.ready = false;
      clearInterval(this.beat);
      if (this.stopped) return;
      this.onState("offline");
      setTimeout(() => this.open(), this.retry);
      this.retry = Math.min(this.retry * 2, 10000);
    };
  }

  send(type, body, session = null) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) throw new ProtocolError("not connected");
    const msg = envelope(type, body, session);
    this.ws.send(JSON.stringify(msg));
    return msg;
  }

  // Stream `file` as chunk frames for `actionId`; `progress(done)` after each chunk. Waits while the
  // socket's buffer is full so a large file never sits in memory all at once.
  async pushChunks(actionId, file, progress) {
    const ws = this.ws;
    let offset = 0;
    do {
      if (!ws || ws.readyState !== WebSocket.OPEN) throw new ProtocolError("connection lost during the push");
      while (ws.bufferedAmount > MAX_BUFFERED) await new Promise((r) => setTimeout(r, 10));
      const end = Math.min(offset + MAX_CHUNK_PAYLOAD, file.size);
      const payload = new Uint8Array(await file.slice(offset, end).arrayBuffer());
      ws.send(encodeChunk(actionId, offset, payload, end >= file.size));
      offset = end;
      progress(offset);
    } while (offset < file.size);
  }
}
