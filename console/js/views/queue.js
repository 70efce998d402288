// The live queue: redrawn whenever a queue.update arrives (pushed by the server); the waiting times
// tick locally once a second from each ticket's creation time — nothing is polled.

import { el } from "../dom.js";
import { cause, t, waited } from "../i18n.js";
import { verdictBadge } from "./report.js";

export function queueView(ctx) {
  const body = el("tbody", { id: "queue-rows" });
  const empty = el("p", { class: "muted", id: "queue-empty" }, t("queue_empty"));
  const table = el("div", { class: "scroll" }, el("table", { class: "queue" },
    el("thead", {}, el("tr", {}, ...["col_customer", "col_words", "col_diagnosis", "col_wait",
      "col_subscription", "col_state", "col_actions"].map((k) => el("th", {}, t(k))))),
    body));
  const root = el("section", { class: "view" }, el("h1", {}, t("queue_title")), empty, table);

  function row(s) {
    const mine = [...ctx.store.sessions.values()].find((r) => r.ticket.id === s.ticket_id);
    const action = s.state === "queued"
      ? el("button", { type: "button", class: "primary accept", onclick: () => ctx.acceptTicket(s.ticket_id) }, t("accept"))
      : mine ? el("a", { href: `#/session/${mine.sid}`, class: "button" }, t("view_session")) : null;
    return el("tr", { dataset: { ticket: s.ticket_id, state: s.state } },
      el("td", {}, el("a", { href: `#/ticket/${s.ticket_id}` }, s.customer_name),
        s.rescue ? [" ", el("span", { class: "badge rescue" }, t("rescue_badge"))] : null),
      el("td", { class: "words" }, s.words,
        s.service_item ? el("div", { class: "item muted small" }, `${t("service_item")}: ${s.service_item}`) : null),
      el("td", {}, verdictBadge(s.verdict), s.root_cause ? el("div", { class: "cause" }, cause(s.root_cause)) : null),
      el("td", { class: "wait", dataset: { since: String(s.created_ms) } }, waited((Date.now() - s.created_ms) / 1000)),
      el("td", {}, el("span", { class: `badge sub-${s.subscription}` }, t(`sub_${s.subscription}`))),
      el("td", {}, t(`state_${s.state}`)),
      el("td", {}, action));
  }

  function draw() {
    const list = ctx.store.queueList();
    body.replaceChildren(...list.map(row));
    empty.hidden = list.length > 0;
    table.hidden = list.length === 0;
  }

  const tick = setInterval(() => {
    for (const cell of body.querySelectorAll("td.wait")) {
      cell.textContent = waited((Date.now() - Number(cell.dataset.since)) / 1000);
    }
  }, 1000);
  const off = ctx.store.on((what) => { if (what === "queue" || what === "session") draw(); });
  draw();
  return { root, destroy() { clearInterval(tick); off(); } };
}
