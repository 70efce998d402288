"""Monthly reconciliation: the billing events of a month, once each, as CSV and JSON, with totals.

An event is counted once however many endpoints it went to (by its `event_key`); its month is that of
its creation (UTC), except a `usage.summary`, which belongs to the month it summarises (it is written
after that month ends). The totals are what the operator's billing received: the test compares them
with a real receiver's. `reconciliation` sets each customer's summary beside the month's
`session.completed` events: the sessions and amounts must agree (`ok`).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from server.db.tables import billing_outbox

__all__ = ["MonthExport", "month_export", "parse_month", "reconcile", "usage_of", "write_export"]


@dataclass(frozen=True)
class MonthExport:
    month: str
    events: list[dict[str, Any]]
    totals: dict[str, Any]
    reconciliation: dict[str, Any] | None = None


def parse_month(text: str) -> tuple[dt.datetime, dt.datetime]:
    try:
        start = dt.datetime.strptime(text.strip(), "%Y-%m").replace(tzinfo=dt.UTC)
    except ValueError:
        raise ValueError(f"not a month like 2026-11: {text!r}") from None
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return start, end


async def month_export(engine: AsyncEngine, month: str) -> MonthExport:
    start, end = parse_month(month)
    o = billing_outbox.c
    query = (
        sa.select(o.event_type, o.payload, o.created_at)
        .where(
            sa.or_(
                sa.and_(o.created_at >= start, o.created_at < end, o.event_type != "usage.summary"),
                sa.and_(o.event_type == "usage.summary", o.created_at >= start),
            )
        )
        .order_by(o.created_at, o.id)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    seen: set[str] = set()
    events: list[dict[str, Any]] = []
    for row in rows:
        key = str(row.payload.get("event_key", ""))
        if row.event_type == "usage.summary" and row.payload.get("month") != month:
            continue
        if key in seen:
            continue
        seen.add(key)
        created = row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=dt.UTC)
        events.append({"type": row.event_type, "at": created.isoformat(), **row.payload})
    by_type: dict[str, int] = {}
    amount: dict[str, int] = {}
    for event in events:
        by_type[event["type"]] = by_type.get(event["type"], 0) + 1
        cents = event.get("billable_cents")
        if isinstance(cents, int):
            currency = str(event.get("currency", "CNY"))
            amount[currency] = amount.get(currency, 0) + cents
    totals = {"events": len(events), "by_type": by_type, "billable_cents": amount}
    return MonthExport(month, events, totals, reconcile(events))


def usage_of(events: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Pure: per customer, the month's sessions and amounts from its `session.completed` payloads."""
    out: dict[str, dict[str, Any]] = {}
    for event in events:
        customer = str(event.get("customer_id"))
        usage = out.setdefault(
            customer, {"sessions": 0, "by_item": {}, "billable_cents": {}, "session_keys": []}
        )
        usage["sessions"] += 1
        item = str(event.get("service_item") or "none")
        usage["by_item"][item] = usage["by_item"].get(item, 0) + 1
        currency = str(event.get("currency") or "CNY")
        cents = event.get("billable_cents")
        usage["billable_cents"][currency] = usage["billable_cents"].get(currency, 0) + (
            cents if isinstance(cents, int) else 0
        )
        usage["session_keys"].append(event.get("event_key"))
    return out


def reconcile(events: list[dict[str, Any]]) -> dict[str, Any]:
    """Pure: each customer's `usage.summary` against the month's `session.completed` events."""
    sessions = usage_of([e for e in events if e["type"] == "session.completed"])
    summaries = {str(e.get("customer_id")): e for e in events if e["type"] == "usage.summary"}
    customers: dict[str, Any] = {}
    for customer in sorted(set(sessions) | set(summaries)):
        counted = sessions.get(customer, {"sessions": 0, "billable_cents": {}})
        summary = summaries.get(customer)
        ok = summary is not None and (
            summary.get("sessions") == counted["sessions"]
            and summary.get("billable_cents_by_currency") == counted["billable_cents"]
        )
        customers[customer] = {
            "sessions": counted["sessions"], "billable_cents": counted["billable_cents"],
            "summary_sessions": summary.get("sessions") if summary else None,
            "summary_billable_cents": summary.get("billable_cents_by_currency") if summary else None,
            "ok": ok,
        }  # fmt: skip
    return {
        "customers": customers,
        "ok": all(c["ok"] for c in customers.values()),
        "summaries": len(summaries),
    }


def write_export(export: MonthExport, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / f"rme-billing-{export.month}.json"
    csv_path = folder / f"rme-billing-{export.month}.csv"
    json_path.write_text(
        json.dumps(
            {
                "month": export.month,
                "totals": export.totals,
                "reconciliation": export.reconciliation,
                "events": export.events,
            },
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    columns = [
        "type",
        "at",
        "event_key",
        "customer_id",
        "customer_ref",
        "change",
        "status",
        "plan",
        "billable_cents",
        "currency",
        "month",
        "sessions",
    ]
    writer.writerow(columns)
    for event in export.events:
        writer.writerow([event.get(c, "") for c in columns])
    csv_path.write_text(out.getvalue(), encoding="utf-8")
    return [csv_path, json_path]
