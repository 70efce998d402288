"""The engineers' web console: its static files at `/console/`, and the JSON it needs that the other
routers do not give — a ticket with its device's history, the supervisor's overview of open tickets and
sessions, the service figures, the repair catalogue, and checking a downloaded audit export.

Live data (the queue, session traffic) does not come from here: it is pushed over `/ws/engineer`.
The static files are public (the login page must load before anyone is logged in) and contain no data;
every `/api/console/*` route needs a login, and the supervisor's ones the supervisor role.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import FileResponse, RedirectResponse, Response

import console
from protocol.repairs import CATALOGUE
from server.accounts.engineers import Engineer
from server.audit import SessionAuditExport, verify_export
from server.audit.export import ExportFormatError
from server.billing.catalogue import read_catalogue
from server.db.tables import customers, devices, engineers, iso, service_items, tickets
from server.devices.rescue import is_rescue_device
from server.kpi import service_figures
from server.tickets.lifecycle import OPEN_STATES
from server.web.body_limit import MAX_EXPORT_BYTES
from server.web.security import get_services, require_engineer, require_supervisor

router = APIRouter(tags=["console"])

CONSOLE_DIR = Path(console.__file__).resolve().parent
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
}
# Same-origin everything; the WebSocket is same-origin too ('self' covers wss: in CSP Level 3, but
# older engines need it spelt out, so connect-src names the scheme).
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self' wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-cache",
}
HISTORY_LIMIT = 50
RECENT_SESSIONS = 30
MAX_STATIC_NAME = 200


# ---- static files -------------------------------------------------------------------------------


@router.get("/", include_in_schema=False)
async def root() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=status.HTTP_307_TEMPORARY_REDIRECT)


@router.get("/console", include_in_schema=False)
async def console_bare() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=status.HTTP_307_TEMPORARY_REDIRECT)


def _static_path(name: str) -> Path | None:
    """The file under the console directory that `name` names, or None (no escapes, known types only)."""
    if not name:
        name = "index.html"
    # NUL (`index.html%00.js`) and over-long names make the OS calls below raise: refuse them first.
    if len(name) > MAX_STATIC_NAME or not name.isprintable() or "\\" in name:
        return None
    if any(part in ("", ".", "..") or part.startswith(".") for part in name.split("/")):
        return None
    try:
        path = (CONSOLE_DIR / name).resolve()
        if not path.is_relative_to(CONSOLE_DIR) or path.suffix not in _TYPES or not path.is_file():
            return None
    except (OSError, ValueError):  # anything else the file system refuses is simply not there
        return None
    return path


@router.get("/console/{name:path}", include_in_schema=False)
async def console_file(name: str) -> Response:
    path = _static_path(name)
    if path is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")
    return FileResponse(path, media_type=_TYPES[path.suffix], headers=_HEADERS)


# ---- a ticket and its device's history ----------------------------------------------------------


def ticket_json(m: Any) -> dict[str, Any]:
    report = m["report"] or {}
    return {
        "id": m["id"],
        "session_id": m["session_id"],
        "state": m["state"],
        "words": m["user_words"],
        "lang": m["lang"],
        "verdict": report.get("verdict"),
        "root_cause": report.get("root_cause"),
        "created_at": iso(m["created_at"]),
        "accepted_at": iso(m["accepted_at"]),
        "started_at": iso(m["started_at"]),
        "ended_at": iso(m["ended_at"]),
        "outcome": m["outcome"],
        "resolution": m["resolution"],
        "satisfaction": m["satisfaction"],
        "engineer": m["engineer_name"],
        "service_item": None
        if m["service_item"] is None
        else {
            "code": m["service_item"],
            "name_zh": m["item_name_zh"] or m["service_item"],
            "name_en": m["item_name_en"] or m["service_item"],
            "price_cents": m["item_price_cents"],
            "currency": m["item_currency"],
        },
    }


def ticket_query() -> sa.Select[Any]:
    return (
        sa.select(
            tickets,
            engineers.c.display_name.label("engineer_name"),
            customers.c.name.label("customer_name"),
            customers.c.subscription,
            devices.c.name.label("device_name"),
            service_items.c.name_zh.label("item_name_zh"),
            service_items.c.name_en.label("item_name_en"),
            service_items.c.price_cents.label("item_price_cents"),
            service_items.c.currency.label("item_currency"),
        )
        .join(customers, customers.c.id == tickets.c.customer_id)
        .join(devices, devices.c.id == tickets.c.device_id)
        .outerjoin(engineers, engineers.c.id == tickets.c.engineer_id)
        .outerjoin(service_items, service_items.c.code == tickets.c.service_item)
    )


@router.get("/api/console/catalogue")
async def catalogue(request: Request, _: Engineer = require_engineer) -> dict[str, Any]:
    """The service catalogue (items and plans), for the engineer's "change service item" request."""
    return await read_catalogue(get_services(request).engine)


