// Search past and open tickets by customer, device, the user's words or an id.

import { el } from "../dom.js";
import { t, time } from "../i18n.js";

let lastQuery = ""; // kept across a language switch or a trip to a ticket and back

export function searchView(ctx) {
  const input = el("input", { type: "search", id: "search-input", maxlength: 200, value: lastQuery,
    placeholder: t("search_placeholder") });
  const results = el("div", { id: "search-results" });
  async function run() {
    lastQuery = input.value.trim();
    if (!lastQuery) { results.replaceChildren(); return; }
    try {
      const found = await ctx.api(`/api/console/search?q=${encodeURIComponent(lastQuery)}`);
      results.replaceChildren(found.length ? el("div", { class: "scroll" }, el("table", { class: "search" },
        el("thead", {}, el("tr", {}, ...["created", "col_customer", "device", "col_words", "col_state", "outcome",
          "engineer"].map((k) => el("th", {}, t(k))))),
        el("tbody", {}, found.map((r) => el("tr", { dataset: { ticket: r.id } },
          el("td", {}, el("a", { href: `#/ticket/${r.id}` }, time(r.created_at))),
          el("td", {}, r.customer), el("td", {}, r.device), el("td", { class: "words" }, r.words),
          el("td", {}, t(`state_${r.state}`)), el("td", {}, r.outcome ? t(`reason_${r.outcome}`) : ""),
          el("td", {}, r.engineer || ""))))))
        : el("p", { class: "muted", id: "search-none" }, t("search_none")));
    } catch (err) {
      results.replaceChildren(el("p", { class: "error" }, t("error", { msg: err.message })));
    }
  }
  const form = el("form", { class: "row", onsubmit: (e) => { e.preventDefault(); run(); } },
    input, el("button", { type: "submit", id: "search-go" }, t("nav_search")));
  if (lastQuery) run();
  setTimeout(() => input.focus(), 0);
  return { root: el("section", { class: "view" }, el("h1", {}, t("search_title")), form, results), destroy() {} };
}
