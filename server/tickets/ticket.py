"""A ticket as the relay and the store pass it around (a row of `tickets`, immutable)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from server.tickets.lifecycle import TicketState


@dataclass(frozen=True)
class Ticket:
    id: str
    session_id: str
    device_id: str
    customer_id: str
    state: TicketState
    engineer_id: str | None
    words: str
    lang: str
    created_at: dt.datetime
    report: dict[str, Any] | None
    node_id: str | None = None  # the server node whose agent link holds it (None: unknown, pre-0003)
    service_item: str | None = None  # the catalogue item the user picked (None: none, or billing off)
