"""The `service_item` executor on its own: the user reads the new item's name and price (or "included
in your plan") from the catalogue the server offered — in both languages — an item not offered is
refused before the user is asked, and once allowed the outcome names the item."""

from __future__ import annotations

from agent.billing.catalogue import CatalogueCache
from agent.executors.base import Job
from agent.executors.service_item import ServiceItemExecutor
from protocol.actions import ServiceItemOutcome, ServiceItemParams
from protocol.messages import CatalogueBody, CatalogueEntry, LocalText
from tests.agent.executors.conftest import Recorder


def entry(code: str, zh: str, en: str, price: int, included: bool, allowed: bool = True) -> CatalogueEntry:
    return CatalogueEntry(
        code=code, name=LocalText(zh_CN=zh, en=en), description=LocalText(zh_CN="", en=""),
        price_cents=0 if included else price, list_price_cents=price, currency="CNY", expected_minutes=30,
        included=included, allowed=allowed, reason=None if allowed else "plan.item_not_included",
    )  # fmt: skip


def catalogue() -> CatalogueCache:
    cache = CatalogueCache()
    cache.update(
        CatalogueBody(
            billing=True,
            items=[
                entry("network_repair", "网络修复", "Network repair", 2000, included=True),
                entry("virus_cleanup", "病毒清除", "Virus clean-up", 5000, included=False),
                entry("data_rescue", "数据救援", "Data rescue", 9900, included=False, allowed=False),
            ],
        )
    )
    return cache


async def test_the_user_reads_name_and_price_and_the_outcome_names_the_item() -> None:
    executor = ServiceItemExecutor(catalogue())
    paid = executor.describe(ServiceItemParams(item="virus_cleanup"), "a virus", "en")
    assert "Virus clean-up" in paid.what and "50.00 CNY" in paid.what and paid.why == "a virus"
    free = executor.describe(ServiceItemParams(item="network_repair"), "", "zh-CN")
    assert "网络修复" in free.what and "套餐内包含" in free.what and free.title == "更改服务项目"
    assert executor.refusal(ServiceItemParams(item="virus_cleanup")) is None
    recorder = Recorder()
    done = await executor.run(Job("a1", "s1", ServiceItemParams(item="virus_cleanup"), recorder))
    assert done.outcome == ServiceItemOutcome(item="virus_cleanup") and done.error is None
    assert recorder.shown and recorder.shown[0][3] == {"code": "virus_cleanup"}


def test_items_not_offered_are_refused_before_asking() -> None:
    executor = ServiceItemExecutor(catalogue())
    for code in ("data_rescue", "gold_plating"):  # not purchasable on this plan; not in the catalogue
        refusal = executor.refusal(ServiceItemParams(item=code))
        assert refusal is not None and code in refusal.en and code in refusal.zh
    # No catalogue known (never asked): the user decides on the code, told the price is unknown.
    blind = ServiceItemExecutor(CatalogueCache())
    assert blind.refusal(ServiceItemParams(item="data_rescue")) is None
    assert "price unknown" in blind.describe(ServiceItemParams(item="data_rescue"), "", "en").what
