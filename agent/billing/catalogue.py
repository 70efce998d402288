"""The service items the server last offered this customer, with their prices (`catalogue` message).

The agent asks (`catalogue.request`) when the user is about to pick an item (panel, `rme-agent help
--item`) and keeps the answer: the `service_item` executor shows the user the item's name and price from
here before they consent to a change — the engineer's request carries only the code.
"""

from __future__ import annotations

from typing import Any

from agent.i18n import Lang, Text
from protocol.messages import CatalogueBody, CatalogueEntry

__all__ = ["T_INCLUDED", "CatalogueCache", "entry_json", "price_text"]

T_INCLUDED = Text("套餐内包含", "included in your plan")


def price_text(entry: CatalogueEntry, lang: Lang) -> str:
    """ "included in your plan", or the price the user pays (e.g. "30.00 CNY")."""
    if entry.included:
        return T_INCLUDED.render(lang)
    return f"{entry.price_cents / 100:.2f} {entry.currency}"


def entry_json(entry: CatalogueEntry, lang: Lang) -> dict[str, Any]:
    return {
        "code": entry.code,
        "name": entry.name.en if lang == "en" else entry.name.zh_CN,
        "description": entry.description.en if lang == "en" else entry.description.zh_CN,
        "price_cents": entry.price_cents,
        "currency": entry.currency,
        "included": entry.included,
        "allowed": entry.allowed,
        "reason": entry.reason,
        "price": price_text(entry, lang),
        "expected_minutes": entry.expected_minutes,
    }


class CatalogueCache:
    def __init__(self) -> None:
        self.body: CatalogueBody | None = None

    def update(self, body: CatalogueBody) -> None:
        self.body = body

    def get(self, code: str) -> CatalogueEntry | None:
        if self.body is None:
            return None
        return next((entry for entry in self.body.items if entry.code == code), None)

    def to_json(self, lang: Lang) -> dict[str, Any]:
        body = self.body
        if body is None:
            return {"billing": None, "items": []}
        return {
            "billing": body.billing,
            "plan": (body.plan.en if lang == "en" else body.plan.zh_CN) if body.plan else None,
            "sessions_left": body.sessions_left,
            "refusal": (body.refusal.en if lang == "en" else body.refusal.zh_CN) if body.refusal else None,
            "items": [entry_json(entry, lang) for entry in body.items],
        }
