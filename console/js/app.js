// The console's shell: login/logout, the language switch, hash routing between the views, and the
// one WebSocket that feeds the store. Views are mounted into <main> and destroyed on navigation.

import { api, el, HttpError } from "./dom.js";
import { initialLang, lang, setLang, t } from "./i18n.js";
import { Link } from "./link.js";
import { Store } from "./sessions.js";
import { queueView } from "./views/queue.js";
import { searchView } from "./views/search.js";
import { sessionView } from "./views/session.js";
import { supervisorView } from "./views/supervisor.js";
import { ticketView } from "./views/ticket.js";
import { accountView } from "./views/account.js";
import { billingView } from "./views/billing.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
const liveBadge = document.getElementById("live");
const toasts = document.getElementById("toasts");
let mounted = null;
let link = null;
let store = null;
let me = null;
let liveState = "connecting";
let repairsCache = null;

const ctx = {
  get store() { return store; },
  get me() { return me; },
  lang,
  api,
  repairs() {
    repairsCache = repairsCache || api("/api/console/repairs").catch(() => []);
    return repairsCache;
  },
  async acceptTicket(ticketId) {
    const ticket = await api(`/api/console/tickets/${encodeURIComponent(ticketId)}`);
    const record = store.accept(ticket);
    location.hash = `#/session/${record.sid}`;
  },
};

function toast(text, kind = "error") {
  const item = el("div", { class: `toast ${kind}`, role: "alert" }, text);
  toasts.append(item);
  setTimeout(() => item.remove(), 8000);
}

function drawChrome() {
  document.getElementById("brand").textContent = t("brand");
  document.getElementById("lang").textContent = t("other_lang");
  document.getElementById("logout").textContent = t("logout");
  document.getElementById("who").textContent = me ? `${me.display_name} (${me.role})` : "";
  liveBadge.textContent = t(liveState);
  liveBadge.className = `badge live-${liveState}`;
  const route = location.hash.split("/")[1] || "queue";
  const links = [["queue", "nav_queue"], ["session", "nav_session"], ["search", "nav_search"]];
  if (me && me.role !== "engineer") links.push(["supervisor", "nav_supervisor"]);
  links.push(["account", "nav_account"]);
  if (me && me.role === "admin") links.push(["billing", "nav_billing"]);
  nav.replaceChildren(...links.map(([r, k]) => el("a", { href: `#/${r}`, id: `nav-${r}`,
    class: route === r || (r === "queue" && route === "ticket") ? "current" : "" }, t(k))));
  document.getElementById("chrome").hidden = !me;
}

function route() {
  if (mounted) mounted.destroy();
  mounted = null;
  drawChrome();
  if (!me) { main.replaceChildren(loginForm()); return; }
  const [, name, arg] = location.hash.split("/");
  if (name === "ticket" && arg) mounted = ticketView(ctx, decodeURIComponent(arg));
  else if (name === "session") mounted = sessionView(ctx, arg ? decodeURIComponent(arg) : null);
  else if (name === "supervisor" && me.role !== "engineer") mounted = supervisorView(ctx);
  else if (name === "search") mounted = searchView(ctx);
  else if (name === "account") mounted = accountView(ctx);
  else if (name === "billing" && me.role === "admin") mounted = billingView(ctx);
  else mounted = queueView(ctx);
  main.replaceChildren(mounted.root);
}

