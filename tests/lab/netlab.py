"""The fault lab: a real little network in Linux network namespaces, where the real agent runs and real
faults are switched on and off.

Topology (namespace names carry a random prefix, so parallel runs never collide):

    client: eth0 10.77.0.2/24 ══ router: lan0 10.77.0.1/24 (dnsmasq: DNS → ISP, DHCP on demand;
                                         portal HTTP :8080)
                                 router: wan0 198.51.100.1 ══ internet: wan0 198.51.100.2 (its gateway)
    internet: 198.51.100.53 ISP resolver, 198.51.100.66 rogue resolver, 223.5.5.5 and 119.29.29.29
              reference resolvers (one Python DNS server), 203.0.113.80 the check page (HTTP)

The client's resolv.conf is `/etc/netns/<client>/resolv.conf`, which `ip netns exec` bind-mounts over
/etc/resolv.conf for processes in the client namespace; the host's own file is never touched.
Faults are methods (`FAULTS` maps scenario names to them); `reset()` restores the healthy baseline, so
one topology serves every scenario. `close()` kills every process in the namespaces and deletes them.

Use it as a context manager:

    with FaultLab(tmp_path) as lab:
        lab.resolver_down()
        result = lab.diagnose()
        assert result.report.root_cause == "dns.unreachable"
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from protocol.report import DiagnosisReport
from tests.lab import wanlab
from tests.lab.managed import Managed, missing, require
from tests.lab.wanlab import DEAD_CHECK_IP, REFERENCE_IPV6

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

CLIENT_IP, GATEWAY_IP = "10.77.0.2", "10.77.0.1"
ROUTER_WAN, INTERNET_WAN = "198.51.100.1", "198.51.100.2"
ISP_DNS, ROGUE_DNS = "198.51.100.53", "198.51.100.66"
REFERENCE_DNS = ("223.5.5.5", "119.29.29.29")
CHECK_IP = "203.0.113.80"
MISSING_DNS = "10.77.0.53"  # on the LAN, but no host has it
CHECK_HOST, CHECK_BODY = "check.rme.lab", "RME Connect Test"
KNOWN_NAME, KNOWN_ADDRESS, FORGED_ADDRESS = "stable.rme.lab", "203.0.113.7", "198.18.0.66"
APIPA_ADDRESS = "169.254.23.45"

DHCLIENT_SCRIPT = """#!/bin/sh
# The lab's dhclient-script: apply the lease with `ip` and write resolv.conf in place (it is the
# namespace's bind mount). The system script would also run host hooks (timesyncd …).
case "$reason" in
PREINIT) ip link set dev "$interface" up ;;
BOUND|RENEW|REBIND|REBOOT)
  ip -4 addr replace "$new_ip_address/$new_subnet_mask" dev "$interface"
  for router in $new_routers; do ip -4 route replace default via "$router" dev "$interface"; break; done
  if [ -n "$new_domain_name_servers" ]; then
    : > /etc/resolv.conf
    for ns in $new_domain_name_servers; do echo "nameserver $ns" >> /etc/resolv.conf; done
  fi ;;
