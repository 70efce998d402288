// A session: accept → the user lets the engineer in → requests (diagnosis, repair, command, file),
// each shown with the state the user's answer put it in, and its output; chat; end with a resolution.
// The controls are built once; only the status, the request list and the chat are redrawn, so what
// the engineer is typing survives every pushed update.

import { bytes, cause, t, time } from "../i18n.js";
import { el } from "../dom.js";
import { renderReport, verdictBadge } from "./report.js";
import { rescueOutcome, rescuePanel } from "./rescue.js";
import { screenPanel } from "./screen.js";
import { itemText } from "./ticket.js";

const RESOLUTIONS = [
  ["network.config", "res_network_config"], ["dns.fixed", "res_dns"], ["driver.fixed", "res_driver"],
  ["isp.escalated", "res_isp"], ["hardware.visit", "res_hardware"], ["advice.given", "res_advice"],
  ["not_reproduced", "res_not_reproduced"], ["other", "res_other"],
];

// The customer's earlier tickets (from the ticket detail the store keeps), for the side panel.
function tkHistory(ticket) {
  return ticket.customer_history || [];
}

function describe(a) {
  const act = a.action;
  if (act.kind === "command") return el("code", { class: "verbatim" }, act.command);
  if (act.kind === "repair") return el("span", {}, act.repair);
  if (act.kind === "screen_view") return el("span", {}, `${t("monitor")} ${act.monitor + 1}`);
  if (act.kind === "screen_control") return el("span", {}, "");
  if (act.kind === "service_item") return el("span", {}, act.item);
  if (act.kind === "rescue_fsck") return el("span", {}, `${act.device}${act.repair ? ` · ${t("rescue_fsck_repair")}` : ""}`);
  if (act.kind === "rescue_copy") return el("span", {}, `${act.source}: ${act.folders.join(", ")} → ${act.target}`);
  if (act.kind === "rescue_boot_repair") return el("span", {}, act.root ? `${act.disk} (${act.root})` : act.disk);
  if (act.kind === "rescue_write_image") return el("span", { title: `SHA-256 ${act.sha256}` }, `${act.image} → ${act.disk}`);
  if (act.kind === "push_file") return el("span", { title: `SHA-256 ${act.sha256}` }, `${act.name} · ${bytes(act.size)} · SHA-256 ${act.sha256.slice(0, 16)}…`);
  return el("span", {}, act.interface || "");
}

function outcomeOf(a) {
  const o = a.outcome;
  const parts = [];
  if (a.error) parts.push(el("p", { class: "error" }, a.error));
  if (a.decisionReason) parts.push(el("p", { class: "muted" }, a.decisionReason));
  if (!o) return parts;
  if (o.kind === "diagnose") parts.push(renderReport(o.report));
  if (o.kind === "repair") {
    const text = !o.applied ? t("repair_not_applied")
      : o.fixed ? t("repair_fixed", { before: cause(o.root_cause_before) || "—", after: cause(o.root_cause_after) || t("verdict_ok") })
        : t("repair_not_fixed", { after: cause(o.root_cause_after) || "—" });
    parts.push(el("p", { class: o.fixed ? "good" : "warn" }, text));
  }
  if (o.kind === "command") {
    parts.push(el("p", { class: "muted" }, t("exit_code", { code: o.exit_code ?? "—" }), ` · ${o.duration_ms} ms`,
      o.truncated ? ` ${t("truncated")}` : ""));
    // The output is the user's: they may keep it on their PC (the agent then sends none).
    parts.push(o.withheld ? el("p", { class: "muted withheld" }, t("output_withheld"))
      : el("pre", { class: "output" }, o.output));
  }
  if (o.kind === "screen") {
    parts.push(el("p", { class: "muted screen-outcome" }, `${Math.round(o.duration_ms / 1000)} s · ${o.frames} · ${o.stopped_by}`));
  }
  if (o.kind === "service_item") parts.push(el("p", { class: "good item-changed" }, t("item_changed", { item: o.item })));
  if (o.kind.startsWith("rescue_")) parts.push(rescueOutcome(o));
  if (o.kind === "push_file") {
    // Compare what the agent says it stored with what this page hashed and sent: never assume.
    const same = o.sha256 === a.action.sha256;
    parts.push(same
      ? el("p", { class: "good hash-ok" }, t("saved_as", { name: o.saved_as, size: bytes(o.size) }))
      : el("p", { class: "error hash-mismatch", role: "alert" }, t("hash_mismatch")));
    parts.push(el("details", { class: "hash" }, el("summary", {}, t("hash_show")),
      el("div", { class: "mono small" }, `${t("hash_sent")}: ${a.action.sha256}`),
      el("div", { class: `mono small ${same ? "" : "error"}` }, `${t("hash_reported")}: ${o.sha256}`)));
  }
  return parts;
}

