"""Diagnosis wall time per fault-lab scenario, against a sequential anchor in the same run.

Targets (BRIEF §7): healthy network < 1 s; every fault scenario < 3 s with the right root cause.
For each scenario the real agent runs in the client namespace of the fault lab (tests/lab/netlab.py);
we print the diagnosis time (`duration_ms`, probes + rules), the whole process's wall time (interpreter
start and imports included) and whether the root cause was right.

Anchor: the same checks run one after another with the timeouts common tools use by default (ping's
first echo 2 s, glibc's resolver 5 s per server, 10 s TCP connect, 10 s HTTP), in the same namespace —
the shape of a naive troubleshooter. NetworkManager's connectivity check alone may wait 20 s.
Also measured: the single-file binary's size and start time (built if build/dist is stale).

Needs root (network namespaces). `python -m bench.diagnosis` — set RME_BENCH_RUNS (default 3) to
repeat each scenario; RME_BENCH_NO_BINARY=1 skips the PyInstaller build; RME_BENCH_ONLY=a,b limits the
run to those scenarios.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

# Scenarios for the anchor: every kind of timeout it can run into, without spending minutes.
ANCHOR_SCENARIOS = (
    "healthy",
    "router_drops_ping",
    "gateway_unreachable",
    "resolver_down",
    "internet_down",
    "captive_portal",
    "slow_dns",
    "pppoe_healthy",
    "pppoe_server_stopped",
    "dhcp_no_server",
    "mtu_blackhole",
    "ipv6_broken",
    "dead_proxy",
    "check_site_down",
)
# Healthy networks: the < 1 s target; everything else is a fault (< 3 s).
HEALTHY = ("healthy", "router_drops_ping", "pppoe_healthy")
# pppd waits 5 s for a PADO (rp-pppoe's default, before its retries); dhclient's first DISCOVER waits
# several seconds (Windows' DHCP client longer): 5 s is kind to both.
NAIVE = {"ping_s": 2.0, "dns_s": 5.0, "tcp_s": 10.0, "http_s": 10.0, "pado_s": 5.0, "dhcp_s": 5.0}


async def _sequential(config: Path) -> None:
    """The anchor: every check in turn, default timeouts, nothing in parallel. Runs in the client."""
    from agent.diagnosis import l2probe, linux, netprobe, pathprobe, rules
    from agent.diagnosis.config import load_settings

    settings = load_settings(config)
    local = linux.read_local_facts()
    iface = rules.choose_interface(local)
    if iface is None:
        return
    if not rules.needs_active_probes(local):
        plan = rules.plan_link_probes(local)
        if plan.pppoe_device is not None:
            await l2probe.pppoe_discover(plan.pppoe_device.name, plan.pppoe_device.mac or "", NAIVE["pado_s"])
        if plan.dhcp_device is not None:
            await l2probe.dhcp_discover(plan.dhcp_device.name, plan.dhcp_device.mac or "", NAIVE["dhcp_s"])
        return
    iface = rules.judged_interface(local) or iface
    gateway = rules.default_gateway(local, iface.name)
    if gateway:
        await netprobe.icmp_echo(gateway, NAIVE["ping_s"])
    for server in local.resolvers.servers:
        for name in settings.known_names:
            await netprobe.dns_query(server, name, NAIVE["dns_s"])
    for host, port in settings.tcp_targets():
        await netprobe.tcp_probe(host, port, NAIVE["tcp_s"])
    check_host = urlsplit(settings.check_url).hostname or ""
    address = None
    for server in local.resolvers.servers:
        answer = await netprobe.dns_query(server, check_host, NAIVE["dns_s"])
        if answer.addresses:
            address = answer.addresses[0]
            break

    async def fixed() -> tuple[str | None, str | None]:
        return address, "configured"

    await netprobe.http_check(settings.check_url, settings.check_expect, fixed(), NAIVE["http_s"])
    # The checks issue 18 added, one after another: ping of each size (as a person would try them),
    # IPv6 by TCP, and the proxy.
    target = settings.path_target()
    if target:
        for size in pathprobe.mtu_sizes(iface.mtu)[:4]:
            await pathprobe.mtu_probe(target, size, NAIVE["ping_s"])
    if iface.ipv6 and iface.name in local.ipv6_default_route:
        for host in settings.reference_ipv6:
            await netprobe.tcp_probe(host, 53, NAIVE["tcp_s"])
    for proxy in local.proxies:
        await pathprobe.proxy_probe(proxy, settings.check_url, NAIVE["http_s"])


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _binary_figures() -> tuple[float, float] | None:
    if os.environ.get("RME_BENCH_NO_BINARY"):
        return None
    from tests.build.binary import build_binary

    binary = build_binary()
    starts = []
    for _ in range(5):
        start = time.perf_counter()
        subprocess.run([str(binary), "--help"], capture_output=True, check=True)
        starts.append(time.perf_counter() - start)
    return binary.stat().st_size / 2**20, min(starts)


def main() -> None:
    from tests.lab.netlab import PYTHON, SCENARIOS, FaultLab, available

    reason = available()
    if reason is not None:
        print(f"skipped: {reason}")
        return
    runs = int(os.environ.get("RME_BENCH_RUNS", "3"))
    rows = []
    binary = _binary_figures()
    with tempfile.TemporaryDirectory() as workdir, FaultLab(Path(workdir)) as lab:
        only = [n for n in os.environ.get("RME_BENCH_ONLY", "").split(",") if n]
        for name, (fault, expected, _verdict) in SCENARIOS.items():
            if only and name not in only:
                continue
            durations, walls, right = [], [], True
            for _ in range(runs):
                lab.reset()
                fault(lab)
                run = lab.diagnose()
                if not right or run.report.root_cause != expected:
                    print(f"{name}: got {run.report.root_cause}", file=sys.stderr)
                durations.append(run.report.duration_ms / 1000)
                walls.append(run.wall_s)
                right = right and run.report.root_cause == expected
            anchor = None
            if name in ANCHOR_SCENARIOS:
                lab.reset()
                fault(lab)
                start = time.perf_counter()
                lab.sh(
                    lab.client,
                    PYTHON,
                    "-m",
                    "bench.diagnosis",
                    "anchor",
                    str(lab.config),
                    timeout=180,
                    env=lab.agent_env,
                )
                anchor = time.perf_counter() - start
            budget = 1.0 if name in HEALTHY else 3.0
            rows.append((name, expected or "-", right, _median(durations), _median(walls), budget, anchor))
        if binary is not None:
            lab.reset()
            from tests.build.binary import BINARY

            binary_healthy = lab.diagnose(binary=BINARY)
    print(f"runs per scenario: {runs} (median shown); anchor: sequential checks with default timeouts")
    print(
        f"{'scenario':<26} {'root cause':<26} {'right':<5} {'diagnosis s':>11} {'process s':>9} "
        f"{'target s':>8} {'anchor s':>8}"
    )
    for name, cause, right, duration, wall, budget, anchor in rows:
        met = "ok" if right and duration < budget and wall < budget else "MISS"
        anchor_text = f"{anchor:8.2f}" if anchor is not None else f"{'-':>8}"
        print(
            f"{name:<26} {cause:<26} {'yes' if right else 'NO':<5} {duration:11.3f} {wall:9.2f} "
            f"{'<' + str(budget):>8} {anchor_text} {met}"
        )
    worst_fault = max(r[3] for r in rows if r[5] == 3.0)
    worst_wall = max(r[4] for r in rows if r[5] == 3.0)
    worst_healthy = max(r[4] for r in rows if r[5] == 1.0)
    print(
        f"slowest fault diagnosis: {worst_fault:.3f} s ({worst_wall:.2f} s whole process); slowest healthy "
        f"process: {worst_healthy:.2f} s; every root cause right: {all(r[2] for r in rows)}"
    )
    print(f"load average at the end: {os.getloadavg()[0]:.1f} (2 cores)")
    if binary is not None:
        size_mb, start_s = binary
        print(
            f"single-file binary: {size_mb:.1f} MiB (target < 30), `--help` start {start_s:.2f} s (min of 5, "
            f"target < 1), healthy diagnose in the lab: {binary_healthy.wall_s:.2f} s wall, "
            f"{binary_healthy.report.duration_ms} ms diagnosis"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["anchor"]:
        asyncio.run(_sequential(Path(sys.argv[2])))
    else:
        main()