esac
exit 0
"""


class LabError(RuntimeError):
    pass


@dataclass(frozen=True)
class LabRun:
    """One run of the agent in the client namespace."""

    report: DiagnosisReport
    wall_s: float
    returncode: int
    stdout: str
    stderr: str


def available() -> str | None:
    """Why the lab cannot run here, or None if it can."""
    return missing("the fault lab", ("ip", "nft", "dnsmasq", "dhclient", "pppoe-server"))


def require_lab() -> None:
    """Skip where the lab cannot run — except in CI (`CI=true`), where a missing tool is a failure."""
    require(available())


class FaultLab(Managed):
    def __init__(self, workdir: Path) -> None:
        prefix = f"rl{secrets.token_hex(3)}"
        self.client, self.router, self.internet, self.park = (f"{prefix}-{n}" for n in ("c", "r", "i", "p"))
        self.workdir = workdir
        self.netns_etc = Path("/etc/netns") / self.client
        self.resolv_conf = self.netns_etc / "resolv.conf"
        self.modes_file = workdir / "dns-modes.json"
        self.config = workdir / "agent.toml"
        self.dhcp_state = workdir / "dhcp"
        self.dhclient_script = workdir / "dhclient-script"
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._dhcp_enabled = False
        self.ppp_dir = self.netns_etc / "ppp"
        self.ppp_log = workdir / "ppp.log"
        self.agent_env: dict[str, str] = {}  # extra environment for the agent (e.g. a proxy setting)

    # --- life cycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        for ns in (self.client, self.router, self.internet, self.park):
            self.sh(None, "ip", "netns", "add", ns)
            self.sh(ns, "ip", "link", "set", "lo", "up")
        self.sh(
            None,
            "ip",
            "link",
            "add",
            "eth0",
            "netns",
            self.client,
            "type",
            "veth",
            "peer",
            "lan0",
            "netns",
            self.router,
        )
        self.sh(
            None,
            "ip",
            "link",
            "add",
            "wan0",
            "netns",
            self.router,
            "type",
            "veth",
            "peer",
            "wan0",
            "netns",
            self.internet,
        )
        self.sh(self.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.sh(self.router, "ip", "addr", "add", f"{GATEWAY_IP}/24", "dev", "lan0")
        for address in (*REFERENCE_DNS, CHECK_IP):
            # On loopback: the kernel here may lack the dummy driver, and /32s on lo are just as local.
            self.sh(self.internet, "ip", "addr", "add", f"{address}/32", "dev", "lo")
        for address in (INTERNET_WAN, ISP_DNS, ROGUE_DNS):
            self.sh(self.internet, "ip", "addr", "add", f"{address}/24", "dev", "wan0")
        self.sh(self.internet, "ip", "link", "set", "wan0", "up")
        self.sh(self.internet, "ip", "route", "add", "10.77.0.0/24", "via", ROUTER_WAN)
        wanlab.start(self)
        self.netns_etc.mkdir(parents=True, exist_ok=True)
        self.dhclient_script.write_text(DHCLIENT_SCRIPT)
        self.dhclient_script.chmod(0o755)
        self.config.write_text(
            "[diagnosis]\n"
            f'check_url = "http://{CHECK_HOST}/connecttest.txt"\n'
            f'check_expect = "{CHECK_BODY}"\n'
            f'known_names = ["{KNOWN_NAME}"]\n'
            f"reference_ipv6 = {json.dumps(list(REFERENCE_IPV6))}\n"
            "[repairs]\n"
            f'state_dir = "{self.dhcp_state}"\n'
            'dhcp_client = "dhclient"\n'
            f'dhclient_script = "{self.dhclient_script}"\n'
            "timeout_s = 15\n"
        )
        self._start_servers()
        self.reset()

    def _start_servers(self) -> None:
        dns_config = self.workdir / "dns.json"
        dns_config.write_text(
            json.dumps(
                {
                    "listen": [*REFERENCE_DNS, ISP_DNS, ROGUE_DNS],
                    "zone": {f"{CHECK_HOST}.": CHECK_IP, f"{KNOWN_NAME}.": KNOWN_ADDRESS},
                    "lies": {f"{KNOWN_NAME}.": FORGED_ADDRESS},
                    "check_lies": {f"{CHECK_HOST}.": DEAD_CHECK_IP},
                    "modes_file": str(self.modes_file),
                    "slow_ms": 700,
                }
            )
        )
        self.modes_file.write_text(json.dumps({ROGUE_DNS: "lie"}))
        self._spawn("dns", self.internet, [PYTHON, "-m", "tests.lab.dns_server", str(dns_config)], ready=True)
        self._spawn(
            "check",
            self.internet,
            [PYTHON, "-m", "tests.lab.http_server", CHECK_IP, "80", "check", CHECK_BODY],
            ready=True,
        )
        self._spawn(
            "portal",
            self.router,
            [
                PYTHON,
                "-m",
                "tests.lab.http_server",
                GATEWAY_IP,
                "8080",
                "portal",
                f"http://{GATEWAY_IP}:8080/login",
            ],
            ready=True,
        )
        self._start_dnsmasq(dhcp=False)

    def _start_dnsmasq(self, dhcp: bool, pool: tuple[str, str] = ("10.77.0.100", "10.77.0.150")) -> None:
        old = self._processes.pop("dnsmasq", None)
        if old is not None:
            old.terminate()
            old.wait(5)
        argv = [
            "dnsmasq",
            "--keep-in-foreground",
            "--conf-file=/dev/null",
            "--no-resolv",
            "--no-hosts",
            "--cache-size=0",
            f"--listen-address={GATEWAY_IP}",
            "--bind-interfaces",
            f"--server={ISP_DNS}",
            "--pid-file=",
            "--user=root",
            f"--dhcp-leasefile={self.workdir / 'dnsmasq.leases'}",
            f"--log-facility={self.workdir / 'dnsmasq.log'}",
        ]
        if dhcp:
            argv += [
                f"--dhcp-range={pool[0]},{pool[1]},255.255.255.0,1h",
                "--dhcp-authoritative",
                # A dnsmasq router pings a new address for 3 s before its first offer to a new client.
                # A PC without an address has been asking for a while, so there the check is done (and
                # cached for 30 s); the lab's client never asked, so the check is off instead.
                "--no-ping",
                f"--dhcp-option=option:router,{GATEWAY_IP}",
                f"--dhcp-option=option:dns-server,{GATEWAY_IP}",
            ]
        self._spawn("dnsmasq", self.router, argv)
        self._dhcp_enabled = dhcp
        deadline = time.monotonic() + 5
        while f"{GATEWAY_IP}:53" not in self.sh(self.router, "ss", "-lnu").stdout:
            if time.monotonic() > deadline:
                raise LabError("dnsmasq did not start: " + (self.workdir / "dnsmasq.log").read_text())
            time.sleep(0.02)

    def _spawn(self, name: str, ns: str, argv: list[str], ready: bool = False) -> None:
        process = subprocess.Popen(
            ["ip", "netns", "exec", ns, *argv], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        self._processes[name] = process
        if ready:
            assert process.stdout is not None
            line = process.stdout.readline()
            if b"ready" not in line:
                raise LabError(f"{name} did not start")

    def close(self) -> None:
        """Kill everything that runs in the lab's namespaces (ours by their unique names), delete them."""
        for process in self._processes.values():
            with contextlib.suppress(OSError):
                process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(5)
        self._processes.clear()
        for ns in (self.client, self.router, self.internet, self.park):
            pids = self.sh(None, "ip", "netns", "pids", ns, check=False).stdout.split()
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)
            self.sh(None, "ip", "netns", "del", ns, check=False)
        shutil.rmtree(self.netns_etc, ignore_errors=True)
        with contextlib.suppress(OSError):  # only if no other lab (or anyone) uses it
            self.netns_etc.parent.rmdir()

    # --- helpers ----------------------------------------------------------------------------------------

    def sh(
        self,
        ns: str | None,
        *argv: str,
        check: bool = True,
        stdin: str | None = None,
        timeout: float = 30,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        full = list(argv) if ns is None else ["ip", "netns", "exec", ns, *argv]
        environ = {**os.environ, **env} if env else None
        done = subprocess.run(
            full, capture_output=True, text=True, input=stdin, timeout=timeout, check=False, env=environ
        )
        if check and done.returncode != 0:
            raise LabError(f"{' '.join(full)}: {done.stderr.strip()}")
        return done

    def nft(self, ns: str, script: str) -> None:
        # nft wants a newline (or ';') after a chain's closing brace before the table's.
        self.sh(ns, "nft", "-f", "-", stdin=script.replace("} }", "}\n}").replace("}}", "}\n}") + "\n")

    def set_resolvers(self, *servers: str) -> None:
        with self.resolv_conf.open("w") as handle:  # in place: it may be bind-mounted right now
            handle.write("".join(f"nameserver {s}\n" for s in servers))

    def set_dns_mode(self, server: str, mode: str) -> None:
        modes = json.loads(self.modes_file.read_text())
        modes[server] = mode
        self.modes_file.write_text(json.dumps(modes))

    def run_agent(
        self, args: Sequence[str], stdin: str | None = None, timeout: float = 60
    ) -> tuple[subprocess.CompletedProcess[str], float]:
        start = time.perf_counter()
        done = self.sh(
            self.client,
            PYTHON,
            "-m",
            "agent.cli",
            *args,
            check=False,
            stdin=stdin,
            timeout=timeout,
            env=self.agent_env,
        )
        return done, time.perf_counter() - start

    def diagnose(self, *extra: str, stdin: str | None = None, binary: Path | None = None) -> LabRun:
        """Run `rme-agent diagnose --json` in the client namespace (the module, or a built binary)."""
        args = ["diagnose", "--json", "--lang", "en", "--config", str(self.config), *extra]
        if binary is not None:
            start = time.perf_counter()
            done = self.sh(self.client, str(binary), *args, check=False, stdin=stdin, env=self.agent_env)
            wall = time.perf_counter() - start
        else:
            done, wall = self.run_agent(args, stdin=stdin)
        try:
            report = DiagnosisReport.model_validate_json(done.stdout)
        except ValueError as exc:
            raise LabError(f"no report (exit {done.returncode}): {done.stdout!r} {done.stderr!r}") from exc
        return LabRun(report, wall, done.returncode, done.stdout, done.stderr)

    # --- baseline and faults ----------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to a healthy network: every fault undone, every setting as at start."""
        pid_file = self.dhcp_state / "dhclient.eth0.pid"
        if pid_file.exists():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid_file.read_text().strip() or 0), signal.SIGKILL)
            pid_file.unlink()
        if "eth0" in self.sh(self.park, "ip", "-o", "link").stdout:
            self.sh(self.park, "ip", "link", "set", "eth0", "netns", self.client)
        for table in ("inet rmelab", "ip rmelab_nat", "arp rmelab"):
            self.sh(self.router, "nft", "delete", "table", *table.split(), check=False)
        self.sh(self.internet, "nft", "delete", "table", "inet", "rmelab", check=False)
        self.sh(self.router, "ip", "addr", "del", f"{CLIENT_IP}/32", "dev", "lan0", check=False)
        self.sh(self.router, "ip", "link", "set", "lan0", "up")
        self.sh(self.router, "ip", "link", "set", "wan0", "up")
        self.sh(self.router, "ip", "addr", "replace", f"{ROUTER_WAN}/24", "dev", "wan0")
        self.sh(self.router, "ip", "route", "replace", "default", "via", INTERNET_WAN)
        self.sh(self.client, "ip", "link", "set", "eth0", "up")
        self.sh(self.client, "ip", "addr", "flush", "dev", "eth0")
        self.sh(self.client, "ip", "addr", "add", f"{CLIENT_IP}/24", "dev", "eth0")
        self.sh(self.client, "ip", "route", "replace", "default", "via", GATEWAY_IP)
        self.sh(self.client, "ip", "neigh", "flush", "all")
        self.set_resolvers(GATEWAY_IP)
        self.modes_file.write_text(json.dumps({ROGUE_DNS: "lie"}))
        if self._dhcp_enabled:
            (self.workdir / "dnsmasq.leases").unlink(missing_ok=True)
            self._start_dnsmasq(dhcp=False)
        wanlab.reset(self)

    def healthy(self) -> None:
        """No fault."""

    def router_drops_ping(self) -> None:
        self.nft(
            self.router,
            "table inet rmelab { chain input { type filter hook input priority 0; "
            "icmp type echo-request drop; } }",
        )

    def no_adapter(self) -> None:
        self.sh(self.client, "ip", "link", "set", "eth0", "netns", self.park)

    def adapter_down(self) -> None:
        self.sh(self.client, "ip", "link", "set", "eth0", "down")

    def no_carrier(self) -> None:
        self.sh(self.router, "ip", "link", "set", "lan0", "down")

    def no_ipv4(self) -> None:
        self.sh(self.client, "ip", "addr", "flush", "dev", "eth0")

    def apipa(self) -> None:
        self.sh(self.client, "ip", "addr", "flush", "dev", "eth0")
        self.sh(self.client, "ip", "addr", "add", f"{APIPA_ADDRESS}/16", "dev", "eth0")

    def ip_conflict(self) -> None:
        """Another machine on the LAN (played by the router) also uses the client's address."""
        self.sh(self.router, "ip", "addr", "add", f"{CLIENT_IP}/32", "dev", "lan0")

    def no_default_route(self) -> None:
        self.sh(self.client, "ip", "route", "del", "default")

    def gateway_unreachable(self) -> None:
        """The router is there (link up) but answers nothing, not even ARP."""
        self.nft(
            self.router,
            "table arp rmelab { chain input { type filter hook input priority 0; policy drop; } }\n"
            "table inet rmelab { chain input { type filter hook input priority 0; "
            'iifname "lan0" drop; }\n chain forward { type filter hook forward priority 0; '
            'iifname "lan0" drop; } }',
        )
        self.sh(self.client, "ip", "neigh", "flush", "all")

    def no_resolver(self) -> None:
        self.set_resolvers()

    def resolver_down(self) -> None:
        """The router's DNS does not answer (the internet by IP still works)."""
        self.nft(
            self.router,
            "table inet rmelab { chain input { type filter hook input priority 0; "
            "udp dport 53 drop; tcp dport 53 drop; } }",
        )

    def resolver_missing(self) -> None:
        self.set_resolvers(MISSING_DNS)

    def nxdomain_hijack(self) -> None:
        self.set_dns_mode(ISP_DNS, "nxhijack")

    def rogue_resolver(self) -> None:
        self.set_resolvers(ROGUE_DNS)

    def internet_down(self) -> None:
        """The WAN link is down: the router answers, nothing beyond it does."""
        self.sh(self.router, "ip", "link", "set", "wan0", "down")

    def captive_portal(self) -> None:
        """Web traffic is redirected to a login page; everything else beyond the router is blocked."""
        self.nft(
            self.router,
            "table ip rmelab_nat { chain prerouting { type nat hook prerouting priority -100; "
            f'iifname "lan0" tcp dport 80 dnat to {GATEWAY_IP}:8080; }} }}\n'
            "table inet rmelab { chain forward { type filter hook forward priority 0; "
            'iifname "lan0" drop; } }',
        )

    def slow_dns(self) -> None:
        self.set_dns_mode(ISP_DNS, "slow")

    def enable_dhcp(self) -> None:
        """A DHCP server appears on the router (e.g. after the user restarted it)."""
        self._start_dnsmasq(dhcp=True)


