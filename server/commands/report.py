"""`rme-server report week`: the weekly service report and staffing advice (HTML, CSV or JSON).

rme-server report week [--week 2026-W48] [--tz Asia/Shanghai] [--lang zh-CN|en]
                       [--format html|csv|json] [--out FILE] [--share 0.9] [--within 15]

Without `--week`, last week (the ISO week before today's, in the chosen time zone). Writes to standard
output unless `--out` names a file. Exit 2 for a bad week or time zone, with the reason.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from server.commands._common import AdminContext, add_config_args, run_admin

DEFAULT_TZ = "Asia/Shanghai"


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser("report", help="service reports")
    commands = parser.add_subparsers(dest="report_command", metavar="REPORT", required=True)
    week = commands.add_parser("week", help="a week's figures against the standards, and staffing advice")
    week.add_argument("--week", help="ISO week such as 2026-W48 (default: last week)")
    week.add_argument("--tz", default=DEFAULT_TZ, help=f"the desk's time zone (default {DEFAULT_TZ})")
    week.add_argument("--lang", choices=("zh-CN", "en"), default="zh-CN")
    week.add_argument("--format", choices=("html", "csv", "json"), default="html")
    week.add_argument("--out", type=Path, help="write here instead of standard output")
    week.add_argument("--share", type=float, default=0.9, help="share to answer within --within (0.9)")
    week.add_argument("--within", type=float, default=15.0, help="the response standard in seconds (15)")
    add_config_args(week)
    week.set_defaults(handler=run_week)


def last_week(tz_name: str, now: dt.datetime | None = None) -> str:
    today = (now or dt.datetime.now(dt.UTC)).astimezone(ZoneInfo(tz_name)).date()
    year, week, _ = (today - dt.timedelta(days=7)).isocalendar()
    return f"{year}-W{week:02d}"


def run_week(args: argparse.Namespace) -> int:
    # Imported here: `rme-server --help` must not pay for the report's modules.
    from server.kpi.report_html import render_csv, render_html  # noqa: PLC0415
    from server.kpi.report_store import engineer_names, load_week_report, zone  # noqa: PLC0415
    from server.kpi.week import StaffingSettings  # noqa: PLC0415

    if not 0 < args.share < 1 or args.within < 0:
        print("rme-server: --share must be between 0 and 1 and --within not negative", file=sys.stderr)
        return 2
    settings = StaffingSettings(answer_within_s=args.within, answer_share=args.share)
    try:
        zone(args.tz)
    except ValueError as exc:
        print(f"rme-server: {exc}", file=sys.stderr)
        return 2

    async def work(ctx: AdminContext) -> tuple[Any, dict[str, str]]:
        week = args.week or last_week(args.tz)
        return await load_week_report(ctx.engine, week, args.tz, settings), await engineer_names(ctx.engine)

    try:
        report, names = run_admin(args, work)
    except ValueError as exc:
        print(f"rme-server: {exc}", file=sys.stderr)
        return 2
    if args.format == "html":
        text = render_html(report, args.lang, names)
    elif args.format == "csv":
        text = render_csv(report)
    else:
        text = json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n"
    if args.out:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
