"""The fault lab's dial-up, DHCP and path faults (issue 18): functions of a `FaultLab`.

Added to the topology of `netlab`:
- IPv6 on every link (2001:db8:77::/64 LAN, 2001:db8:51::/64 WAN) and the reference resolvers' IPv6
  addresses on the internet side, so a healthy run also proves IPv6;
- a PPPoE access concentrator on the router's LAN side (Debian's `pppoe-server`, which answers discovery
  for real) and a pppd peers file in the client (`/etc/netns/<client>/ppp`, bind-mounted over /etc/ppp
  by `ip netns exec`); an established session is `tests.lab.ppp_standin` (ppp0 of type PPP, IP packets as
  PPPoE session frames on the veth); the phases after discovery come from recorded pppd log lines
  written to the dialer's `logfile`;
- DHCP faults (no server, exhausted pool), an MTU black hole, broken IPv6, a dead proxy, a DNS lie about
  the check host, and a check site that is down while everything else works.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tests.lab.netlab import FaultLab

CLIENT_IP6, GATEWAY_IP6 = "2001:db8:77::2", "2001:db8:77::1"
ROUTER_WAN6, INTERNET_WAN6 = "2001:db8:51::1", "2001:db8:51::2"
REFERENCE_IPV6 = ("2400:3200::1", "2402:4e00::")
PPP_CLIENT, PPP_SERVER, PPP_SESSION = "100.64.0.2", "100.64.0.1", 0x1234
PEERS_NAME, AC_NAME, AC_SERVICE = "rme-dsl", "rme-bras", "rme-isp"
PROXY = "10.77.0.1:3128"  # on the router, where nothing listens
DEAD_CHECK_IP = "203.0.113.81"  # the forged answer for the check host: a host that refuses port 80
MTU_LIMIT = 1400  # the black hole swallows larger packets

# Recorded pppd (2.4.9, rp-pppoe plugin) log lines for the phases after discovery.
PPPD_AUTH_FAILED = """\
Plugin rp-pppoe.so loaded.
PPP session is 4660
Connected to 00:11:22:33:44:55 via interface eth0
Using interface ppp0
Connect: ppp0 <--> eth0
Remote message: Authentication failed
PAP authentication failed
Connection terminated.
"""
PPPD_SUSPENDED = """\
Plugin rp-pppoe.so loaded.
PPP session is 4660
Connect: ppp0 <--> eth0
CHAP authentication failed: E=691 R=0 C=8F1E V=3 M=Account in arrears, service suspended
CHAP authentication failed
Connection terminated.
"""
PPPD_NO_ADDRESS = """\
Plugin rp-pppoe.so loaded.
PPP session is 4660
Connect: ppp0 <--> eth0
PAP authentication succeeded
IPCP: timeout sending Config-Requests
Connection terminated.
"""
PPPD_UNSTABLE = "".join(
    "PAP authentication succeeded\nlocal  IP address 100.64.0.2\nremote IP address 100.64.0.1\n"
    "No response to 4 echo-requests\nSerial link appears to be disconnected.\nConnection terminated.\n"
    for _ in range(4)
)


def start(lab: FaultLab) -> None:
    lab.sh(lab.router, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
    for ns, dev, address in ipv6_links(lab):
        lab.sh(ns, "ip", "-6", "addr", "add", f"{address}/64", "dev", dev, "nodad")
    for address in (*REFERENCE_IPV6,):
        lab.sh(lab.internet, "ip", "-6", "addr", "add", f"{address}/128", "dev", "lo")
    lab.sh(lab.internet, "ip", "addr", "add", f"{DEAD_CHECK_IP}/32", "dev", "lo")
    lab.sh(lab.internet, "ip", "-6", "route", "add", "2001:db8:77::/64", "via", ROUTER_WAN6)
    lab.sh(lab.internet, "ip", "route", "add", "100.64.0.0/24", "via", "198.51.100.1")


def ipv6_links(lab: FaultLab) -> tuple[tuple[str, str, str], ...]:
    return (
        (lab.client, "eth0", CLIENT_IP6),
        (lab.router, "lan0", GATEWAY_IP6),
        (lab.router, "wan0", ROUTER_WAN6),
        (lab.internet, "wan0", INTERNET_WAN6),
    )


def reset(lab: FaultLab) -> None:
    for name in ("pppoe-server", "ppp-standin"):
        process = lab._processes.pop(name, None)
        if process is not None:
            process.kill()
            process.wait(5)
    if lab.ppp_dir.exists():
        for path in sorted(lab.ppp_dir.rglob("*"), reverse=True):
            path.rmdir() if path.is_dir() else path.unlink()
    # The client always has its own, empty /etc/ppp: the host's (Debian's ppp package ships a
    # `dsl-provider` template) must not leak into a scenario.
    (lab.ppp_dir / "peers").mkdir(parents=True, exist_ok=True)
    lab.ppp_log.unlink(missing_ok=True)
    lab.sh(lab.client, "ip", "link", "set", "eth0", "mtu", "1500")
    # A link that went down (or an adapter moved between namespaces) loses its static IPv6 addresses.
    for ns, dev, address in ipv6_links(lab):
        lab.sh(ns, "ip", "-6", "addr", "replace", f"{address}/64", "dev", dev, "nodad")
    lab.sh(lab.client, "ip", "-6", "route", "replace", "default", "via", GATEWAY_IP6)
    lab.sh(lab.router, "ip", "-6", "route", "replace", "default", "via", INTERNET_WAN6)
    lab.agent_env = {}
    # The healthy baseline includes IPv6 that answers: wait (bounded) until the client reaches a
    # reference over it, so neighbour discovery on fresh links is not what the first scenario measures.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pinged = lab.sh(lab.client, "ping", "-6", "-c", "1", "-W", "1", REFERENCE_IPV6[0], check=False)
        if pinged.returncode == 0:
            break


# --- PPPoE -----------------------------------------------------------------------------------------


def dialer(lab: FaultLab, log: str = "") -> None:
    """A PPPoE dialer in the client: its peers file, its log, and no IP on the Ethernet (as on a PC
    that dials)."""
    (lab.ppp_dir / "peers").mkdir(parents=True, exist_ok=True)
    (lab.ppp_dir / "peers" / PEERS_NAME).write_text(
        "# PPPoE to the lab's access concentrator\n"
        "plugin rp-pppoe.so eth0\n"
        'user "rme-lab@isp"\n'
        "noipdefault\nusepeerdns\ndefaultroute\npersist\nmaxfail 0\nhide-password\n"
        "lcp-echo-interval 20\nlcp-echo-failure 3\nmtu 1492\n"
        "# someone added a static address by hand:\n"
        "10.99.0.2:\n"
        f"logfile {lab.ppp_log}\n"
    )
    lab.ppp_log.write_text(log)
    lab.sh(lab.client, "ip", "-4", "addr", "flush", "dev", "eth0")
    lab.sh(lab.client, "ip", "-4", "route", "flush", "default")


def concentrator(lab: FaultLab) -> None:
    # -F foreground; -I the LAN side; -C/-S the names a PADO carries. Discovery only: nobody sends a
    # PADR, so it never starts pppd (which could not run here: no PPP in this kernel).
    argv = ["pppoe-server", "-F", "-I", "lan0", "-C", AC_NAME, "-S", AC_SERVICE, "-L", PPP_SERVER,
            "-R", PPP_CLIENT]  # fmt: skip
    process = subprocess.Popen(
        ["ip", "netns", "exec", lab.router, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    lab._processes["pppoe-server"] = process
    time.sleep(0.2)  # it opens its raw socket at once; give the process a moment to get there
    if process.poll() is not None:
        raise RuntimeError("pppoe-server did not start")


def pppoe_healthy(lab: FaultLab) -> None:
    """Dialled and connected: ppp0 up with the provider's address and the default route."""
    dialer(lab, PPPD_UNSTABLE.split("No response")[0])
    concentrator(lab)
    client_mac = lab.sh(lab.client, "cat", "/sys/class/net/eth0/address").stdout.strip()
    router_mac = lab.sh(lab.router, "cat", "/sys/class/net/lan0/address").stdout.strip()
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.lab.ppp_standin", lab.client, lab.router, client_mac, router_mac,
         str(PPP_SESSION)],
        cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    lab._processes["ppp-standin"] = process
    assert process.stdout is not None
    if b"ready" not in process.stdout.readline():
        raise RuntimeError("ppp stand-in did not start")
    lab.sh(lab.client, "ip", "addr", "add", PPP_CLIENT, "peer", PPP_SERVER, "dev", "ppp0")
    lab.sh(lab.client, "ip", "link", "set", "ppp0", "mtu", "1492", "up")
    lab.sh(lab.client, "ip", "route", "replace", "default", "dev", "ppp0")
    lab.sh(lab.router, "ip", "addr", "add", PPP_SERVER, "peer", PPP_CLIENT, "dev", "pppsrv0")
    lab.sh(lab.router, "ip", "link", "set", "pppsrv0", "up")