@router.get("/api/console/tickets/{ticket_id}")
async def ticket_detail(ticket_id: str, request: Request, _: Engineer = require_engineer) -> dict[str, Any]:
    """The ticket with its full diagnosis report, its customer and device, and that device's earlier
    tickets (newest first)."""
    engine = get_services(request).engine
    async with engine.connect() as conn:
        row = (await conn.execute(ticket_query().where(tickets.c.id == ticket_id))).first()
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such ticket")
        m = row._mapping
        earlier = (
            await conn.execute(
                ticket_query()
                .where(tickets.c.device_id == m["device_id"], tickets.c.id != ticket_id)
                .where(tickets.c.created_at <= m["created_at"])
                .order_by(tickets.c.created_at.desc())
                .limit(HISTORY_LIMIT)
            )
        ).all()
        # The customer's other tickets (any of their devices), for the engineer's side panel.
        customer_earlier = (
            await conn.execute(
                ticket_query()
                .where(tickets.c.customer_id == m["customer_id"], tickets.c.id != ticket_id)
                .where(tickets.c.created_at <= m["created_at"])
                .order_by(tickets.c.created_at.desc())
                .limit(HISTORY_LIMIT)
            )
        ).all()
    return {
        **ticket_json(m),
        "customer_history": [
            {**ticket_json(r._mapping), "device": r._mapping["device_name"]} for r in customer_earlier
        ],
        "report": m["report"],
        "customer": {"id": m["customer_id"], "name": m["customer_name"], "subscription": m["subscription"]},
        "device": {
            "id": m["device_id"],
            "name": m["device_name"],
            "rescue": is_rescue_device(m["device_name"]),
        },
        "history": [ticket_json(r._mapping) for r in earlier],
    }


# ---- the supervisor's overview, figures and audit -----------------------------------------------


@router.get("/api/console/overview")
async def overview(request: Request, _: Engineer = require_supervisor) -> dict[str, Any]:
    """Every open ticket and session (with who holds it), and the latest ended sessions."""
    services = get_services(request)
    open_states = [s.value for s in OPEN_STATES]
    async with services.engine.connect() as conn:
        open_rows = (
            await conn.execute(
                ticket_query().where(tickets.c.state.in_(open_states)).order_by(tickets.c.created_at)
            )
        ).all()
        ended_rows = (
            await conn.execute(
                ticket_query()
                .where(tickets.c.state == "ended")
                .order_by(tickets.c.ended_at.desc())
                .limit(RECENT_SESSIONS)
            )
        ).all()

    def item(row: Any) -> dict[str, Any]:
        m = row._mapping
        return {**ticket_json(m), "customer": m["customer_name"], "device": m["device_name"]}

    return {
        "open": [item(r) for r in open_rows],
        "recent": [item(r) for r in ended_rows],
        "connected": {
            "agents": len(services.agents),
            "engineers": sum(len(links) for links in services.engineers.values()),
        },
    }


@router.get("/api/console/kpis")
async def kpis(
    request: Request,
    _: Engineer = require_supervisor,
    utc_offset_min: Annotated[int, Query(ge=-14 * 60, le=14 * 60)] = 0,
) -> dict[str, Any]:
    """The service figures for today and the last 7 days (the caller's local days) against targets."""
    engine = get_services(request).engine
    return await service_figures(engine, utc_offset=dt.timedelta(minutes=utc_offset_min))


@router.post("/api/console/audit/verify")
async def verify_audit(request: Request, _: Engineer = require_supervisor) -> dict[str, Any]:
    """Check a session's audit export (as downloaded) against this server's audit key. The same check
    runs offline with `rme-server audit verify FILE --key KEY`; the key is returned for that."""
    services = get_services(request)
    raw = await request.body()
    if len(raw) > MAX_EXPORT_BYTES:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "export too large")
    key = getattr(services.audit, "verifier_key", None)
    if not isinstance(key, str):
        raise HTTPException(status.HTTP_501_NOT_IMPLEMENTED, "this audit log has no verifier key")
    try:
        export = SessionAuditExport.from_json(raw.decode("utf-8"))
    except (ExportFormatError, UnicodeDecodeError, ValueError) as exc:
        return {"ok": False, "problems": [f"not a session audit export: {str(exc)[:200]}"], "key": key}
    report = verify_export(export, key)
    return {
        "ok": report.ok,
        "session_id": report.session_id,
        "events_checked": report.events_checked,
        "tree_size": report.tree_size,
        "origin": report.origin,
        "summary": report.summary(),
        "problems": report.problems,
        "key": key,
    }


# ---- the repair catalogue -----------------------------------------------------------------------


@router.get("/api/console/repairs")
async def repairs(_: Engineer = require_engineer) -> list[dict[str, Any]]:
    """The repair catalogue in both languages (the console offers these by id; the agent shows the
    user the same risk and undo text before asking: both read `protocol.repairs`)."""
    return [
        {
            "id": spec.id,
            "zh-CN": spec.describe("zh-CN"),
            "en": spec.describe("en"),
            "platforms": sorted(spec.platforms),
        }
        for spec in CATALOGUE
    ]
