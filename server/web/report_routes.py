"""The supervisor's weekly report and alerts over HTTP.

GET  /api/console/report/week?week=2026-W48&tz=…&lang=…&format=html|csv|json
GET  /api/console/alerts                       the thresholds, the values now, which are raised
PUT  /api/console/alerts/{kind}  {"threshold": 30 | null}

The report page is a document of its own (no script), served with a policy that runs none.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict

from server.accounts.engineers import Engineer
from server.audit import AuditWriteError
from server.db.tables import ALERT_KINDS
from server.kpi.alerts import Alerts
from server.kpi.report_html import render_csv, render_html
from server.kpi.report_store import engineer_names, load_week_report
from server.kpi.week import StaffingSettings
from server.web.errors import unprocessable
from server.web.security import get_services, require_supervisor

router = APIRouter(tags=["reports"])

# The page has no script and loads nothing: only its own inline style may apply.
_REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"


@router.get("/api/console/report/week", response_model=None)
async def week_report(  # noqa: PLR0917  (FastAPI reads the query from the parameters)
    request: Request,
    _: Engineer = require_supervisor,
    week: Annotated[str | None, Query(max_length=16)] = None,
    tz: Annotated[str | None, Query(max_length=64)] = None,
    lang: Literal["zh-CN", "en"] = "zh-CN",
    format: Literal["html", "csv", "json"] = "html",
    share: Annotated[float, Query(gt=0, lt=1)] = 0.9,
    within: Annotated[float, Query(ge=0, le=3600)] = 15.0,
) -> Response | dict[str, Any]:
    from server.commands.report import last_week  # noqa: PLC0415  (shared default, no server state)

    services = get_services(request)
    zone = tz or services.config.report_tz
    try:
        chosen = week or last_week(zone)
        report = await load_week_report(
            services.engine, chosen, zone, StaffingSettings(answer_within_s=within, answer_share=share)
        )
    except (ValueError, KeyError) as exc:
        raise unprocessable(["query"], str(exc).strip("'\"")) from None
    if format == "json":
        return report.to_json()
    if format == "csv":
        return Response(
            render_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="rme-report-{report.week}.csv"'},
        )
    page = render_html(report, lang, await engineer_names(services.engine))
    return Response(
        page,
        media_type="text/html; charset=utf-8",
        headers={"Content-Security-Policy": _REPORT_CSP, "X-Content-Type-Options": "nosniff"},
    )


def _alerts(request: Request) -> Alerts:
    runtime = getattr(request.app.state, "kpi", None)
    if runtime is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "alerts are not running")
    alerts: Alerts = runtime.alerts
    return alerts


@router.get("/api/console/alerts")
async def alerts_now(request: Request, _: Engineer = require_supervisor) -> dict[str, Any]:
    """Evaluated on the spot, so a page that asks after each queue change shows a crossing at once."""
    values, states = await _alerts(request).evaluate()
    return {
        "values": {"response_time": values.response_s, "queue_length": values.queue_length},
        "alerts": [s.to_json() for s in states],
    }


class ThresholdIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: float | None


@router.put("/api/console/alerts/{kind}")
async def set_alert(
    kind: str, body: ThresholdIn, request: Request, supervisor: Engineer = require_supervisor
) -> JSONResponse:
    if kind not in ALERT_KINDS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
    if body.threshold is not None and (not math.isfinite(body.threshold) or body.threshold < 0):
        raise unprocessable(["body", "threshold"], "threshold must be a finite number ≥ 0")
    alerts = _alerts(request)
    try:
        await alerts.set_threshold(kind, body.threshold, f"engineer:{supervisor.username}")
    except AuditWriteError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "could not be recorded") from None
    _, states = await alerts.evaluate()
    return JSONResponse({"alerts": [s.to_json() for s in states]})
