"""What an engineer expects of a tool used all day, over HTTP: canned chat replies (supervisors edit
them), a search over past tickets, the tickets behind each service figure, and the favicon.

GET    /api/console/canned                 every engineer
POST   /api/console/canned                 supervisors: {"text_zh", "text_en"}
PUT    /api/console/canned/{id}            supervisors
DELETE /api/console/canned/{id}            supervisors
GET    /api/console/search?q=…             tickets whose customer, device, words or id match
GET    /api/console/kpis/{figure}/tickets  supervisors: the tickets a figure counts (today or the week)
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field

import console
from server.accounts.engineers import Engineer
from server.audit import AuditWriteError
from server.db.tables import canned_replies, customers, devices, new_id, tickets, utcnow
from server.kpi.figures import FIGURE_KEYS, behind, day_starts
from server.kpi.store import WEEK_DAYS, load_facts
from server.web.console_routes import ticket_json, ticket_query
from server.web.security import get_services, require_engineer, require_supervisor

router = APIRouter(tags=["desk"])

SEARCH_LIMIT = 50
MAX_CANNED = 200
FAVICON = Path(console.__file__).resolve().parent / "favicon.ico"


@router.get("/favicon.ico", include_in_schema=False)
async def favicon() -> FileResponse:
    return FileResponse(FAVICON, media_type="image/x-icon", headers={"Cache-Control": "max-age=86400"})


# ---- canned replies -----------------------------------------------------------------------------


class CannedIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text_zh: Annotated[str, Field(min_length=1, max_length=1000)]
    text_en: Annotated[str, Field(min_length=1, max_length=1000)]


def _canned_json(row: Any) -> dict[str, Any]:
    return {"id": row.id, "text_zh": row.text_zh, "text_en": row.text_en}


@router.get("/api/console/canned")
async def list_canned(request: Request, _: Engineer = require_engineer) -> list[dict[str, Any]]:
    async with get_services(request).engine.connect() as conn:
        rows = (await conn.execute(sa.select(canned_replies).order_by(canned_replies.c.position))).all()
    return [_canned_json(r) for r in rows]


async def _audit(request: Request, kind: str, who: Engineer, data: dict[str, Any]) -> None:
    try:
        await get_services(request).record(kind, f"engineer:{who.username}", None, data)
    except AuditWriteError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "could not be recorded") from None


@router.post("/api/console/canned", status_code=status.HTTP_201_CREATED)
async def add_canned(body: CannedIn, request: Request, who: Engineer = require_supervisor) -> dict[str, Any]:
    engine = get_services(request).engine
    async with engine.connect() as conn:
        count = await conn.scalar(sa.select(sa.func.count()).select_from(canned_replies)) or 0
        last = await conn.scalar(sa.select(sa.func.max(canned_replies.c.position)))
    if count >= MAX_CANNED:
        raise HTTPException(status.HTTP_409_CONFLICT, f"at most {MAX_CANNED} canned replies")
    reply_id = new_id("c")
    await _audit(request, "canned.added", who, {"id": reply_id})
    values = {
        "id": reply_id, "position": (last or 0) + 1, "text_zh": body.text_zh, "text_en": body.text_en,
        "updated_at": utcnow(), "updated_by": who.username,
    }  # fmt: skip
    async with engine.begin() as conn:
        await conn.execute(sa.insert(canned_replies).values(**values))
    return {"id": reply_id, "text_zh": body.text_zh, "text_en": body.text_en}


async def _require_reply(request: Request, reply_id: str) -> None:
    async with get_services(request).engine.connect() as conn:
        found = await conn.scalar(sa.select(canned_replies.c.id).where(canned_replies.c.id == reply_id))
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such canned reply")


@router.put("/api/console/canned/{reply_id}")
async def edit_canned(
    reply_id: str, body: CannedIn, request: Request, who: Engineer = require_supervisor
) -> dict[str, Any]:
    await _require_reply(request, reply_id)  # audited only when there is something to change
    await _audit(request, "canned.edited", who, {"id": reply_id})
    async with get_services(request).engine.begin() as conn:
        done = await conn.execute(
            sa.update(canned_replies)
            .where(canned_replies.c.id == reply_id)
            .values(text_zh=body.text_zh, text_en=body.text_en, updated_at=utcnow(), updated_by=who.username)
        )
    if done.rowcount == 0:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such canned reply")
    return {"id": reply_id, "text_zh": body.text_zh, "text_en": body.text_en}


@router.delete("/api/console/canned/{reply_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_canned(reply_id: str, request: Request, who: Engineer = require_supervisor) -> Response:
    await _require_reply(request, reply_id)
    await _audit(request, "canned.deleted", who, {"id": reply_id})
    async with get_services(request).engine.begin() as conn:
        done = await conn.execute(sa.delete(canned_replies).where(canned_replies.c.id == reply_id))
    if done.rowcount == 0:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such canned reply")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# ---- search -------------------------------------------------------------------------------------


def _like(text: str) -> str:
    """A LIKE pattern matching `text` literally anywhere (its own % and _ escaped)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _item(row: Any) -> dict[str, Any]:
    m = row._mapping
    return {**ticket_json(m), "customer": m["customer_name"], "device": m["device_name"],
            "customer_id": m["customer_id"]}  # fmt: skip


@router.get("/api/console/search")
async def search(
    request: Request,
    _: Engineer = require_engineer,
    q: Annotated[str, Query(min_length=1, max_length=200)] = "",
) -> list[dict[str, Any]]:
    """Past and open tickets whose customer, device, the user's words or ids contain `q` (any case),
    newest first."""
    words = q.strip()
    if not words:
        return []
    pattern = _like(words.lower())

    def has(column: Any) -> Any:
        return sa.func.lower(column).like(pattern, escape="\\")

    query = (
        ticket_query()
        .where(
            sa.or_(
                has(customers.c.name), has(devices.c.name), has(tickets.c.user_words),
                has(tickets.c.id), has(tickets.c.customer_id), has(tickets.c.device_id),
            )
        )
        .order_by(tickets.c.created_at.desc())
        .limit(SEARCH_LIMIT)
    )  # fmt: skip
    async with get_services(request).engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [_item(r) for r in rows]


# ---- the tickets behind a figure ----------------------------------------------------------------


@router.get("/api/console/kpis/{figure}/tickets")
async def figure_tickets(
    figure: str,
    request: Request,
    _: Engineer = require_supervisor,
    period: Literal["today", "week"] = "week",
    utc_offset_min: Annotated[int, Query(ge=-14 * 60, le=14 * 60)] = 0,
) -> list[dict[str, Any]]:
    if figure not in FIGURE_KEYS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such figure")
    engine = get_services(request).engine
    now = dt.datetime.now(dt.UTC)
    starts = day_starts(now, dt.timedelta(minutes=utc_offset_min), WEEK_DAYS)
    since = starts[-1] if period == "today" else starts[0]
    facts = await load_facts(engine, since)
    ids = behind(figure, facts)
    if not ids:
        return []
    async with engine.connect() as conn:
        rows = (
            await conn.execute(ticket_query().where(tickets.c.id.in_(ids)).order_by(tickets.c.created_at))
        ).all()
    return [_item(r) for r in rows]