# scenario → (fault, expected root cause, expected verdict)
SCENARIOS: dict[str, tuple[Callable[[FaultLab], None], str | None, str]] = {
    "healthy": (FaultLab.healthy, None, "ok"),
    "router_drops_ping": (FaultLab.router_drops_ping, None, "ok"),
    "no_adapter": (FaultLab.no_adapter, "nic.none", "offline"),
    "adapter_down": (FaultLab.adapter_down, "nic.disabled", "offline"),
    "no_carrier": (FaultLab.no_carrier, "link.down", "offline"),
    "no_ipv4": (wanlab.no_ipv4_dhcp_up, "ip.none", "offline"),
    "apipa": (wanlab.apipa_dhcp_up, "ip.apipa", "offline"),
    "ip_conflict": (FaultLab.ip_conflict, "ip.conflict", "offline"),
    "no_default_route": (FaultLab.no_default_route, "route.no_default", "offline"),
    "gateway_unreachable": (FaultLab.gateway_unreachable, "gateway.unreachable", "offline"),
    "no_resolver": (FaultLab.no_resolver, "dns.none", "offline"),
    "resolver_down": (FaultLab.resolver_down, "dns.unreachable", "offline"),
    "resolver_missing": (FaultLab.resolver_missing, "dns.unreachable", "offline"),
    "nxdomain_hijack": (FaultLab.nxdomain_hijack, "dns.hijack", "degraded"),
    "rogue_resolver": (FaultLab.rogue_resolver, "dns.hijack", "degraded"),
    "internet_down": (FaultLab.internet_down, "internet.unreachable", "offline"),
    "captive_portal": (FaultLab.captive_portal, "internet.captive_portal", "offline"),
    "slow_dns": (FaultLab.slow_dns, None, "degraded"),
    # issue 18: dial-up, DHCP, path
    "pppoe_healthy": (wanlab.pppoe_healthy, None, "ok"),
    "pppoe_server_stopped": (wanlab.pppoe_server_stopped, "pppoe.no_answer", "offline"),
    "pppoe_auth_failed": (wanlab.pppoe_auth_failed, "pppoe.auth_failed", "offline"),
    "pppoe_suspended": (wanlab.pppoe_suspended, "pppoe.auth_failed", "offline"),
    "pppoe_no_address": (wanlab.pppoe_no_address, "pppoe.no_address", "offline"),
    "pppoe_unstable": (wanlab.pppoe_unstable, "pppoe.unstable", "offline"),
    "dhcp_no_server": (wanlab.dhcp_no_server, "dhcp.no_answer", "offline"),
    "dhcp_pool_exhausted": (wanlab.dhcp_pool_exhausted, "dhcp.no_answer", "offline"),
    "router_upstream_cut": (FaultLab.internet_down, "internet.unreachable", "offline"),
    "router_dns_relay_failing": (wanlab.router_dns_relay_failing, "dns.unreachable", "offline"),
    "mtu_blackhole": (wanlab.mtu_blackhole, "mtu.blackhole", "degraded"),
    "ipv6_broken": (wanlab.ipv6_broken, "ipv6.broken", "degraded"),
    "dead_proxy": (wanlab.dead_proxy, "proxy.unreachable", "offline"),
    "check_host_lie": (wanlab.check_host_lie, "dns.hijack", "offline"),
    "check_site_down": (wanlab.check_site_down, "internet.upstream_unknown", "offline"),
}
