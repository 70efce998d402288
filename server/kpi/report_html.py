"""The weekly report as a printable HTML page (charts as inline SVG) and as CSV, in zh-CN or English.

The page is one self-contained document with no script: it prints as it shows, opens offline, and is
served with a policy that allows no script at all. Every piece of data enters it through `html.escape`.
"""

from __future__ import annotations

import csv
import io
from html import escape
from typing import Literal

from server.kpi.figures import TARGETS, Figures
from server.kpi.week import Advice, HourSlot, WeekReport

Lang = Literal["zh-CN", "en"]

__all__ = ["Lang", "advice_sentence", "render_csv", "render_html"]

_T: dict[str, dict[Lang, str]] = {
    "title": {"zh-CN": "每周服务报告", "en": "Weekly service report"},
    "week": {"zh-CN": "周次", "en": "Week"},
    "tz": {"zh-CN": "时区", "en": "Time zone"},
    "met": {"zh-CN": "本周全部达标", "en": "Every standard was met this week"},
    "missed": {"zh-CN": "本周未达标：", "en": "Standards missed this week: "},
    "no_data": {"zh-CN": "无数据", "en": "no data"},
    "day": {"zh-CN": "日期", "en": "Day"},
    "requests": {"zh-CN": "求助数", "en": "Requests"},
    "whole_week": {"zh-CN": "全周", "en": "Week"},
    "target": {"zh-CN": "标准", "en": "Standard"},
    "worst": {"zh-CN": "最差时段", "en": "Worst hours"},
    "worst_response": {"zh-CN": "平均响应最慢的时段", "en": "Slowest mean response"},
    "worst_abandon": {"zh-CN": "放弃率最高的时段", "en": "Most requests abandoned"},
    "causes": {"zh-CN": "主要故障原因", "en": "Top root causes"},
    "resolutions": {"zh-CN": "主要解决类别", "en": "Top resolutions"},
    "engineers": {"zh-CN": "工程师", "en": "Engineers"},
    "engineer": {"zh-CN": "工程师", "en": "Engineer"},
    "sessions": {"zh-CN": "会话数", "en": "Sessions"},
    "staffing": {"zh-CN": "排班建议", "en": "Staffing advice"},
    "no_advice": {
        "zh-CN": "每个时段在岗的工程师都足够。",
        "en": "Every hour had enough engineers online.",
    },
    "chart_staff": {
        "zh-CN": "每小时所需与在岗工程师（实线：所需；虚线：在岗）",
        "en": "Engineers needed and online each hour (solid: needed; dashed: online)",
    },
    "chart_response": {
        "zh-CN": "按一天中的小时统计的平均响应时间（秒），红线为 15 秒标准",
        "en": "Mean response by hour of day (s); the red line is the 15 s standard",
    },
    "model_c": {"zh-CN": "Erlang C（无人放弃）", "en": "Erlang C (nobody gives up)"},
    "model_a": {"zh-CN": "Erlang A（有人放弃）", "en": "Erlang A (some requests abandoned)"},
    "method": {
        "zh-CN": "计算方法：{model}；平均处理时长 {handle}{measured}；"
        "目标：{share}% 的求助在 {within} 秒内应答。",
        "en": "Method: {model}; mean handling time {handle}{measured}; goal: {share}% of requests "
        "answered within {within} s.",
    },
    "measured": {"zh-CN": "（本周实测）", "en": " (measured this week)"},
    "assumed": {"zh-CN": "（本周无数据，按默认值）", "en": " (no sessions this week: the default)"},
    "patience": {"zh-CN": "；平均耐心 {p}", "en": "; mean patience {p}"},
    "none": {"zh-CN": "无", "en": "none"},
}

_FIGURE_NAMES: dict[str, dict[Lang, str]] = {
    "answer_rate": {"zh-CN": "应答率", "en": "Answer rate"},
    "response_s": {"zh-CN": "平均响应", "en": "Mean response"},
    "first_contact_fix": {"zh-CN": "首次解决率", "en": "First-contact fix"},
    "session_min": {"zh-CN": "平均会话时长", "en": "Mean session length"},
    "satisfaction": {"zh-CN": "满意度", "en": "Satisfaction"},
}

_DAYS: dict[Lang, tuple[str, ...]] = {
    "zh-CN": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
}
_DAYS_LONG: dict[Lang, tuple[str, ...]] = {
    "zh-CN": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
    "en": ("Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays", "Saturdays", "Sundays"),
}


def _t(key: str, lang: Lang) -> str:
    return _T[key][lang]


