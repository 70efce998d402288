// The supervisor's view: every open ticket and session, the service figures for today and the last
// seven days against the brief's targets (with a chart per figure), and the audit of ended sessions.
// Figures and the overview are re-read when the queue changes (a pushed event), never on a timer.

import { el } from "../dom.js";
import { cause, t, time, waited } from "../i18n.js";
import { auditButtons, verifyPicker } from "./audit.js";
import { barChart } from "./charts.js";
import { verdictBadge } from "./report.js";
import { alertsPanel, weeklyPanel } from "./weekly.js";

const KPIS = ["answer_rate", "response_s", "first_contact_fix", "session_min", "satisfaction"];

function format(key, v) {
  if (v === null || v === undefined) return t("no_data");
  if (key === "response_s") return t("seconds", { n: v.toFixed(1) });
  // Under a minute in seconds: a 5-second session is not "0.0 min".
  if (key === "session_min") return v < 1 ? t("seconds", { n: Math.round(v * 60) }) : t("minutes", { n: v.toFixed(1) });
  return `${(v * 100).toFixed(1)} %`;
}

function targetText(key, target) {
  const op = target.direction === "min" ? (key === "answer_rate" ? "=" : ">") : "<";
  return `${t("target")} ${op} ${format(key, target.value)}`;
}

function detail(key, f) {
  const vars = {
    answered: f.answered, unanswered: f.unanswered, waiting: f.waiting, p90: format("response_s", f.response_p90_s),
    sessions: f.sessions, resolved: f.resolved, repeat: f.repeat_calls, ratings: f.ratings,
    mean: f.mean_rating === null ? "—" : f.mean_rating.toFixed(2),
  };
  return t(`k_detail_${key}`, vars);
}

function metBadge(met) {
  if (met === null) return el("span", { class: "badge nodata" }, t("no_data"));
  return el("span", { class: `badge ${met ? "ok" : "bad"}` }, met ? t("met") : t("not_met"));
}

// The tickets a figure counts, listed under its card on demand (so a figure can be checked by hand).
function behindLink(ctx, key, period) {
  // `data-behind`, not `data-period`: the figure itself is the one element marked with its period.
  const box = el("div", { class: "behind", dataset: { behind: period } });
  const link = el("button", { type: "button", class: "link small behind-link", dataset: { kpi: key, behind: period },
    onclick: async () => {
      if (box.childElementCount) { box.replaceChildren(); return; }
      const offset = -new Date().getTimezoneOffset();
      try {
        const rows = await ctx.api(`/api/console/kpis/${key}/tickets?period=${period}&utc_offset_min=${offset}`);
        box.replaceChildren(rows.length ? el("ul", { class: "behind-list" }, rows.map((r) => el("li", {},
          el("a", { href: `#/ticket/${r.id}` }, time(r.created_at)), ` · ${r.customer} · ${r.device}`,
          r.outcome ? ` · ${t(`reason_${r.outcome}`)}` : ""))) : el("p", { class: "muted" }, t("behind_none")));
      } catch (err) {
        box.replaceChildren(el("p", { class: "error" }, t("error", { msg: err.message })));
      }
    } }, t("behind_figure"));
  return [link, box];
}

function kpiCard(ctx, key, data) {
  const target = data.targets.find((x) => x.key === key);
  // Label each bar with its local day of the month (the day began at `start`, a local midnight).
  const days = data.days.map((d) => ({
    label: String(new Date(new Date(d.start).getTime() + data.utc_offset_min * 60000).getUTCDate()), value: d[key] }));
  const scale = key === "response_s" ? 30 : key === "session_min" ? 30 : 1;
  return el("div", { class: "kpi", dataset: { kpi: key } },
    el("h3", {}, t(`k_${key}`)),
    el("div", { class: "kpi-values" },
      el("div", {}, el("div", { class: "muted small" }, t("today")),
        el("div", { class: "big", dataset: { period: "today" } }, format(key, data.today[key])), metBadge(target.met_today),
        el("div", { class: "muted small" }, detail(key, data.today)), ...behindLink(ctx, key, "today")),
      el("div", {}, el("div", { class: "muted small" }, t("week")),
        el("div", { class: "big", dataset: { period: "week" } }, format(key, data.week[key])), metBadge(target.met_week),
        el("div", { class: "muted small" }, detail(key, data.week)), ...behindLink(ctx, key, "week"))),
    el("div", { class: "muted small" }, targetText(key, target)),
    barChart(days, target, { scale, format: (v) => format(key, v), title: `${t(`k_${key}`)} · ${t("week")}` }));
}

// The supervisor's kill switch for one open ticket or session: asks first, then the server ends it on
// whichever node holds it; the row leaves with the queue update that follows.
function killButton(ctx, it) {
  const status = el("span", { class: "muted small kill-status" });
  const button = el("button", { class: "danger kill", type: "button" }, t("kill_session"));
  button.addEventListener("click", async () => {
    if (!window.confirm(t("kill_confirm", { customer: it.customer, device: it.device }))) return;
    button.disabled = true;
    status.textContent = t("kill_sent");
    try {
      await ctx.api(`/api/sessions/${encodeURIComponent(it.session_id)}/end`, { method: "POST" });
    } catch (err) {
      button.disabled = false;
      status.textContent = t("error", { msg: err.message });
    }
  });
  return [button, status];
}