function hashMismatch(a) {
  return a.action.kind === "push_file" && a.outcome?.kind === "push_file" && a.outcome.sha256 !== a.action.sha256;
}

function actionCard(a) {
  const left = a.state === "awaiting_consent" && a.consentDeadline
    ? el("span", { class: "countdown", dataset: { deadline: String(a.consentDeadline) } },
      t("consent_left", { s: Math.max(0, Math.ceil((a.consentDeadline - Date.now()) / 1000)) })) : null;
  const state = hashMismatch(a) ? "failed" : a.state;
  let bar = null;
  if (a.action.kind === "push_file" && a.file) {
    const total = a.action.size || 1;
    const done = a.state === "done" ? total : a.sent || 0;
    bar = el("div", { class: "progress-wrap" },
      el("progress", { class: "push-progress", max: total, value: done }),
      el("span", { class: "muted small" }, t("sent_bytes", { done: bytes(done), total: bytes(a.action.size) })));
  }
  return el("li", { class: `action state-${state}`, dataset: { action: a.id, kind: a.action.kind, state } },
    el("div", { class: "action-head" },
      el("strong", {}, t(`kind_${a.action.kind}`)), " ", describe(a), " ",
      el("span", { class: `badge act-${state}` }, t(`act_${state}`)), " ", left),
    a.reason ? el("div", { class: "muted small" }, `${t("reason_label")}: ${a.reason}`) : null,
    bar, outcomeOf(a));
}

