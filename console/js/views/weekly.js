// The supervisor's weekly report and alerts. The report itself is a printable page of its own
// (server-rendered, no script); here the supervisor picks a week, sees at a glance which standards it
// missed and the staffing advice, and opens or downloads it. Alerts: the thresholds the supervisor
// sets, the values now, and a banner while one is raised — re-read with every queue change, so a
// crossing shows at once.

import { el } from "../dom.js";
import { lang, t } from "../i18n.js";

const DAY_KEYS = ["d_mon", "d_tue", "d_wed", "d_thu", "d_fri", "d_sat", "d_sun"];

function zone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || "Asia/Shanghai";
}

// The ISO week before this one, as `2026-W47` (the value format of <input type="week">).
export function lastWeek(now = new Date()) {
  const d = new Date(Date.UTC(now.getFullYear(), now.getMonth(), now.getDate() - 7));
  const day = d.getUTCDay() || 7;
  d.setUTCDate(d.getUTCDate() + 4 - day); // the Thursday decides the ISO year
  const year = d.getUTCFullYear();
  const week = Math.ceil(((d - Date.UTC(year, 0, 1)) / 86400000 + 1) / 7);
  return `${year}-W${String(week).padStart(2, "0")}`;
}

function daysPhrase(days) {
  const set = days.join(",");
  if (set === "0,1,2,3,4,5,6") return t("every_day");
  if (set === "0,1,2,3,4") return t("weekdays");
  if (set === "5,6") return t("weekends");
  return days.map((d) => t(DAY_KEYS[d])).join(t("list_sep"));
}

export function adviceText(a) {
  const hours = `${String(a.first_hour).padStart(2, "0")}:00–${String(a.last_hour + 1).padStart(2, "0")}:00`;
  return t(a.seats === 1 ? "advice_one" : "advice_many", { n: a.seats, days: daysPhrase(a.days), hours });
}

function reportUrl(week, format) {
  const q = new URLSearchParams({ week, tz: zone(), lang: lang(), format });
  return `/api/console/report/week?${q}`;
}

let chosenWeek = null; // kept across a redraw (a language switch re-renders the view)

export function weeklyPanel(ctx) {
  const picker = el("input", { type: "week", id: "report-week", value: chosenWeek || lastWeek() });
  const summary = el("div", { id: "report-summary", class: "report-summary" });
  const openLink = el("a", { id: "report-open", target: "_blank", rel: "noopener" }, t("report_open"));
  const csvLink = el("a", { id: "report-csv" }, t("report_csv"));
  async function show() {
    const week = picker.value || lastWeek();
    chosenWeek = week;
    openLink.href = reportUrl(week, "html");
    csvLink.href = reportUrl(week, "csv");
    summary.replaceChildren(el("p", { class: "muted" }, t("loading")));
    try {
      const data = await ctx.api(reportUrl(week, "json"));
      const missed = data.missed.map((k) => t(`k_${k}`));
      const advice = data.staffing.advice;
      summary.replaceChildren(
        el("p", { class: `verdict ${missed.length ? "bad" : "ok"}`, id: "report-verdict" },
          data.week_figures.requests === 0 ? t("report_empty")
            : missed.length ? t("report_missed", { list: missed.join(t("list_sep")) }) : t("report_met")),
        el("h3", {}, t("staffing")),
        advice.length ? el("ul", { id: "report-advice" }, advice.map((a) => el("li", {}, adviceText(a))))
          : el("p", { id: "report-advice", class: "muted" }, t("no_advice")));
    } catch (err) {
      summary.replaceChildren(el("p", { class: "error" }, t("error", { msg: err.message })));
    }
  }
  picker.addEventListener("change", () => show());
  show();
  return el("div", { class: "weekly", id: "weekly" },
    el("label", {}, t("report_week"), " ", picker), " ", openLink, " · ", csvLink, summary);
}

function alertLabel(kind) {
  return t(kind === "response_time" ? "alert_response" : "alert_queue");
}

export function alertsPanel(ctx) {
  const banner = el("div", { id: "alert-banner", class: "alert-banner", hidden: true, role: "alert" });
  const rows = el("div", { id: "alert-rows", class: "alert-rows" });
  const inputs = {};
  for (const kind of ["response_time", "queue_length"]) {
    const input = el("input", { type: "number", min: "0", step: kind === "queue_length" ? "1" : "any",
      id: `alert-${kind}`, placeholder: t("alert_off") });
    const save = el("button", { type: "button", id: `alert-save-${kind}` }, t("alert_save"));
    const now = el("span", { class: "muted small", id: `alert-now-${kind}` });
    save.addEventListener("click", async () => {
      const raw = input.value.trim();
      save.disabled = true;
      try {
        const body = await ctx.api(`/api/console/alerts/${kind}`,
          { method: "PUT", json: { threshold: raw === "" ? null : Number(raw) } });
        render({ alerts: body.alerts, values: null });
      } catch (err) {
        now.textContent = t("error", { msg: err.message });
      } finally {
        save.disabled = false;
      }
    });
    inputs[kind] = { input, now };
    rows.append(el("div", { class: "alert-row" },
      el("label", { for: `alert-${kind}` }, alertLabel(kind)), input, save, now));
  }
  let first = true;
  function render(data) {
    const raised = data.alerts.filter((a) => a.active);
    banner.hidden = raised.length === 0;
    banner.replaceChildren(...raised.map((a) => el("div", { dataset: { kind: a.kind } },
      t("alert_raised", { what: alertLabel(a.kind), value: a.value === null ? "—" : Number(a.value).toFixed(1),
        threshold: a.threshold }))));
    for (const a of data.alerts) {
      const field = inputs[a.kind];
      if (!field) continue;
      if (first || document.activeElement !== field.input) field.input.value = a.threshold ?? "";
      if (data.values) {
        const v = data.values[a.kind];
        field.now.textContent = t("alert_now", { value: v === null || v === undefined ? "—" : Number(v).toFixed(1) });
      }
    }
    first = false;
  }
  async function load() {
    render(await ctx.api("/api/console/alerts"));
  }
  return { banner, panel: el("div", { class: "alerts", id: "alerts" }, rows), load };
}