def pppoe_server_stopped(lab: FaultLab) -> None:
    """The dialer is configured, the access concentrator is gone (modem off, line down)."""
    dialer(lab, "Timeout waiting for PADO packets\nUnable to complete PPPoE Discovery\n")


def pppoe_auth_failed(lab: FaultLab) -> None:
    dialer(lab, PPPD_AUTH_FAILED)
    concentrator(lab)


def pppoe_suspended(lab: FaultLab) -> None:
    dialer(lab, PPPD_SUSPENDED)
    concentrator(lab)


def pppoe_no_address(lab: FaultLab) -> None:
    dialer(lab, PPPD_NO_ADDRESS)
    concentrator(lab)


def pppoe_unstable(lab: FaultLab) -> None:
    dialer(lab, PPPD_UNSTABLE)
    concentrator(lab)


# --- DHCP ------------------------------------------------------------------------------------------


def dhcp_no_server(lab: FaultLab) -> None:
    """Link up, no address: the router's DHCP service is off."""
    lab.apipa()


def dhcp_pool_exhausted(lab: FaultLab) -> None:
    """The router's DHCP service runs, but its one address is leased to another machine."""
    leases = lab.workdir / "dnsmasq.leases"
    leases.write_text(f"{int(time.time()) + 3600} 02:00:00:00:00:99 10.77.0.100 other *\n")
    lab._start_dnsmasq(dhcp=True, pool=("10.77.0.100", "10.77.0.100"))
    lab.apipa()