export function sessionView(ctx, sid) {
  const store = ctx.store;
  const record = sid ? store.sessions.get(sid) : store.latestSession();
  if (!record) return { root: el("section", { class: "view" }, el("p", { class: "muted" }, t("no_session"))), destroy() {} };

  const status = el("div", { class: "status", id: "session-status", role: "status", "aria-live": "assertive" });
  const actions = el("ol", { class: "actions", id: "actions" });
  const chatLog = el("ol", { class: "chat-log", id: "chat-log" });
  const reason = el("input", { type: "text", id: "reason", maxlength: 256, placeholder: t("reason_placeholder") });
  // The reason goes with one request only: read it, then clear it so it is not reused by mistake.
  const why = () => { const text = reason.value.trim(); reason.value = ""; return text; };

  // -- requests
  const diagnose = el("button", { type: "button", id: "req-diagnose", onclick: () =>
    store.request(record.sid, { kind: "diagnose" }, why() || t("diagnose_why")) }, t("request_diagnose"));
  const repairSelect = el("select", { id: "repair-select" }, el("option", { value: "" }, t("choose_repair")));
  const repairInfo = el("div", { class: "muted small", id: "repair-info" });
  ctx.repairs().then((list) => {
    for (const r of list) repairSelect.append(el("option", { value: r.id }, `${r[ctx.lang()].title} (${r.id})`));
    repairSelect.onchange = () => {
      const r = list.find((x) => x.id === repairSelect.value);
      const d = r && r[ctx.lang()];
      repairInfo.replaceChildren(d ? el("span", {}, d.description, " · ", `${t("risk")}: ${t(`risk_${d.risk}`)} — ${d.risk_note}`,
        " · ", `${t("undo")}: ${d.undo}`) : "");
    };
  });
  const repairButton = el("button", { type: "button", id: "req-repair", onclick: () => {
    if (repairSelect.value) store.request(record.sid, { kind: "repair", repair: repairSelect.value }, why());
  } }, t("run_repair"));
  const command = el("input", { type: "text", id: "command", maxlength: 8192, placeholder: t("command_placeholder") });
  const timeout = el("input", { type: "number", id: "command-timeout", min: 1, max: 3600, value: 60,
    "aria-label": t("timeout_label") });
  const commandButton = el("button", { type: "button", id: "req-command", onclick: () => {
    if (!command.value.trim()) return;
    store.request(record.sid, { kind: "command", command: command.value, timeout_s: Number(timeout.value) || 60 }, why());
    command.value = "";
  } }, t("run_command"));
  let chosen = null;
  const fileName = el("span", { id: "file-name", class: "muted" });
  const picker = el("input", { type: "file", id: "file-input", hidden: true, onchange: () => choose(picker.files[0]) });
  const pickButton = el("button", { type: "button", class: "link", id: "pick-file", onclick: () => picker.click() }, t("pick_file"));
  const choose = (f) => { chosen = f || null; fileName.textContent = f ? `${f.name} (${bytes(f.size)})` : ""; };
  const drop = el("div", { class: "dropzone", id: "dropzone",
    ondragover: (e) => { e.preventDefault(); drop.classList.add("over"); },
    ondragleave: () => drop.classList.remove("over"),
    ondrop: (e) => { e.preventDefault(); drop.classList.remove("over"); choose(e.dataTransfer.files[0]); } },
  t("drop_here"), " ", pickButton, " ", fileName, picker);
  const pushButton = el("button", { type: "button", id: "req-push", onclick: async () => {
    if (!chosen) return;
    const f = chosen;
    choose(null);
    fileName.textContent = t("hashing");
    await store.pushFile(record.sid, f, why());
    fileName.textContent = "";
  } }, t("push"));
  // Changing the service item is a request like any other: the user sees the item and its price and consents.
  const itemSelect = el("select", { id: "item-select" }, el("option", { value: "" }, t("choose_item")));
  ctx.api("/api/console/catalogue").then((cat) => {
    for (const i of cat.items.filter((x) => x.active)) {
      itemSelect.append(el("option", { value: i.code },
        `${ctx.lang() === "en" ? i.name_en : i.name_zh} (${i.code}) · ${(i.price_cents / 100).toFixed(2)} ${i.currency}`));
    }
  }).catch(() => {});
  const itemButton = el("button", { type: "button", id: "req-item", onclick: () => {
    if (itemSelect.value) store.request(record.sid, { kind: "service_item", item: itemSelect.value }, why());
  } }, t("change_item"));
  // A rescue device gets the rescue requests; their choices come from its newest disk inventory.
  const rescue = record.ticket.device.rescue ? rescuePanel(ctx, record, why) : null;
  const controls = [reason, diagnose, repairSelect, repairButton, command, timeout, commandButton, picker, pickButton,
    pushButton, itemSelect, itemButton, ...(rescue ? rescue.controls : [])];

  // -- chat and end
  const chatInput = el("input", { type: "text", id: "chat-input", maxlength: 4000, placeholder: t("chat_placeholder") });
  const chatSend = el("button", { type: "submit", id: "chat-send" }, t("send"));
  const canned = el("select", { id: "canned", "aria-label": t("canned") }, el("option", { value: "" }, t("canned_pick")));
  ctx.api("/api/console/canned").then((list) => {
    for (const c of list) canned.append(el("option", { value: ctx.lang() === "en" ? c.text_en : c.text_zh },
      ctx.lang() === "en" ? c.text_en : c.text_zh));
  }).catch(() => {});
  canned.addEventListener("change", () => {
    if (canned.value) chatInput.value = canned.value;
    canned.value = "";
    chatInput.focus();
  });
  const chatForm = el("form", { class: "row", onsubmit: (e) => {
    e.preventDefault();
    if (chatInput.value.trim()) { store.chat(record.sid, chatInput.value); chatInput.value = ""; }
  } }, chatInput, chatSend);
  // The outcome starts unchosen: an engineer who only clicks End must not record a fix (the first-
  // contact-fix figure the desk is judged by would count it).
  const endReason = el("select", { id: "end-reason", required: true },
    el("option", { value: "", disabled: true, selected: true }, t("choose")),
    ["resolved", "unresolved"].map((r) => el("option", { value: r }, t(`reason_${r}`))));
  const resolution = el("select", { id: "resolution", required: true },
    el("option", { value: "", disabled: true, selected: true }, t("choose")),
    RESOLUTIONS.map(([v, k]) => el("option", { value: v }, t(k))));
  const note = el("textarea", { id: "end-note", maxlength: 2000, rows: 2 });
  const endHint = el("p", { class: "muted small", id: "end-hint" }, t("end_needs_choice"));
  const endButton = el("button", { type: "button", class: "danger", id: "end-session", onclick: () => {
    if (!endReason.value || !resolution.value) return;
    store.end(record.sid, endReason.value, resolution.value, note.value.trim());
  } }, t("end_session"));
  const chosen2 = () => Boolean(endReason.value && resolution.value);
  endReason.addEventListener("change", () => drawStatus());
  resolution.addEventListener("change", () => drawStatus());
  const endBox = el("div", { class: "panel end" }, el("h2", {}, t("end_title")),
    el("label", {}, t("end_reason"), endReason), el("label", {}, t("resolution_cat"), resolution),
    el("label", { class: "wide" }, t("note"), note), endHint, endButton);
  const history = el("div", { class: "panel history", id: "customer-history" }, el("h2", {}, t("customer_history")));
  const earlier = tkHistory(record.ticket);
  history.append(earlier.length
    ? el("ul", {}, earlier.map((h) => el("li", {}, el("a", { href: `#/ticket/${h.id}` }, time(h.created_at)), " · ",
      h.device || "", " · ", h.words, h.outcome ? ` · ${t(`reason_${h.outcome}`)}` : "")))
    : el("p", { class: "muted" }, t("no_customer_history")));

  const screen = screenPanel(ctx, record);
  const tk = record.ticket;
  const root = el("section", { class: "view session", dataset: { session: record.sid } },
    el("h1", {}, t("session_title", { id: record.sid })),
    el("p", {}, el("strong", {}, tk.customer.name), ` · ${tk.device.name} `,
      tk.device.rescue ? [el("span", { class: "badge rescue" }, t("rescue_badge")), " "] : null, "· ",
      verdictBadge(tk.verdict),
      tk.root_cause ? ` ${cause(tk.root_cause)}` : "", el("br"), el("span", { class: "words" }, tk.words),
      el("br"), `${t("service_item")}: `, el("span", { id: "session-item" }, itemText(tk.service_item))),
    status,
    el("div", { class: "columns" },
      el("div", { class: "col" },
        el("div", { class: "panel requests" }, el("h2", {}, t("requests")),
          el("label", { class: "wide" }, t("reason_label"), reason),
          el("div", { class: "row" }, diagnose),
          el("div", { class: "row" }, repairSelect, repairButton), repairInfo,
          el("div", { class: "row" }, command, timeout, commandButton),
          el("div", { class: "row" }, drop, pushButton),
          el("div", { class: "row" }, itemSelect, itemButton)),
        rescue ? rescue.root : null,
        screen.root,
        actions),
      el("div", { class: "col" },
        el("div", { class: "panel chat" }, el("h2", {}, t("chat")), chatLog, canned, chatForm),
        endBox, history)));

  function drawStatus() {
    const end = record.end;
    let banner;
    if (record.away && record.state !== "ended") banner = el("div", { class: "banner waiting", id: "away" }, t("sess_away"));
    else if (record.state === "offered") banner = el("div", { class: "banner waiting" }, t("sess_offered"));
    else if (record.state === "active") banner = el("div", { class: "banner live" }, t("sess_active"));
    else if (end && end.reason === "ended_by_user") {
      banner = el("div", { class: "banner user-ended", id: "user-ended" }, el("strong", {}, t("user_ended")), " ",
        t("user_ended_note", { time: time(end.at) }));
    } else if (end && end.reason === "declined") banner = el("div", { class: "banner ended" }, t("sess_declined"));
    else banner = el("div", { class: "banner ended" }, t("ended_reason", { reason: t(`reason_${end?.reason}`) }),
      end?.resolution ? ` · ${end.resolution}` : "");
    // After a reload or a reconnect: the session went on without this page's memory of it.
    const resumed = record.resumed && record.state !== "ended" && !record.away
      ? el("p", { class: "muted", id: "resumed" }, t("sess_resumed")) : null;
    status.replaceChildren(banner, resumed || "");
    const active = record.state === "active" && !record.away;
    // Everything that could act on the session is off once it cannot (ended, or the link away).
    for (const c of [...controls, chatInput, chatSend, canned]) c.disabled = !active;
    for (const c of [endReason, resolution, note]) c.disabled = record.state === "ended";
    endButton.disabled = !active || !chosen2();
    endHint.hidden = chosen2() || !active;
    drop.classList.toggle("disabled", !active);
    endBox.hidden = record.state === "ended";
  }
  function drawActions() {
    actions.replaceChildren(...[...record.actions.values()].reverse().map(actionCard));
    if (rescue) rescue.refresh();
    const changed = [...record.actions.values()].filter((a) => a.outcome?.kind === "service_item").pop();
    if (changed) root.querySelector("#session-item").textContent = changed.outcome.item;
  }
  function drawChat() {
    chatLog.replaceChildren(...record.chat.map((m) => el("li", { class: `from-${m.from}` },
      el("span", { class: "who" }, m.from === "engineer" ? t("you") : t("user")), " ", m.text)));
    chatLog.scrollTop = chatLog.scrollHeight;
  }
  const off = store.on((what) => {
    if (what === "session") { drawStatus(); drawActions(); }
    if (what === "actions") drawActions();
    if (what === "chat") drawChat();
  });
  function onKey(e) {
    if (!e.altKey || e.ctrlKey || e.metaKey) return;
    const k = e.key.toLowerCase();
    const target = k === "c" ? command : k === "t" ? chatInput : k === "e" ? endReason : null;
    if (target && !target.disabled) { e.preventDefault(); target.focus(); }
  }
  document.addEventListener("keydown", onKey);
  const tick = setInterval(() => {
    for (const c of actions.querySelectorAll(".countdown")) {
      c.textContent = t("consent_left", { s: Math.max(0, Math.ceil((Number(c.dataset.deadline) - Date.now()) / 1000)) });
    }
  }, 1000);
  drawStatus(); drawActions(); drawChat();
  return { root, destroy() { off(); screen.destroy(); clearInterval(tick); document.removeEventListener("keydown", onKey); } };
}
