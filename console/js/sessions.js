// What the console knows about the queue and its own sessions, updated only from pushed messages
// (queue.update and session traffic over the WebSocket) and from what this engineer sends.
// Views subscribe with `store.on(fn)` and re-draw their dynamic parts.

import { advanceAction, FINAL_ACTION_STATES, newId, sha256Hex } from "./protocol.js";

export class Store {
  constructor() {
    this.queue = new Map(); // ticket id → TicketSummary
    this.sessions = new Map(); // session id → session record
    this.errors = [];
    this.listeners = new Set();
    this.link = null;
  }

  on(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }
  changed(what) { for (const fn of this.listeners) fn(what); }

  // -- the queue --------------------------------------------------------------------------------
  applyQueue(body) {
    if (body.snapshot) this.queue.clear();
    for (const s of body.changed || []) this.queue.set(s.ticket_id, s);
    for (const id of body.removed || []) this.queue.delete(id);
    this.changed("queue");
  }

  queueList() {
    return [...this.queue.values()].sort((a, b) => a.created_ms - b.created_ms);
  }

  // -- sessions ---------------------------------------------------------------------------------
  accept(ticket) {
    // The session id is fixed at the ticket's birth; the ticket detail (fetched before) carries it.
    const record = {
      sid: ticket.session_id, ticket, state: "offered", actions: new Map(), chat: [], end: null,
      acceptedAt: Date.now(),
    };
    this.sessions.set(record.sid, record);
    record.acceptId = this.link.send("ticket.accept", { ticket_id: ticket.id }).id;
    this.changed("session");
    return record;
  }

  latestSession() {
    const all = [...this.sessions.values()];
    return all.find((s) => s.state === "active" || s.state === "offered") || all[all.length - 1] || null;
  }

  request(sid, action, reason, extra = {}) {
    const record = this.sessions.get(sid);
    const actionId = newId();
    const item = { id: actionId, action, reason, state: "requested", sentAt: Date.now(), ...extra };
    record.actions.set(actionId, item);
    this.link.send("action.request", { action_id: actionId, action, reason }, sid);
    this.changed("actions");
    return item;
  }

  async pushFile(sid, file, reason) {
    const sha256 = await sha256Hex(file);
    return this.request(sid, { kind: "push_file", name: file.name, size: file.size, sha256 }, reason,
      { file, sent: 0 });
  }

  chat(sid, text) {
    const record = this.sessions.get(sid);
    this.link.send("chat", { text }, sid);
    record.chat.push({ from: "engineer", text, at: Date.now() });
    this.changed("chat");
  }

  end(sid, reason, resolution, note) {
    const record = this.sessions.get(sid);
    const body = { reason };
    if (resolution) body.resolution = resolution;
    if (note) body.note = note;
    this.link.send("session.end", body, sid);
    this.finish(record, { reason, by: "engineer", at: Date.now(), resolution });
  }

  finish(record, end) {
    record.state = "ended";
    record.end = end;
    for (const a of record.actions.values()) a.state = advanceAction(a.state, "session.end");
    this.changed("session");
  }

  // The server ties sessions to the console connection that accepted them: when it drops, they are
  // over (the server has told the user), and the console must not pretend otherwise.
  connectionLost() {
    for (const r of this.sessions.values()) {
      if (r.state !== "ended") this.finish(r, { reason: "connection_lost", by: "server", at: Date.now() });
    }
  }

  // -- incoming session traffic ------------------------------------------------------------------
  handle(msg) {
    if (msg.type === "queue.update") { this.applyQueue(msg.body); return; }
    if (msg.type === "error") { this.error(msg.body, msg.session); return; }
    const record = msg.session ? this.sessions.get(msg.session) : undefined;
    if (!record) return; // not a session of this console: ignore
    const b = msg.body;
    switch (msg.type) {
      case "session.accept":
        record.state = "active";
        record.startedAt = Date.now();
        this.changed("session");
        break;
      case "session.decline":
        this.finish(record, { reason: "declined", by: "user", at: Date.now() });
        break;
      case "session.end":
        if (record.state !== "ended") this.finish(record, { reason: b.reason, by: "server", at: Date.now() });
        break;
      case "chat":
        record.chat.push({ from: "user", text: b.text, at: Date.now() });
        this.changed("chat");
        break;
      case "consent.request":
        this.step(record, b.action_id, "consent.request", (a) => { a.consentDeadline = Date.now() + b.timeout_s * 1000; });
        break;
      case "consent.reply":
        this.step(record, b.action_id, `consent.reply:${b.decision}`, (a) => {
          a.decisionReason = b.reason || null;
          if (b.decision === "allowed" && a.file) this.streamFile(record, a);
        });
        break;
      case "action.progress":
        this.step(record, b.action_id, "action.progress", (a) => { a.progress = b; });
        break;
      case "action.result":
        this.step(record, b.action_id, `action.result:${b.status}`, (a) => {
          a.outcome = b.outcome || null;
          a.error = b.error || null;
        });
        break;
      default:
        break;
    }
  }

  step(record, actionId, event, update) {
    const a = record.actions.get(actionId);
    if (!a) return;
    try {
      a.state = advanceAction(a.state, event);
    } catch (err) {
      console.warn(err.message);
      return;
    }
    update(a);
    this.changed("actions");
  }

  async streamFile(record, a) {
    try {
      await this.link.pushChunks(a.id, a.file, (done) => { a.sent = done; this.changed("actions"); });
    } catch (err) {
      a.error = err.message;
      if (!FINAL_ACTION_STATES.has(a.state)) a.state = "failed";
      this.changed("actions");
    }
  }

  error(body, session) {
    this.errors.push({ ...body, at: Date.now() });
    // A refused accept (matched by the accept's id, or the session named): the ticket is not ours.
    if (body.code === "ticket.unavailable" || body.code === "ticket.gone") {
      for (const r of this.sessions.values()) {
        const ours = (body.ref && r.acceptId === body.ref) || (session && r.sid === session);
        if (ours && r.state === "offered") this.finish(r, { reason: "unavailable", by: "server", at: Date.now() });
      }
    }
    this.changed("error");
  }
}
