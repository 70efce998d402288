"""The `service_item` executor: the engineer asks to change the session's service item (e.g. from a
network repair to a virus clean-up); the user reads the new item and its price before consenting.

Nothing runs on the PC: once allowed, the outcome names the item and the server puts it on the ticket
(billing reads it there). The name and price come from the catalogue the server offered this customer
(`agent.billing.catalogue`), never from the engineer's words; an item that catalogue does not offer, or
offers but not to this customer, is refused before the user is asked.
"""

from __future__ import annotations

from typing import Any

from agent.billing.catalogue import CatalogueCache, price_text
from agent.executors.base import BaseExecutor, Done, Job
from agent.executors.described import Described
from agent.i18n import Lang, Text
from protocol.actions import ServiceItemOutcome, ServiceItemParams

T_TITLE = Text("更改服务项目", "Change the service item")
T_WHAT = Text(
    "把本次服务的项目改为“{name}”（{code}）。费用：{price}。同意后按新项目计费。",
    "Change this session's service to “{name}” ({code}). Price: {price}. Once you agree, the session is "
    "billed as the new item.",
)
T_WHAT_UNKNOWN = Text(
    "把本次服务的项目改为 {code}（价格未知：服务器没有提供价目表）。",
    "Change this session's service to {code} (price unknown: the server sent no price list).",
)
T_RISK = Text("费用可能变化", "The price may change")
T_UNDO = Text(
    "可以请工程师改回原项目（同样需要您同意）", "Ask the engineer to change it back (again with your consent)"
)
T_NOT_OFFERED = Text(
    "已自动拒绝：服务项目 {code} 不在为您提供的服务目录中",
    "Refused automatically: {code} is not offered to you",
)
T_DONE = Text("服务项目已改为 {code}", "The service item is now {code}")


class ServiceItemExecutor(BaseExecutor):
    kind = "service_item"

    def __init__(self, catalogue: CatalogueCache) -> None:
        self.catalogue = catalogue

    def describe(self, params: Any, reason: str, lang: Lang) -> Described:
        assert isinstance(params, ServiceItemParams)
        entry = self.catalogue.get(params.item)
        if entry is None:
            what = T_WHAT_UNKNOWN.render(lang, code=params.item)
        else:
            name = entry.name.en if lang == "en" else entry.name.zh_CN
            what = T_WHAT.render(lang, name=name, code=entry.code, price=price_text(entry, lang))
        return Described(
            "service_item",
            T_TITLE.render(lang),
            what,
            reason,
            T_RISK.render(lang),
            "low",
            T_UNDO.render(lang),
        )

    def refusal(self, params: Any) -> Text | None:
        assert isinstance(params, ServiceItemParams)
        if self.catalogue.body is None:
            return None  # nothing known to refuse by: the user decides on the code
        entry = self.catalogue.get(params.item)
        if entry is None or not entry.allowed:
            return Text(T_NOT_OFFERED.zh.format(code=params.item), T_NOT_OFFERED.en.format(code=params.item))
        return None

    async def run(self, job: Job) -> Done:
        assert isinstance(job.params, ServiceItemParams)
        job.show("result", T_DONE, code=job.params.item)
        return Done(ServiceItemOutcome(item=job.params.item))
