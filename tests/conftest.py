"""The suite-wide packet guard: no test may send a packet beyond loopback or the namespaces it creates.

At session start the whole pytest process moves into a cgroup v2 of its own (every process a test starts
inherits it), and an nftables table of a unique name counts, on the output hook of this host's network
stack, every packet from a socket of that cgroup that leaves through an interface other than `lo`,
recording each destination (address, protocol, interface) in a set. At the end of the run the entries on
interfaces that existed at session start — the machine's ways out, not the veths a lab creates later — are
leaks: they are printed and the run fails. Processes inside a test's own network namespace have their own
stack and never reach this hook; PostgreSQL and Redis on 127.0.0.1 go through `lo`.

Matching on the cgroup keeps the verdict about this run only: other programs on a shared machine (a
package manager, another developer's tests) are not counted. Limits: a frame sent on a packet socket
(a raw ARP probe) bypasses the IP output hook, and a process that moves itself out of the cgroup is not
followed; the test agents therefore diagnose the loopback adapter (`tests/localnet.py`), which sends no
such frame.

Needs root, `nft` and a cgroup v2 mount. Without them the guard says clearly that it is off, and under
`CI=true` the run stops instead (CI runs as root: `scripts/bootstrap` installs nftables).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest

TABLE_PREFIX = "rme_leakguard_"


def _cgroup2_mount() -> Path | None:
    for line in Path("/proc/mounts").read_text().splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[2] == "cgroup2":
            return Path(parts[1])
    return None


def _own_cgroup2() -> str:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return line[3:]
    return "/"


def _nft(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["nft", *args], input=stdin, capture_output=True, text=True, timeout=30, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"nft {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def _interfaces() -> set[str]:
    return {p.name for p in Path("/sys/class/net").iterdir()} - {"lo"}


@dataclass
class PacketGuard:
    table: str
    cgroup: Path
    home_cgroup: Path
    ways_out: set[str]
    leaks: list[str] = field(default_factory=list)
    leaked_packets: int = 0  # every packet of the run off `lo`, including to a lab's own veths

    @classmethod
    def install(cls) -> PacketGuard:
        mount = _cgroup2_mount()
        if mount is None:
            raise RuntimeError("no cgroup v2 mount")
        suffix = f"{os.getpid()}_{secrets.token_hex(3)}"
        home = mount / _own_cgroup2().lstrip("/")
        cgroup = home / f"rme-leakguard-{suffix}"
        cgroup.mkdir()
        table = TABLE_PREFIX + suffix
        # nft resolves a cgroupv2 path below /sys/fs/cgroup; the level is the depth below the v2 root.
        relative = cgroup.relative_to("/sys/fs/cgroup")
        level = len(cgroup.relative_to(mount).parts)
        ruleset = f"""
table inet {table} {{
    counter leaked {{ }}
    set dest4 {{ type ipv4_addr . inet_proto . ifname; flags dynamic; size 65535; }}
    set dest6 {{ type ipv6_addr . inet_proto . ifname; flags dynamic; size 65535; }}
    chain output {{
        type filter hook output priority -300; policy accept;
        oif "lo" accept
        socket cgroupv2 level {level} "{relative}" goto ours
    }}
    chain ours {{
        counter name leaked
        meta nfproto ipv4 add @dest4 {{ ip daddr . meta l4proto . oifname }}
        meta nfproto ipv6 add @dest6 {{ ip6 daddr . meta l4proto . oifname }}
    }}
}}
"""
        try:
            _nft("-f", "-", stdin=ruleset)
            (cgroup / "cgroup.procs").write_text(str(os.getpid()))
        except Exception:
            subprocess.run(["nft", "delete", "table", "inet", table], capture_output=True, check=False)
            cgroup.rmdir()
            raise
        return cls(table, cgroup, home, _interfaces())

    def destinations(self) -> list[tuple[str, str, str]]:
        document = json.loads(_nft("-j", "list", "table", "inet", self.table))
        found: list[tuple[str, str, str]] = []
        for item in document["nftables"]:
            entries = item.get("set", {}).get("elem", [])
            for entry in entries:
                key = entry["elem"]["val"] if isinstance(entry, dict) and "elem" in entry else entry
                address, proto, interface = key["concat"]
                found.append((str(address), str(proto), str(interface)))
        return found

    def packets(self) -> int:
        document = json.loads(_nft("-j", "list", "counter", "inet", self.table, "leaked"))
        return next(int(i["counter"]["packets"]) for i in document["nftables"] if "counter" in i)

    def check(self) -> list[str]:
        """The destinations reached through the machine's ways out (the run's leaks), as text."""
        self.leaks = [
            f"{address} ({proto}) via {interface}"
            for address, proto, interface in self.destinations()
            if interface in self.ways_out
        ]
        return self.leaks

    def remove(self) -> None:
        (self.home_cgroup / "cgroup.procs").write_text(str(os.getpid()))
        subprocess.run(["nft", "delete", "table", "inet", self.table], capture_output=True, check=False)
        # A test that left a process behind keeps the cgroup; empty but for it, it is harmless.
        with contextlib.suppress(OSError):
            self.cgroup.rmdir()


def _why_off() -> str | None:
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("nft") is None:
        return "nft is not installed"
    if _cgroup2_mount() is None:
        return "no cgroup v2 mount"
    return None


GUARD_KEY = pytest.StashKey[PacketGuard]()
OFF_KEY = pytest.StashKey[str]()


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    why = _why_off()
    if why is None:
        try:
            config.stash[GUARD_KEY] = PacketGuard.install()
            return
        except (OSError, RuntimeError, ValueError) as exc:  # ValueError: cgroup v2 not below /sys/fs/cgroup
            why = f"could not be installed: {exc}"
    if os.environ.get("CI") == "true":
        raise pytest.UsageError(f"packet guard: {why}; CI must run it (as root, with nftables)")
    config.stash[OFF_KEY] = why


def pytest_report_header(config: pytest.Config) -> str:
    if OFF_KEY in config.stash:
        return f"packet guard: OFF ({config.stash[OFF_KEY]}) — packets leaving this machine are NOT checked"
    return "packet guard: on (nftables counts every packet of this run that leaves through a real interface)"


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    guard = session.config.stash.get(GUARD_KEY, None)
    if guard is None:
        return
    try:
        if guard.check():
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            guard.leaked_packets = guard.packets()
    finally:
        guard.remove()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if OFF_KEY in config.stash:
        terminalreporter.write_line(f"packet guard: OFF ({config.stash[OFF_KEY]})", yellow=True)
        return
    guard = config.stash.get(GUARD_KEY, None)
    if guard is None:
        return
    if guard.leaks:
        terminalreporter.write_sep(
            "=", f"packet guard: {guard.leaked_packets} packets LEFT THIS MACHINE, to:", red=True
        )
        for leak in guard.leaks:
            terminalreporter.write_line(f"  {leak}", red=True)
    else:
        terminalreporter.write_line("packet guard: no packet left this machine", green=True)
