"""Tickets and sessions over HTTP: the queue (read-only; live updates come over `/ws/engineer`),
presence, a supervisor's kill switch for any session, and a session's audit export."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from protocol.messages import TicketSummary
from server.accounts.engineers import Engineer
from server.audit import AuditWriteError
from server.relay import queue as live_queue
from server.relay.notes import Note, NoteKind, agent_topic
from server.tickets import outputs
from server.tickets import store as tickets
from server.tickets.lifecycle import OPEN_STATES, Outcome, Party, TicketState, end
from server.web.security import get_services, require_engineer, require_supervisor

router = APIRouter(prefix="/api", tags=["tickets"])


class TicketOut(BaseModel):
    id: str
    session_id: str
    state: str
    device_id: str
    customer_id: str
    engineer_id: str | None
    words: str
    lang: str
    created_at: str
    report: dict[str, Any] | None
    service_item: str | None = None  # the catalogue item the user picked


class Presence(BaseModel):
    agents: list[str]
    engineers: list[str]


@router.get("/queue")
async def queue(request: Request, _: Engineer = require_engineer) -> list[TicketSummary]:
    return await tickets.summaries(get_services(request).engine)


@router.get("/tickets/{ticket_id}")
async def ticket(ticket_id: str, request: Request, _: Engineer = require_engineer) -> TicketOut:
    found = await tickets.get_ticket(get_services(request).engine, ticket_id=ticket_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such ticket")
    return TicketOut(
        id=found.id, session_id=found.session_id, state=found.state.value, device_id=found.device_id,
        customer_id=found.customer_id, engineer_id=found.engineer_id, words=found.words, lang=found.lang,
        created_at=found.created_at.isoformat(), report=found.report, service_item=found.service_item,
    )  # fmt: skip


@router.get("/presence")
async def presence(request: Request, _: Engineer = require_supervisor) -> Presence:
    services = get_services(request)
    return Presence(agents=sorted(services.agents), engineers=sorted(services.engineers))


@router.post("/sessions/{session_id}/end", status_code=status.HTTP_202_ACCEPTED)
async def end_session(session_id: str, request: Request, supervisor: Engineer = require_supervisor) -> None:
    """The supervisor's kill switch: ends any open session at once, on whichever node holds it."""
    services = get_services(request)
    found = await tickets.get_ticket(services.engine, session_id=session_id)
    if found is None or found.state not in OPEN_STATES:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no open session with that id")
    actor = f"engineer:{supervisor.username}"
    reached = await services.bus.publish(agent_topic(found.device_id), Note(NoteKind.KILL, actor, session_id))
    if reached == 0:  # no connection holds it: end it in the database
        try:
            await services.record("session.end", actor, session_id, {"reason": "ended_by_engineer"})
        except AuditWriteError:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "could not be recorded") from None
        move = end(found.state, Outcome.ENDED_BY_ENGINEER, Party.SERVER)
        await tickets.transition(services.engine, found.id, move)
        await live_queue.announce(services.engine, services.bus, removed=[found.id])


@router.get("/sessions/{session_id}/audit")
async def session_audit(
    session_id: str, request: Request, supervisor: Engineer = require_supervisor
) -> JSONResponse:
    """The session's audit events with inclusion proofs and a signed checkpoint (verifies offline)."""
    services = get_services(request)
    export = getattr(services.audit, "export_session", None)
    if export is None:
        raise HTTPException(status.HTTP_501_NOT_IMPLEMENTED, "this audit log cannot export")
    found = await tickets.get_ticket(services.engine, session_id=session_id)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such session")
    try:
        await services.record(
            "audit.export", f"engineer:{supervisor.username}", None, {"session": session_id}
        )
    except AuditWriteError:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "could not be recorded") from None
    result = await outputs.attach(services.engine, await export(session_id))
    return JSONResponse(json.loads(result.to_json()))


__all__ = ["TicketState", "router"]
