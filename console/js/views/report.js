// A diagnosis report (SPEC §6) as the engineer reads it: verdict and root cause in plain words, then
// every finding with its evidence and the repair it suggests.

import { el } from "../dom.js";
import { cause, t } from "../i18n.js";

export function verdictBadge(verdict) {
  const v = verdict || "none";
  return el("span", { class: `badge verdict-${v}` }, t(`verdict_${v}`));
}

function evidence(value) {
  if (!value || Object.keys(value).length === 0) return "";
  return el("code", { class: "evidence" }, JSON.stringify(value));
}

export function renderReport(report, onRepair) {
  if (!report) return el("p", { class: "muted" }, t("no_report"));
  const rows = report.findings.map((f) =>
    el("tr", { class: `finding row-${f.status}` },
      el("td", {}, f.check),
      el("td", {}, el("span", { class: `badge st-${f.status}` }, t(`st_${f.status}`))),
      el("td", {}, f.summary, f.code ? el("div", { class: "muted small" }, f.code) : null),
      el("td", {}, evidence(f.evidence)),
      el("td", {}, f.repair
        ? (onRepair ? el("button", { type: "button", class: "small", onclick: () => onRepair(f.repair) }, f.repair) : f.repair)
        : "")));
  return el("div", { class: "report" },
    el("p", {}, verdictBadge(report.verdict), " ",
      report.root_cause ? el("strong", {}, `${t("root_cause")}: ${cause(report.root_cause)}`) : null,
      report.root_cause ? el("span", { class: "muted" }, ` (${report.root_cause})`) : null,
      el("span", { class: "muted" }, ` · ${report.interface || "—"} · ${report.duration_ms} ms`)),
    el("div", { class: "scroll" },
      el("table", { class: "findings" },
        el("thead", {}, el("tr", {}, el("th", {}, t("check")), el("th", {}, t("status")),
          el("th", {}, t("summary")), el("th", {}, t("evidence")), el("th", {}, t("suggested_repair")))),
        el("tbody", {}, rows))));
}