def figure_name(key: str, lang: Lang) -> str:
    return _FIGURE_NAMES[key][lang]


def format_figure(key: str, value: float | None, lang: Lang) -> str:
    """A figure as a supervisor reads it: shares in %, response in s, sessions in min (s under one)."""
    if value is None:
        return _t("no_data", lang)
    if key in {"answer_rate", "first_contact_fix", "satisfaction"}:
        return f"{value * 100:.1f}%"
    if key == "response_s":
        return f"{value:.1f} s" if lang == "en" else f"{value:.1f} 秒"
    if key == "session_min":
        if value < 1:
            return f"{value * 60:.0f} s" if lang == "en" else f"{value * 60:.0f} 秒"
        return f"{value:.1f} min" if lang == "en" else f"{value:.1f} 分钟"
    return f"{value:g}"


def _duration(seconds: float, lang: Lang) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s" if lang == "en" else f"{seconds:.0f} 秒"
    return f"{seconds / 60:.1f} min" if lang == "en" else f"{seconds / 60:.1f} 分钟"


def _days_phrase(days: tuple[int, ...], lang: Lang) -> str:
    chosen = set(days)
    if chosen == set(range(7)):
        return "每天" if lang == "zh-CN" else "every day"
    if chosen == set(range(5)):
        return "工作日" if lang == "zh-CN" else "weekdays"
    if chosen == {5, 6}:
        return "周末" if lang == "zh-CN" else "weekends"
    names = [_DAYS_LONG[lang][d] for d in sorted(chosen)]
    if lang == "zh-CN":
        return "、".join(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def advice_sentence(advice: Advice, lang: Lang) -> str:
    """'add 2 seats on weekdays 19:00–22:00' / '工作日 19:00–22:00 增加 2 个坐席'."""
    hours = f"{advice.first_hour:02d}:00–{advice.last_hour + 1:02d}:00"
    days = _days_phrase(advice.days, lang)
    if lang == "zh-CN":
        return f"{days} {hours} 增加 {advice.seats} 个坐席"
    seats = "1 seat" if advice.seats == 1 else f"{advice.seats} seats"
    return f"Add {seats} on {days} {hours}"


def _figure_cells(figures: Figures, missed: list[str], lang: Lang) -> str:
    values = figures.to_json()
    cells = []
    for target in TARGETS:
        raw = values.get(target.key)
        value = float(raw) if isinstance(raw, int | float) else None
        mark = ' class="miss"' if target.key in missed else ""
        cells.append(f"<td{mark}>{escape(format_figure(target.key, value, lang))}</td>")
    return "".join(cells)


def _target_text(key: str, lang: Lang) -> str:
    target = next(t for t in TARGETS if t.key == key)
    sign = "≥" if target.direction == "min" else "≤"
    value = target.value * 100 if target.unit == "ratio" else target.value
    unit = {"ratio": "%", "s": " s", "min": " min"}[target.unit]
    return f"{sign} {value:g}{unit}"


def _staff_chart(slots: list[HourSlot], lang: Lang) -> str:
    """A step chart over the week's hours: needed (solid) against online (dashed)."""
    width, height, pad = 840, 200, 30
    top = max([1.0, *(s.required for s in slots), *(s.present for s in slots)])
    step = (width - 2 * pad) / max(1, len(slots))

    def y(value: float) -> float:
        return height - pad - value / top * (height - 2 * pad)

    def path(values: list[float]) -> str:
        points = []
        for i, value in enumerate(values):
            points.append(f"{pad + i * step:.1f},{y(value):.1f}")
            points.append(f"{pad + (i + 1) * step:.1f},{y(value):.1f}")
        return " ".join(points)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(_t("chart_staff", lang))}">',
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" stroke="#999"/>',
    ]
    for i, slot in enumerate(slots):  # a mark and the day's name at each local midnight
        if slot.hour == 0:
            x = pad + i * step
            parts.append(f'<line x1="{x:.1f}" y1="{pad}" x2="{x:.1f}" y2="{height - pad}" stroke="#ddd"/>')
            day = escape(_DAYS[lang][slot.day])
            parts.append(f'<text x="{x + 3:.1f}" y="{height - 10}" font-size="11">{day}</text>')
    parts.append(f'<text x="2" y="{pad}" font-size="11">{top:g}</text>')
    parts.append(
        f'<polyline class="needed" fill="none" stroke="#c0392b" stroke-width="2" '
        f'points="{path([float(s.required) for s in slots])}"/>'
    )
    parts.append(
        f'<polyline class="online" fill="none" stroke="#2471a3" stroke-width="2" stroke-dasharray="4 3" '
        f'points="{path([s.present for s in slots])}"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def _response_chart(by_hour: dict[int, float], target_s: float, lang: Lang) -> str:
    width, height, pad = 840, 180, 30
    top = max([target_s * 1.5, *by_hour.values()])
    bar = (width - 2 * pad) / 24

    def y(value: float) -> float:
        return height - pad - value / top * (height - 2 * pad)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(_t("chart_response", lang))}">'
    ]
    for hour in range(24):
        x = pad + hour * bar
        if hour in by_hour:
            value = by_hour[hour]
            colour = "#c0392b" if value > target_s else "#27ae60"
            parts.append(
                f'<rect class="hour" x="{x + 2:.1f}" y="{y(value):.1f}" width="{bar - 4:.1f}" '
                f'height="{height - pad - y(value):.1f}" fill="{colour}"><title>{hour:02d}:00 '
                f"{value:.1f} s</title></rect>"
            )
        if hour % 3 == 0:
            parts.append(f'<text x="{x + 2:.1f}" y="{height - 10}" font-size="11">{hour:02d}</text>')
    parts.append(
        f'<line x1="{pad}" y1="{y(target_s):.1f}" x2="{width - pad}" y2="{y(target_s):.1f}" '
        f'stroke="#c0392b" stroke-dasharray="6 4"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


_STYLE = """
body { font: 14px/1.45 "Noto Sans CJK SC", "WenQuanYi Micro Hei", system-ui, sans-serif; margin: 24px;
  color: #222; max-width: 900px; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 22px 0 8px; }
table { border-collapse: collapse; width: 100%; } th, td { border: 1px solid #ccc; padding: 4px 6px;
  text-align: right; overflow-wrap: anywhere; } th:first-child, td:first-child { text-align: left; }
td.miss { background: #fde2e0; color: #922; font-weight: 600; }
.verdict { padding: 8px 10px; border-radius: 4px; } .verdict.ok { background: #e3f4e8; }
.verdict.bad { background: #fde2e0; } svg { width: 100%; height: auto; }
@media print { body { margin: 0; } h2 { break-after: avoid; } table, svg { break-inside: avoid; } }
"""


def render_html(report: WeekReport, lang: Lang, names: dict[str, str] | None = None) -> str:
    """The whole page. `names` maps engineer ids to display names (ids are shown otherwise)."""
    names = names or {}
    missed_names = [figure_name(k, lang) for k in report.missed]
    verdict = (
        f'<p class="verdict bad" id="verdict">{escape(_t("missed", lang) + "、".join(missed_names))}</p>'
        if report.missed and lang == "zh-CN"
        else f'<p class="verdict bad" id="verdict">{escape(_t("missed", lang) + ", ".join(missed_names))}</p>'
        if report.missed
        else f'<p class="verdict ok" id="verdict">{escape(_t("met", lang))}</p>'
    )
    head = "".join(f"<th>{escape(figure_name(t.key, lang))}</th>" for t in TARGETS)
    rows = [
        f"<tr><th>{escape(_t('target', lang))}</th><td></td>"
        + "".join(f"<td>{escape(_target_text(t.key, lang))}</td>" for t in TARGETS)
        + "</tr>"
    ]
    for (date, figures), missed in zip(report.days, report.missed_by_day, strict=True):
        label = f"{_DAYS[lang][date.weekday()]} {date.isoformat()}"
        cells = _figure_cells(figures, missed, lang)
        rows.append(f"<tr><td>{escape(label)}</td><td>{figures.requests}</td>{cells}</tr>")
    rows.append(
        f"<tr><th>{escape(_t('whole_week', lang))}</th><td>{report.week_figures.requests}</td>"
        f"{_figure_cells(report.week_figures, report.missed, lang)}</tr>"
    )

    def ranked(items: list[tuple[str, int]]) -> str:
        if not items:
            return f"<p>{escape(_t('none', lang))}</p>"
        return "<ol>" + "".join(f"<li>{escape(code)} — {count}</li>" for code, count in items) + "</ol>"

    hour_items = "".join(
        f"<li>{h:02d}:00–{h + 1:02d}:00 — {escape(format_figure('response_s', v, lang))}</li>"
        for h, v in report.worst_response_hours
    )
    abandon_items = "".join(
        f"<li>{h:02d}:00–{h + 1:02d}:00 — {v * 100:.0f}%</li>" for h, v in report.worst_abandon_hours
    )
    none = f"<li class='none'>{escape(_t('none', lang))}</li>"
    engineer_rows = "".join(
        f"<tr><td>{escape(names.get(e.engineer_id, e.engineer_id))}</td><td>{e.figures.sessions}</td>"
        f"<td>{escape(format_figure('session_min', e.figures.session_min, lang))}</td>"
        f"<td>{escape(format_figure('first_contact_fix', e.figures.first_contact_fix, lang))}</td>"
        f"<td>{escape(format_figure('satisfaction', e.figures.satisfaction, lang))}</td></tr>"
        for e in report.engineers
    )
    advice = (
        "<ul id='advice'>"
        + "".join(f"<li>{escape(advice_sentence(a, lang))}</li>" for a in report.advice)
        + "</ul>"
        if report.advice
        else f"<p id='advice'>{escape(_t('no_advice', lang))}</p>"
    )
    method = _t("method", lang).format(
        model=_t("model_a" if report.patience_s is not None else "model_c", lang),
        handle=_duration(report.handle_s, lang),
        measured=_t("measured" if report.handle_measured else "assumed", lang)
        if report.settings.handle_s is None
        else "",
        share=f"{report.settings.answer_share * 100:g}",
        within=f"{report.settings.answer_within_s:g}",
    )
    if report.patience_s is not None:
        method = (
            method.rstrip("。.")
            + _t("patience", lang).format(p=_duration(report.patience_s, lang))
            + ("。" if lang == "zh-CN" else ".")
        )
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<title>{escape(_t("title", lang))} {escape(report.week)}</title>
<style>{_STYLE}</style></head><body>
<h1>{escape(_t("title", lang))} · {escape(report.week)}</h1>
<p>{escape(report.days[0][0].isoformat())} – {escape(report.days[-1][0].isoformat())} ·
{escape(_t("tz", lang))}: {escape(report.tz)}</p>
{verdict}
<table id="days"><thead><tr><th>{escape(_t("day", lang))}</th>
<th>{escape(_t("requests", lang))}</th>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>
<h2>{escape(_t("worst", lang))}</h2>
<p>{escape(_t("worst_response", lang))}</p><ol id="worst-response">{hour_items or none}</ol>
<p>{escape(_t("worst_abandon", lang))}</p><ol id="worst-abandon">{abandon_items or none}</ol>
<p>{escape(_t("chart_response", lang))}</p>
{_response_chart(report.response_by_hour, report.settings.answer_within_s, lang)}
<h2>{escape(_t("causes", lang))}</h2>{ranked(report.root_causes)}
<h2>{escape(_t("resolutions", lang))}</h2>{ranked(report.resolutions)}
<h2>{escape(_t("engineers", lang))}</h2>
<table id="engineers"><thead><tr><th>{escape(_t("engineer", lang))}</th>
<th>{escape(_t("sessions", lang))}</th>
<th>{escape(figure_name("session_min", lang))}</th><th>{escape(figure_name("first_contact_fix", lang))}</th>
<th>{escape(figure_name("satisfaction", lang))}</th></tr></thead><tbody>{engineer_rows}</tbody></table>
<h2>{escape(_t("staffing", lang))}</h2>
{advice}
<p>{escape(_t("chart_staff", lang))}</p>
{_staff_chart(report.slots, lang)}
<p class="method">{escape(method)}</p>
</body></html>
"""


def render_csv(report: WeekReport) -> str:
    """Machine-readable rows: one per day and the week (figures), then one per hour slot (staffing).
    Column names are English keys, values plain numbers (empty: no data)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    keys = [t.key for t in TARGETS]
    writer.writerow(["section", "date", "requests", *keys, "missed"])
    for (date, figures), missed in zip(report.days, report.missed_by_day, strict=True):
        values = figures.to_json()
        writer.writerow(
            ["day", date.isoformat(), figures.requests, *(_cell(values[k]) for k in keys), " ".join(missed)]
        )
    values = report.week_figures.to_json()
    writer.writerow(
        [
            "week",
            report.week,
            report.week_figures.requests,
            *(_cell(values[k]) for k in keys),
            " ".join(report.missed),
        ]
    )
    writer.writerow([])
    writer.writerow(
        ["section", "day", "hour", "start_utc", "seconds", "requests", "required", "present", "short"]
    )
    for s in report.slots:
        writer.writerow(
            ["staffing", s.day, s.hour, s.start.isoformat(), s.seconds, s.requests, s.required,
             round(s.present, 3), s.short]
        )  # fmt: skip
    return out.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)
