"""The user's service record (事后可查) and the catalogue the user picks from (事前可选), as the relay
sends them to the agent and the BSS API to the CRM.

`make_receipt` reads a finished session's ticket (item, engineer, times, outcome, price — billed as
`completion.billable` bills it) and its audit export, derives the steps from the audit events
(`receipt.steps_from_events`), and signs the lot with the audit log's key (`receipt.receipt_body`).
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from protocol.limits import MAX_RECEIPT, MAX_TEXT_FRAME
from protocol.messages import Catalogue, CatalogueBody, CatalogueEntry, LocalText, Records, RecordsBody
from server.audit.export import SessionAuditExport
from server.billing.completion import billable
from server.billing.entitle import Offered
from server.billing.receipt import RECEIPT_FORMAT, receipt_body, steps_from_events
from server.db.tables import billing_outbox, engineers, iso, service_items, tickets

__all__ = ["ReceiptSigner", "catalogue_message", "make_receipt", "receipts_of_device", "records_message"]


class ReceiptSigner(Protocol):
    """The part of `server.audit.AuditLog` a receipt needs."""

    async def export_session(self, session_id: str) -> SessionAuditExport: ...

    def sign_line(self, body: bytes) -> str: ...


def catalogue_message(offered: Offered, refusals: dict[str, LocalText]) -> Catalogue:
    plan = offered.plan
    entries = [
        CatalogueEntry(
            code=row.code,
            name=LocalText(zh_CN=row.name_zh, en=row.name_en),
            description=LocalText(zh_CN=row.description_zh, en=row.description_en),
            price_cents=decision.price_cents,
            list_price_cents=row.price_cents,
            currency=row.currency,
            expected_minutes=row.expected_minutes,
            included=decision.code == "included",
            allowed=decision.allowed,
            reason=None if decision.allowed else decision.code,
        )
        for row, decision in offered.items[:64]
    ]
    general = offered.general
    refusal = None
    if general is not None and not general.allowed and general.code in refusals:
        refusal = refusals[general.code]
    return Catalogue(
        body=CatalogueBody(
            billing=offered.billing,
            plan=LocalText(zh_CN=plan.name_zh, en=plan.name_en) if plan is not None else None,
            sessions_left=offered.sessions_left,
            items=entries,
            refusal=refusal,
        )
    )


async def _billed(conn: AsyncConnection, row: Any) -> tuple[int, str]:
    """What the session was billed: its `session.completed` event's amount. Recomputing it now would
    use today's plan and prices (a plan changed since makes an included session look charged)."""
    o = billing_outbox.c
    sent = await conn.scalar(
        sa.select(o.payload)
        .where(
            o.event_type == "session.completed",
            o.created_at >= row.ended_at,  # written when the ticket ended (a replay only moves it later)
            o.payload["session_id"].as_string() == row.session_id,
        )
        .limit(1)
    )
    if isinstance(sent, dict) and isinstance(sent.get("billable_cents"), int):
        return sent["billable_cents"], str(sent.get("currency", "CNY"))
    return await billable(conn, row)  # no billing endpoint: nothing was sent, the plan's rule


async def make_receipt(engine: AsyncEngine, audit: ReceiptSigner, session_id: str) -> dict[str, Any] | None:
    """The signed receipt of a finished session (None: no such session, or it never started)."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                sa.select(tickets, engineers.c.display_name.label("engineer_name"))
                .outerjoin(engineers, engineers.c.id == tickets.c.engineer_id)
                .where(tickets.c.session_id == session_id)
            )
        ).first()
        if row is None or row.started_at is None or row.ended_at is None:
            return None
        price, currency = await _billed(conn, row)
        item = None
        if row.service_item:
            found = (
                await conn.execute(sa.select(service_items).where(service_items.c.code == row.service_item))
            ).first()
            item = {
                "code": row.service_item,
                "name_zh": found.name_zh if found is not None else row.service_item,
                "name_en": found.name_en if found is not None else row.service_item,
            }
    export = await audit.export_session(session_id)
    events = [event.document() for event in export.events]
    record: dict[str, Any] = {
        "session_id": row.session_id, "ticket_id": row.id, "customer_id": row.customer_id,
        "device_id": row.device_id, "service_item": item,
        "engineer": {"id": row.engineer_id, "name": row.engineer_name} if row.engineer_id else None,
        "requested_at": iso(row.created_at), "started_at": iso(row.started_at),
        "ended_at": iso(row.ended_at), "outcome": row.outcome, "resolution": row.resolution,
        "price_cents": price, "currency": currency, "steps": steps_from_events(events),
    }  # fmt: skip
    note = receipt_body(record, export.checkpoint)
    signature = note.decode() + "\n" + audit.sign_line(note)
    return {
        "format": RECEIPT_FORMAT,
        "record": record,
        "audit": json.loads(export.to_json()),
        "signature": signature,
    }


async def ended_sessions(engine: AsyncEngine, limit: int, *, device_id: str | None = None,
                         customer_id: str | None = None) -> list[str]:  # fmt: skip
    """Session ids of finished sessions that started, newest first."""
    query = sa.select(tickets.c.session_id).where(
        tickets.c.started_at.is_not(None), tickets.c.ended_at.is_not(None)
    )
    if device_id is not None:
        query = query.where(tickets.c.device_id == device_id)
    if customer_id is not None:
        query = query.where(tickets.c.customer_id == customer_id)
    async with engine.connect() as conn:
        return [str(s) for s in await conn.scalars(query.order_by(tickets.c.ended_at.desc()).limit(limit))]


async def receipts_of_device(engine: AsyncEngine, audit: object, device_id: str, limit: int) -> list[str]:
    """The device's receipts as JSON texts, newest first, as many as fit in one frame."""
    if not hasattr(audit, "export_session") or not hasattr(audit, "sign_line"):
        return []
    signer: ReceiptSigner = audit
    texts: list[str] = []
    room = MAX_TEXT_FRAME - 4096
    for session_id in await ended_sessions(engine, limit, device_id=device_id):
        receipt = await make_receipt(engine, signer, session_id)
        if receipt is None:
            continue
        text = json.dumps(receipt, ensure_ascii=False, separators=(",", ":"))
        wire = len(json.dumps(text, ensure_ascii=False).encode()) + 8  # as a string inside the frame
        if len(text) > MAX_RECEIPT or wire > room:
            continue
        room -= wire
        texts.append(text)
    return texts


def records_message(receipts: list[str]) -> Records:
    return Records(body=RecordsBody(receipts=receipts))