function loginForm() {
  const user = el("input", { id: "username", name: "username", autocomplete: "username", required: true, maxlength: 64 });
  const pass = el("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const totp = el("input", { id: "totp", name: "totp", inputmode: "numeric", autocomplete: "one-time-code", maxlength: 10 });
  const totpRow = el("label", { hidden: true }, t("totp"), totp);
  const message = el("p", { class: "error", id: "login-error", role: "alert" });
  return el("form", { class: "login panel", id: "login-form", onsubmit: async (e) => {
    e.preventDefault();
    message.textContent = "";
    try {
      me = await api("/api/auth/login", { method: "POST",
        json: { username: user.value, password: pass.value, totp: totp.value || null } });
      start();
    } catch (err) {
      const why = err instanceof HttpError ? err.detail : err.message;
      if (why === "totp_required") totpRow.hidden = false;
      message.textContent = t("login_failed", { why: t(`why_${why}`) });
    }
  } }, el("h1", {}, t("login_title")), el("label", {}, t("username"), user), el("label", {}, t("password"), pass),
  totpRow, el("button", { type: "submit", class: "primary", id: "login" }, t("login")), message);
}

function start() {
  store = new Store();
  link = new Link((msg) => store.handle(msg), (state) => {
    if (state === "offline" && store) store.connectionLost();
    liveState = state;
    drawChrome();
  });
  store.link = link;
  link.onScreen = (frame) => store.screen(frame);
  store.me = me;
  let known = new Set(store.queueList().map((q) => q.ticket_id));
  store.on((what, record) => {
    if (what === "queue") {
      const queued = store.queueList().filter((q) => q.state === "queued");
      const fresh = queued.filter((q) => !known.has(q.ticket_id));
      known = new Set(store.queueList().map((q) => q.ticket_id));
      if (fresh.length && document.hidden) announce(fresh[0]);
      return;
    }
    // A running session of ours came back after a reload: open it (again).
    if (what === "resumed") {
      const target = `#/session/${encodeURIComponent(record.sid)}`;
      if (location.hash === target) route();
      else location.hash = target;
      return;
    }
    if (what !== "error") return;
    const last = store.errors[store.errors.length - 1];
    toast(t("error", { msg: last.code === "ticket.unavailable" ? t("err_ticket_unavailable") : `${last.code}: ${last.message}` }));
  });
  link.start();
  // Desktop notifications need the engineer's permission, asked on a gesture (browsers insist).
  if ("Notification" in window && Notification.permission === "default") {
    document.addEventListener("click", () => Notification.requestPermission().catch(() => {}), { once: true });
  }
  if (!location.hash || location.hash === "#/") location.hash = "#/queue";
  route();
}

// A help request while the tab is in the background: a desktop notification (when the engineer
// allowed them) and a short tone, so nobody waits on a tab nobody looks at.
function announce(item) {
  if ("Notification" in window && Notification.permission === "granted") {
    const note = new Notification(t("notify_title"), {
      body: t("notify_body", { customer: item.customer_name, words: item.words }), tag: item.ticket_id,
    });
    note.onclick = () => { window.focus(); location.hash = `#/ticket/${item.ticket_id}`; };
  }
  try {
    const audio = new AudioContext();
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 880;
    gain.gain.value = 0.1;
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 0.25);
    tone.onended = () => audio.close();
  } catch { /* no audio device: the notification is enough */ }
  window.rmeAnnounced = (window.rmeAnnounced || 0) + 1; // for tests and curious engineers
}

// Shortcuts that work everywhere: Alt+A accepts (the open ticket, else the oldest waiting request),
// Alt+S searches, "?" shows them all. The session view adds Alt+C, Alt+T and Alt+E.
function onShortcut(e) {
  if (!me || !store) return;
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement?.tagName);
  if (e.key === "?" && !typing && !e.altKey) { e.preventDefault(); toast(t("shortcut_help"), "info"); return; }
  if (!e.altKey || e.ctrlKey || e.metaKey) return;
  const key = e.key.toLowerCase();
  if (key === "s") { e.preventDefault(); location.hash = "#/search"; return; }
  if (key === "a") {
    e.preventDefault();
    const [, name, arg] = location.hash.split("/");
    const waiting = store.queueList().filter((q) => q.state === "queued");
    const chosen = name === "ticket" && arg ? waiting.find((q) => q.ticket_id === decodeURIComponent(arg)) : waiting[0];
    if (chosen) ctx.acceptTicket(chosen.ticket_id);
  }
}

async function logout() {
  try { await api("/api/auth/logout", { method: "POST" }); } catch { /* the cookie may be gone already */ }
  if (link) link.stop();
  me = null;
  store = null;
  location.hash = "";
  route();
}

document.getElementById("lang").addEventListener("click", () => { setLang(lang() === "en" ? "zh-CN" : "en"); route(); });
document.getElementById("logout").addEventListener("click", logout);
document.addEventListener("keydown", onShortcut);
window.addEventListener("hashchange", route);
// A button whose request cannot go (socket down, ticket gone) says why instead of failing silently.
window.addEventListener("unhandledrejection", (ev) => toast(t("error", { msg: ev.reason?.message || String(ev.reason) })));
window.addEventListener("error", (ev) => toast(t("error", { msg: ev.message })));

setLang(initialLang());
api("/api/auth/session").then((state) => {
  me = state.engineer;
  if (me) start(); else route();
}).catch(() => route());
