// One ticket: the customer, the user's words, the full diagnosis report, and the device's history.

import { el } from "../dom.js";
import { cause, lang, t, time } from "../i18n.js";
import { auditButtons } from "./audit.js";
import { renderReport, verdictBadge } from "./report.js";

function minutes(a, b) {
  if (!a || !b) return "";
  return t("minutes", { n: ((new Date(b) - new Date(a)) / 60000).toFixed(1) });
}

export function historyTable(items, ctx) {
  if (items.length === 0) return el("p", { class: "muted" }, t("no_history"));
  const supervisor = ctx.me.role !== "engineer";
  return el("div", { class: "scroll" }, el("table", { class: "history" },
    el("thead", {}, el("tr", {}, ...["created", "words", "col_diagnosis", "outcome", "resolution", "engineer",
      "duration", "rating", ...(supervisor ? ["audit"] : [])].map((k) => el("th", {}, t(k))))),
    el("tbody", {}, items.map((h) => el("tr", {},
      el("td", {}, time(h.created_at)),
      el("td", { class: "words" }, h.words),
      el("td", {}, verdictBadge(h.verdict), h.root_cause ? el("div", { class: "cause" }, cause(h.root_cause)) : null),
      el("td", {}, h.outcome ? t(`reason_${h.outcome}`) : t(`state_${h.state}`)),
      el("td", {}, h.resolution || ""),
      el("td", {}, h.engineer || ""),
      el("td", {}, minutes(h.started_at, h.ended_at)),
      el("td", {}, h.satisfaction ? "★".repeat(h.satisfaction) : ""),
      supervisor ? el("td", {}, h.state === "ended" ? auditButtons(h.session_id) : null) : null)))));
}

// The service item the user picked (事前可选), with its list price: the engineer sees what was asked for.
export function itemText(item) {
  if (!item) return t("item_none");
  const name = lang() === "en" ? item.name_en : item.name_zh;
  const price = item.price_cents == null ? "" : ` · ${(item.price_cents / 100).toFixed(2)} ${item.currency}`;
  return `${name} (${item.code})${price}`;
}

// "Send a rescue image to this customer": a plain form POST, so the browser streams the (large) image
// straight to a file; the server issues it (audited) and names it rme-rescue-<customer>.iso.
export function rescueImage(ctx, customerId) {
  const box = el("div", { class: "rescue-image" });
  ctx.api("/api/console/rescue-image").then((info) => {
    if (!info.configured) {
      box.replaceChildren(el("p", { class: "muted" }, t("rescue_none")));
      return;
    }
    box.replaceChildren(el("form", { method: "post", target: "_self",
      action: `/api/console/customers/${encodeURIComponent(customerId)}/rescue-image` },
      el("button", { type: "submit", class: "send-rescue" }, t("rescue_send")), " ",
      el("span", { class: "muted" }, t("rescue_send_hint", { min: Math.round(info.code_ttl_s / 60) }))));
  }).catch(() => box.replaceChildren());
  return box;
}

export function ticketView(ctx, ticketId) {
  const root = el("section", { class: "view" }, el("p", { class: "muted" }, "…"));
  ctx.api(`/api/console/tickets/${encodeURIComponent(ticketId)}`).then((tk) => {
    const live = ctx.store.queue.get(tk.id);
    const canAccept = live && live.state === "queued";
    root.replaceChildren(
      el("h1", {}, t("ticket_title", { id: tk.id })),
      el("dl", { class: "facts" },
        el("dt", {}, t("customer")), el("dd", {}, tk.customer.name, " ",
          el("span", { class: `badge sub-${tk.customer.subscription}` }, t(`sub_${tk.customer.subscription}`))),
        el("dt", {}, t("device")), el("dd", { id: "ticket-device" }, tk.device.name,
          tk.device.rescue ? [" ", el("span", { class: "badge rescue" }, t("rescue_badge"))] : null),
        el("dt", {}, t("created")), el("dd", {}, time(tk.created_at)),
        el("dt", {}, t("col_state")), el("dd", {}, t(`state_${tk.state}`)),
        el("dt", {}, t("words")), el("dd", { class: "words" }, tk.words),
        el("dt", {}, t("service_item")), el("dd", { id: "ticket-item" }, itemText(tk.service_item))),
      canAccept ? el("p", {}, el("button", { type: "button", class: "primary accept",
        onclick: () => ctx.acceptTicket(tk.id) }, t("accept"))) : null,
      rescueImage(ctx, tk.customer.id),
      el("h2", {}, t("report")),
      renderReport(tk.report),
      el("h2", {}, t("history")),
      historyTable(tk.history, ctx));
  }).catch((err) => root.replaceChildren(el("p", { class: "error" }, t("error", { msg: err.message }))));
  return { root, destroy() {} };
}