function overviewTable(ctx, items, recent) {
  return el("div", { class: "scroll" }, el("table", { class: recent ? "recent" : "open-items" },
    el("thead", {}, el("tr", {}, ...["created", "col_customer", "device", "col_words", "col_diagnosis",
      recent ? "outcome" : "col_state", "engineer", recent ? "audit" : "col_wait"].map((k) => el("th", {}, t(k))),
      recent ? null : el("th", {}, t("col_kill")))),
    el("tbody", {}, items.map((it) => el("tr", { dataset: { ticket: it.id, session: it.session_id } },
      el("td", {}, time(it.created_at)),
      el("td", {}, el("a", { href: `#/ticket/${it.id}` }, it.customer)),
      el("td", {}, it.device),
      el("td", { class: "words" }, it.words),
      el("td", {}, verdictBadge(it.verdict), it.root_cause ? el("div", { class: "cause" }, cause(it.root_cause)) : null),
      el("td", {}, recent ? [t(`reason_${it.outcome}`), it.resolution ? el("div", { class: "muted small" }, it.resolution) : null]
        : t(`state_${it.state}`)),
      el("td", {}, it.engineer || ""),
      el("td", {}, recent ? auditButtons(it.session_id) : waited((Date.now() - new Date(it.created_at)) / 1000)),
      recent ? null : el("td", { class: "kill-cell" }, ...killButton(ctx, it)))))));
}

// Supervisors keep the engineers' canned chat replies, in both languages.
function cannedEditor(ctx) {
  const list = el("ul", { id: "canned-list", class: "canned-list" });
  const zh = el("input", { type: "text", id: "canned-new-zh", maxlength: 1000, placeholder: t("canned_zh") });
  const en = el("input", { type: "text", id: "canned-new-en", maxlength: 1000, placeholder: t("canned_en") });
  async function load() {
    const rows = await ctx.api("/api/console/canned");
    list.replaceChildren(...rows.map((c) => el("li", { dataset: { canned: c.id } },
      el("span", {}, c.text_zh), " / ", el("span", {}, c.text_en), " ",
      el("button", { type: "button", class: "link small canned-delete", onclick: async () => {
        await ctx.api(`/api/console/canned/${encodeURIComponent(c.id)}`, { method: "DELETE" });
        load();
      } }, t("canned_delete")))));
  }
  const add = el("form", { class: "row", id: "canned-add", onsubmit: async (e) => {
    e.preventDefault();
    if (!zh.value.trim() || !en.value.trim()) return;
    await ctx.api("/api/console/canned", { method: "POST", json: { text_zh: zh.value.trim(), text_en: en.value.trim() } });
    zh.value = ""; en.value = "";
    load();
  } }, zh, en, el("button", { type: "submit" }, t("canned_add")));
  load().catch(() => {});
  return el("div", { class: "canned-editor" }, list, add);
}

export function supervisorView(ctx) {
  const kpis = el("div", { class: "kpis", id: "kpis" });
  const openBox = el("div", { id: "open-items" });
  const recentBox = el("div", { id: "recent" });
  const connected = el("p", { class: "muted", id: "connected" });
  const alerts = alertsPanel(ctx);
  const root = el("section", { class: "view supervisor" },
    el("h1", {}, t("sup_title")),
    alerts.banner,
    el("h2", {}, t("kpis")), kpis,
    el("h2", {}, t("alerts_title")), alerts.panel,
    el("h2", {}, t("report_title")), weeklyPanel(ctx),
    el("h2", {}, t("canned_edit")), cannedEditor(ctx),
    el("h2", {}, t("open_items")), connected, openBox,
    el("h2", {}, t("recent")), recentBox,
    el("h2", {}, t("audit")), verifyPicker());

  let pending = null;
  async function load() {
    const offset = -new Date().getTimezoneOffset();
    const [data, overview] = await Promise.all([
      ctx.api(`/api/console/kpis?utc_offset_min=${offset}`), ctx.api("/api/console/overview"), alerts.load()]);
    kpis.replaceChildren(...KPIS.map((k) => kpiCard(ctx, k, data)));
    connected.textContent = t("connected", overview.connected);
    openBox.replaceChildren(overview.open.length ? overviewTable(ctx, overview.open, false) : el("p", { class: "muted" }, t("none_open")));
    recentBox.replaceChildren(overviewTable(ctx, overview.recent, true));
  }
  const off = ctx.store.on((what) => {
    if (what !== "queue") return;
    clearTimeout(pending);
    pending = setTimeout(() => load().catch(() => {}), 500); // several updates in a burst: one reload
  });
  load().catch((err) => kpis.replaceChildren(el("p", { class: "error" }, t("error", { msg: err.message }))));
  return { root, destroy() { off(); clearTimeout(pending); } };
}
