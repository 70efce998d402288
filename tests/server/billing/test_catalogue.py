"""Loading the catalogue on a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncEngine

from server.billing import entitle
from server.billing.catalogue import Catalogue, load_catalogue, read_catalogue
from tests.server.billing.test_completion import CATALOGUE
from tests.server.kpi.test_store import db

__all__ = ["db"]


async def test_an_item_left_out_of_a_reload_is_withdrawn(db: AsyncEngine) -> None:
    await load_catalogue(db, CATALOGUE)
    smaller = Catalogue.model_validate(
        {
            **CATALOGUE.model_dump(),
            "items": [i.model_dump() for i in CATALOGUE.items if i.code != "pc_tuneup"],
        }
    )
    await load_catalogue(db, smaller)
    items = {i["code"]: i["active"] for i in (await read_catalogue(db))["items"]}
    assert items == {"network_repair": True, "pc_tuneup": False}
    offered = await entitle.offered(db, "c_nobody", dt.datetime.now(dt.UTC))
    assert [row.code for row, _ in offered.items] == ["network_repair"]
    decision = await entitle.check(db, "c_nobody", "pc_tuneup", dt.datetime.now(dt.UTC))
    assert decision is not None and not decision.allowed
    # Put back, it is offered again.
    await load_catalogue(db, CATALOGUE)
    assert all(i["active"] for i in (await read_catalogue(db))["items"])
