// Audit: download a session's audit export (events, inclusion proofs, signed checkpoint) and verify
// one — the one just downloaded, or any file — against this server's audit key.

import { api, download, el } from "../dom.js";
import { t } from "../i18n.js";

// Results survive a redraw (a language switch re-renders the view): kept per session, and for the
// file picker, then shown again — in the new language — when the view comes back.
const results = new Map();

function showResult(box, r, key) {
  if (key) results.set(key, r);
  box.replaceChildren(r.ok
    ? el("span", { class: "badge ok verify-result" }, t("verify_ok", { n: r.events_checked, size: r.tree_size }))
    : el("span", { class: "badge bad verify-result" }, t("verify_bad", { problems: (r.problems || []).join("; ") })));
  if (r.key) box.append(el("div", { class: "muted small" }, `rme-server audit verify FILE --key ${r.key}`));
}

async function verifyText(text, box, key) {
  try {
    showResult(box, await api("/api/console/audit/verify", { method: "POST", body: text }), key);
  } catch (err) {
    box.replaceChildren(el("span", { class: "error" }, t("error", { msg: err.message })));
  }
}

export function auditButtons(sessionId) {
  const result = el("div", { class: "audit-result" });
  if (results.has(sessionId)) showResult(result, results.get(sessionId));
  let last = null;
  const get = el("button", { type: "button", class: "small download-audit", onclick: async () => {
    try {
      const doc = await api(`/api/sessions/${encodeURIComponent(sessionId)}/audit`);
      last = JSON.stringify(doc, null, 2);
      download(`rme-audit-${sessionId}.json`, last);
      verify.disabled = false;
    } catch (err) {
      result.replaceChildren(el("span", { class: "error" }, t("error", { msg: err.message })));
    }
  } }, t("download_audit"));
  const verify = el("button", { type: "button", class: "small verify-audit", disabled: true,
    onclick: () => last && verifyText(last, result, sessionId) }, t("verify_this"));
  return el("div", { class: "audit" }, get, " ", verify, result);
}

export function verifyPicker() {
  const result = el("div", { class: "audit-result" });
  if (results.has("picked")) showResult(result, results.get("picked"));
  const input = el("input", { type: "file", accept: ".json,application/json", class: "verify-file",
    onchange: async () => { if (input.files[0]) await verifyText(await input.files[0].text(), result, "picked"); } });
  return el("div", { class: "audit" }, el("label", {}, t("verify_audit"), " ", input), result);
}
