// What the console knows about the queue and its own sessions, updated only from pushed messages
// (queue.update and session traffic over the WebSocket) and from what this engineer sends.
// Views subscribe with `store.on(fn)` and re-draw their dynamic parts.
//
// A session outlives the console's connection: the server keeps it for a grace period and gives it
// to this engineer's next connection. After a reload (nothing in memory) the queue snapshot shows the
// engineer's running tickets and the store rebuilds those sessions (`resume`); after a blip (the
// socket came back) the snapshot says which of the sessions it knew are still running.

import { api } from "./dom.js";
import { advanceAction, FINAL_ACTION_STATES, newId, sha256Hex } from "./protocol.js";

const RUNNING = new Set(["offered", "active"]); // ticket states of a session the server hands back

export class Store {
  constructor() {
    this.queue = new Map(); // ticket id → TicketSummary
    this.sessions = new Map(); // session id → session record
    this.errors = [];
    this.listeners = new Set();
    this.link = null;
    this.screenHandlers = new Set(); // views showing a screen: each gets every screen frame
    this.me = null; // the logged-in engineer (`/api/auth/me`): whose running sessions to take back
    this.adopting = new Set(); // ticket ids being read back
  }

  on(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }
  onScreen(fn) { this.screenHandlers.add(fn); return () => this.screenHandlers.delete(fn); }
  screen(frame) { for (const fn of this.screenHandlers) fn(frame); }
  changed(what, detail) { for (const fn of this.listeners) fn(what, detail); }

  // -- the queue --------------------------------------------------------------------------------
  applyQueue(body) {
    if (body.snapshot) this.queue.clear();
    for (const s of body.changed || []) this.queue.set(s.ticket_id, s);
    for (const id of body.removed || []) this.queue.delete(id);
    this.changed("queue");
    if (body.snapshot) this.resume();
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

  // -- the screen view and control (SPEC §5a) -----------------------------------------------------
  viewScreen(sid, monitor, reason) {
    return this.request(sid, { kind: "screen_view", monitor }, reason);
  }

  requestControl(sid, view, reason) {
    return this.request(sid, { kind: "screen_control", view }, reason);
  }

  stopAction(sid, actionId) {
    const record = this.sessions.get(sid);
    this.link.send("action.stop", { action_id: actionId }, sid);
    this.step(record, actionId, "action.stop", () => {});
  }

  screenInput(sid, actionId, events) {
    if (events.length) this.link.send("screen.input", { action_id: actionId, events: events.slice(0, 64) }, sid);
  }

  // The newest running action of `kind` in the session, or null.
  running(sid, kind) {
    const record = this.sessions.get(sid);
    if (!record) return null;
    const all = [...record.actions.values()].filter((a) => a.action.kind === kind && a.state === "running");
    return all[all.length - 1] || null;
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

  // The socket dropped: the server keeps the sessions for a grace period; until the link is back
  // (and its snapshot says so) nothing can be sent, and the view says why.
  connectionLost() {
    for (const r of this.sessions.values()) if (r.state !== "ended") r.away = true;
    this.changed("session");
  }

  // A queue snapshot (sent on every connect, once the server gave this connection the engineer's
  // running sessions): sessions we knew go on or are over; running tickets of ours that we do not
  // know (the page was reloaded) are rebuilt, without the requests sent before.
  resume() {
    const known = new Set();
    for (const r of this.sessions.values()) {
      known.add(r.ticket.id);
      if (r.state === "ended" || !r.away) continue;
      const now = this.queue.get(r.ticket.id);
      if (now && RUNNING.has(now.state)) {
        Object.assign(r, { away: false, resumed: true, state: now.state });
        // What happened to open requests while we were away is unknown here (their answers went to
        // no console): they leave the list, and anything still arriving for them is ignored.
        for (const [id, a] of r.actions) if (!FINAL_ACTION_STATES.has(a.state)) r.actions.delete(id);
        this.changed("session");
      } else {
        this.finish(r, { reason: "connection_lost", by: "server", at: Date.now() });
      }
    }
    for (const s of this.queue.values()) {
      if (this.me && s.engineer_id === this.me.id && RUNNING.has(s.state) && !known.has(s.ticket_id)) {
        this.adopt(s.ticket_id);
      }
    }
  }

  // One of our running sessions that this page does not know: read its ticket and show it again.
  async adopt(ticketId) {
    if (this.adopting.has(ticketId)) return;
    this.adopting.add(ticketId);
    try {
      const ticket = await api(`/api/console/tickets/${encodeURIComponent(ticketId)}`);
      const now = this.queue.get(ticketId);
      if (!now || !RUNNING.has(now.state) || this.sessions.has(ticket.session_id)) return; // ended meanwhile
      const record = {
        sid: ticket.session_id, ticket, state: now.state, actions: new Map(), chat: [], end: null,
        acceptedAt: Date.now(), resumed: true,
      };
      this.sessions.set(record.sid, record);
      this.changed("session");
      this.changed("resumed", record);
    } catch (err) {
      console.warn("could not take back a session:", err.message);
    } finally {
      this.adopting.delete(ticketId);
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