def no_ipv4_dhcp_up(lab: FaultLab) -> None:
    lab.enable_dhcp()
    lab.no_ipv4()


def apipa_dhcp_up(lab: FaultLab) -> None:
    lab.enable_dhcp()
    lab.apipa()


# --- path ------------------------------------------------------------------------------------------


def mtu_blackhole(lab: FaultLab) -> None:
    """Packets above MTU_LIMIT vanish on the router and "fragmentation needed" is never sent."""
    lab.nft(
        lab.router,
        "table inet rmelab { chain forward { type filter hook forward priority 0; "
        f"meta length > {MTU_LIMIT} drop; }}\n chain output {{ type filter hook output priority 0; "
        "icmp type destination-unreachable icmp code frag-needed drop; } }",
    )


def ipv6_broken(lab: FaultLab) -> None:
    """IPv6 address and route on the PC, but the router's IPv6 goes nowhere."""
    lab.sh(lab.router, "ip", "-6", "route", "del", "default")


def dead_proxy(lab: FaultLab) -> None:
    lab.agent_env = {"http_proxy": f"http://{PROXY}"}


def check_host_lie(lab: FaultLab) -> None:
    """The ISP's resolver (behind the router's relay) sends only the check host to a dead address."""
    modes = json.loads(lab.modes_file.read_text())
    modes["198.51.100.53"] = "checklie"
    lab.modes_file.write_text(json.dumps(modes))


def check_site_down(lab: FaultLab) -> None:
    """Everything works — DNS honest, the internet by IP — but the check site refuses connections."""
    lab.nft(
        lab.internet,
        "table inet rmelab { chain input { type filter hook input priority 0; "
        "tcp dport 80 reject with tcp reset; } }",
    )


def router_dns_relay_failing(lab: FaultLab) -> None:
    """The router's DNS relay gets nothing from its upstream, while the public resolvers work."""
    lab.set_dns_mode("198.51.100.53", "silent")


def peers_file(lab: FaultLab) -> Path:
    return lab.ppp_dir / "peers" / PEERS_NAME
