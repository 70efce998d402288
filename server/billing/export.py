"""Monthly reconciliation: the billing events of a month, once each, as CSV and JSON, with totals.

An event is counted once however many endpoints it went to (by its `event_key`); its month is that of
its creation (UTC). The totals are what the operator's billing received: the test compares them with
a real receiver's.
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

__all__ = ["MonthExport", "month_export", "parse_month", "write_export"]


@dataclass(frozen=True)
class MonthExport:
    month: str
    events: list[dict[str, Any]]
    totals: dict[str, Any]


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
        .where(o.created_at >= start, o.created_at < end)
        .order_by(o.created_at, o.id)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    seen: set[str] = set()
    events: list[dict[str, Any]] = []
    for row in rows:
        key = str(row.payload.get("event_key", ""))
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
    return MonthExport(month, events, {"events": len(events), "by_type": by_type, "billable_cents": amount})


def write_export(export: MonthExport, folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    json_path = folder / f"rme-billing-{export.month}.json"
    csv_path = folder / f"rme-billing-{export.month}.csv"
    json_path.write_text(
        json.dumps(
            {"month": export.month, "totals": export.totals, "events": export.events},
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
    ]
    writer.writerow(columns)
    for event in export.events:
        writer.writerow([event.get(c, "") for c in columns])
    csv_path.write_text(out.getvalue(), encoding="utf-8")
    return [csv_path, json_path]
