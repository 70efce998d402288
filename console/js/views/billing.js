// The admin's billing page: the BSS integrations (create, rotate the secret, disable) and the dead
// letters — billing events that could not be delivered for three days — to inspect and replay.
// A new secret is shown once, here, and never again (the server keeps no way to show it later).

import { el } from "../dom.js";
import { t, time } from "../i18n.js";

export function billingView(ctx) {
  const secretBox = el("div", { id: "billing-secret", class: "banner live", hidden: true });
  const status = el("p", { id: "billing-status", role: "status", class: "muted" });
  const integrations = el("tbody", { id: "integrations" });
  const dead = el("tbody", { id: "dead-letters" });
  const detail = el("pre", { id: "dead-detail", class: "output", hidden: true });
  const name = el("input", { id: "integration-name", maxlength: 128, placeholder: t("integration_name") });

  function showSecret(answer) {
    secretBox.hidden = false;
    secretBox.replaceChildren(el("strong", {}, t("secret_once", { name: answer.name })), el("br"),
      el("code", { id: "secret-value" }, answer.secret));
  }
  async function act(fn) {
    status.textContent = "";
    try { await fn(); } catch (err) { status.textContent = t("error", { msg: err.message }); }
    await load();
  }
  function integrationRow(i) {
    return el("tr", { dataset: { integration: i.name, enabled: String(i.enabled) } },
      el("td", {}, i.name),
      el("td", {}, i.enabled ? t("enabled") : t("disabled"), i.rotating ? ` · ${t("rotating")}` : ""),
      el("td", {}, time(i.created_at)),
      el("td", {},
        el("button", { type: "button", class: "rotate", onclick: () => act(async () =>
          showSecret(await ctx.api(`/api/admin/billing/integrations/${encodeURIComponent(i.name)}/rotate`, { method: "POST" }))) },
        t("rotate")), " ",
        i.enabled ? el("button", { type: "button", class: "danger disable", onclick: () => act(() =>
          ctx.api(`/api/admin/billing/integrations/${encodeURIComponent(i.name)}/disable`, { method: "POST" })) },
        t("disable")) : null));
  }
  function deadRow(d) {
    return el("tr", { dataset: { event: d.id } },
      el("td", {}, el("code", {}, d.id)), el("td", {}, d.event_type), el("td", {}, time(d.created_at)),
      el("td", {}, String(d.attempts)), el("td", { class: "error" }, d.last_error || ""),
      el("td", {},
        el("button", { type: "button", class: "inspect", onclick: async () => {
          const full = await ctx.api(`/api/admin/billing/dead/${encodeURIComponent(d.id)}`);
          detail.hidden = false;
          detail.textContent = JSON.stringify(full, null, 2);
        } }, t("inspect")), " ",
        el("button", { type: "button", class: "primary replay", onclick: () => act(() =>
          ctx.api(`/api/admin/billing/dead/${encodeURIComponent(d.id)}/replay`, { method: "POST" })) }, t("replay"))));
  }
  async function load() {
    const [list, letters] = await Promise.all([ctx.api("/api/admin/billing/integrations"), ctx.api("/api/admin/billing/dead")]);
    integrations.replaceChildren(...list.integrations.map(integrationRow));
    dead.replaceChildren(...letters.events.map(deadRow));
    if (letters.events.length === 0) dead.append(el("tr", {}, el("td", { colspan: 6, class: "muted" }, t("no_dead"))));
  }
  const create = el("form", { class: "row", id: "integration-form", onsubmit: (e) => {
    e.preventDefault();
    if (!name.value.trim()) return;
    const body = { name: name.value.trim() };
    name.value = "";
    act(async () => showSecret(await ctx.api("/api/admin/billing/integrations", { json: body, method: "POST" })));
  } }, name, el("button", { type: "submit", class: "primary", id: "integration-create" }, t("create_integration")));
  const root = el("section", { class: "view billing" },
    el("h1", {}, t("billing_title")), status, secretBox,
    el("h2", {}, t("integrations")), create,
    el("div", { class: "scroll" }, el("table", {}, el("thead", {}, el("tr", {},
      ...["integration_name", "col_state", "created", "col_actions"].map((k) => el("th", {}, t(k))))), integrations)),
    el("h2", {}, t("dead_letters")), el("p", { class: "muted small" }, t("dead_note")),
    el("div", { class: "scroll" }, el("table", {}, el("thead", {}, el("tr", {},
      ...["event_id", "event_type", "created", "attempts", "last_error", "col_actions"].map((k) => el("th", {}, t(k))))), dead)),
    detail);
  load().catch((err) => { status.textContent = t("error", { msg: err.message }); });
  return { root, destroy() {} };
}
