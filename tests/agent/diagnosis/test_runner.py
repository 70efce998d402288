"""The runner's own logic on loopback; the full runs are in tests/lab (real namespaces)."""

from __future__ import annotations

import asyncio
import time

from agent.diagnosis import runner
from agent.diagnosis.config import load_settings
from agent.diagnosis.facts import Interface
from tests.agent.diagnosis.facts_builder import local


async def test_gateway_race_returns_on_the_first_answer() -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    async with server:
        start = time.perf_counter()
        probe = await runner.probe_gateway("127.0.0.1", None, 2.0)
    assert probe.answered and probe.method in ("icmp", "tcp")
    assert time.perf_counter() - start < 1.0


async def test_local_fault_means_no_packet_is_sent() -> None:
    down = Interface(name="eth0", admin_up=False, carrier=None)
    start = time.perf_counter()
    facts = await runner.gather_facts(load_settings(environ={}), local(interfaces=(down,)))
    assert facts.active_probes is False and facts.gateway is None and facts.http is None
    assert time.perf_counter() - start < 0.1


async def test_conflict_probe_leaves_facts_alone_without_a_usable_interface() -> None:
    facts = local()
    iface = facts.interfaces[0]
    # eth0 does not exist in this namespace: no ARP socket can bind, so nothing is marked.
    assert await runner.detect_conflicts(facts, iface) == facts


def test_local_facts_of_this_machine() -> None:
    assert runner.read_local_facts().platform == "linux"
