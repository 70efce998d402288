"""The relay's round trip on a network path: three Linux network namespaces, the server in the middle.

    office: eth0 10.66.1.2/24 ══ dc: lan0 10.66.1.1/24   (rme-server on 0.0.0.0:8443, routes)
                                 dc: lan1 10.66.2.1/24 ══ home: eth0 10.66.2.2/24 (the agent, and
                                                                the plain echo server :9443)

The engineer's client runs in `office`; the agent and the anchor — a plain `websockets` TLS echo server,
"a direct WebSocket where the user's PC is" — in `home`. Both paths cross the same two links:
direct is office → dc (forwarding) → home and back; relayed is office → dc (rme-server) → home
(agent echoes) → dc → office. Each process runs in its namespace through `ip netns exec`.

Link delay: `tc netem` on the veth ends when the kernel has it. Kernels without sch_netem (the VM these
figures were measured on: CONFIG_NET_SCH_NETEM is not set, no modules) get a userspace link: a pair of
TUN devices per link, joined by `bench._tunlink`, which holds each packet for the delay; routes to
the far addresses are switched onto the TUN devices (more specific than the veth routes), so open
connections move onto the delayed links and back without reconnecting. At 0 ms both modes use the
plain veth links: only CPU across namespaces.

Namespace and device names carry a random prefix, so parallel runs never clash; `close()` (also on
Ctrl-C or error, through the context manager) kills every process in the namespaces and deletes them.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.lab.managed import Managed, missing

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable

OFFICE_IP, DC_OFFICE_IP = "10.66.1.2", "10.66.1.1"
DC_HOME_IP, HOME_IP = "10.66.2.1", "10.66.2.2"
SERVER_PORT, ECHO_PORT = 8443, 9443
ENGINEER = ("bench-eng", "bench engineer password")


class NetPathError(RuntimeError):
    pass


def available() -> str | None:
    """Why the network path cannot run here, or None if it can."""
    reason = missing("the network-path benchmark", ("ip", "tc", "ss", "ping"))
    if reason is not None:
        return reason
    if not Path("/dev/net/tun").exists():
        return "the network-path benchmark needs /dev/net/tun when the kernel has no netem"
    return None


class NetPath(Managed):
    """The three namespaces and two links; processes started with `spawn` die with it."""

    def __init__(self) -> None:
        self.prefix = f"rn{secrets.token_hex(3)}"
        self.office, self.dc, self.home = (f"{self.prefix}-{n}" for n in ("office", "dc", "home"))
        self.link_mode = "veth"  # "netem" or "tun" once a delay is set
        self.delay_ms = 0.0
        self._processes: list[subprocess.Popen[bytes]] = []
        self._tunlink: subprocess.Popen[bytes] | None = None
        self._tun = {ns: f"{self.prefix}{tag}" for ns, tag in ((self.office, "o"), (self.home, "h"))}
        self._tun_dc = (f"{self.prefix}do", f"{self.prefix}dh")  # dc's end toward office, toward home

    # --- life cycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        for ns in (self.office, self.dc, self.home):
            self.sh(None, "ip", "netns", "add", ns)
            self.sh(ns, "ip", "link", "set", "lo", "up")
            self.sh(ns, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0", "net.ipv4.conf.default.rp_filter=0")
        self.sh(
            None,
            "ip",
            "link",
            "add",
            "eth0",
            "netns",
            self.office,
            "type",
            "veth",
            "peer",
            "lan0",
            "netns",
            self.dc,
        )
        self.sh(
            None,
            "ip",
            "link",
            "add",
            "lan1",
            "netns",
            self.dc,
            "type",
            "veth",
            "peer",
            "eth0",
            "netns",
            self.home,
        )
        self.sh(self.dc, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        for ns, dev, address in (
            (self.office, "eth0", OFFICE_IP),
            (self.dc, "lan0", DC_OFFICE_IP),
            (self.dc, "lan1", DC_HOME_IP),
            (self.home, "eth0", HOME_IP),
        ):
            self.sh(ns, "ip", "addr", "add", f"{address}/24", "dev", dev)
            self.sh(ns, "ip", "link", "set", dev, "up")
        self.sh(self.office, "ip", "route", "add", "default", "via", DC_OFFICE_IP)
        self.sh(self.home, "ip", "route", "add", "default", "via", DC_HOME_IP)
        probe = self.sh(
            self.office, "tc", "qdisc", "replace", "dev", "eth0", "root", "netem", "delay", "0ms", check=False
        )
        if probe.returncode == 0:
            self.sh(self.office, "tc", "qdisc", "del", "dev", "eth0", "root")
            self.link_mode = "netem"
        else:
            self.link_mode = "tun"
            self._start_tunlink()

    def _start_tunlink(self) -> None:
        office_tun, home_tun = self._tun[self.office], self._tun[self.home]
        dc_office, dc_home = self._tun_dc
        self._tunlink = subprocess.Popen(
            [PYTHON, "-m", "bench._tunlink", office_tun, dc_office, dc_home, home_tun],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        read_line(self._tunlink, 10, "ready")
        for ns, dev in (
            (self.office, office_tun),
            (self.dc, dc_office),
            (self.dc, dc_home),
            (self.home, home_tun),
        ):
            self.sh(None, "ip", "link", "set", dev, "netns", ns)
            self.sh(ns, "sysctl", "-qw", f"net.ipv4.conf.{dev}.rp_filter=0")
            self.sh(ns, "ip", "link", "set", dev, "up")

    def _tun_routes(self) -> list[tuple[str, str, str]]:
        """(namespace, destination, TUN device): more specific than the veth routes they override."""
        dc_office, dc_home = self._tun_dc
        return [
            (self.office, f"{DC_OFFICE_IP}/32", self._tun[self.office]),
            (self.office, "10.66.2.0/24", self._tun[self.office]),
            (self.dc, f"{OFFICE_IP}/32", dc_office),
            (self.dc, f"{HOME_IP}/32", dc_home),
            (self.home, f"{DC_HOME_IP}/32", self._tun[self.home]),
            (self.home, "10.66.1.0/24", self._tun[self.home]),
        ]

    def set_delay(self, ms: float) -> None:
        """One-way delay `ms` on each of the two links (both directions); 0 = the plain veth links."""
        if self.link_mode == "netem":
            for ns, dev in ((self.office, "eth0"), (self.dc, "lan0"), (self.dc, "lan1"), (self.home, "eth0")):
                if ms > 0:
                    self.sh(ns, "tc", "qdisc", "replace", "dev", dev, "root", "netem", "delay", f"{ms}ms")
                else:
                    self.sh(ns, "tc", "qdisc", "del", "dev", dev, "root", check=False)
        else:
            assert self._tunlink is not None and self._tunlink.stdin is not None
            self._tunlink.stdin.write(f"delay {ms}\n".encode())
            self._tunlink.stdin.flush()
            read_line(self._tunlink, 10, "ok")
            for ns, destination, dev in self._tun_routes():
                if ms > 0:
                    self.sh(ns, "ip", "route", "replace", destination, "dev", dev)
                else:
                    self.sh(ns, "ip", "route", "del", destination, "dev", dev, check=False)
        self.delay_ms = ms

    def spawn(
        self, ns: str, argv: list[str], env: dict[str, str] | None = None, log: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """Start `argv` in namespace `ns` with pipes for stdin and stdout (stderr to ours), or with
        stdout and stderr to the file `log`."""
        with contextlib.ExitStack() as stack:
            out = stack.enter_context(log.open("wb")) if log is not None else None
            process = subprocess.Popen(
                ["ip", "netns", "exec", ns, *argv],
                cwd=ROOT,
                env=env,
                stdin=subprocess.PIPE,
                stdout=out or subprocess.PIPE,
                stderr=out,
            )
        self._processes.append(process)
        return process

    def close(self) -> None:
        """Kill everything in our namespaces (by their unique names) and delete them; never raises."""
        for process in [*self._processes, *([self._tunlink] if self._tunlink else [])]:
            with contextlib.suppress(OSError):
                process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                process.wait(5)
        self._processes.clear()
        self._tunlink = None
        for ns in (self.office, self.dc, self.home):
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                pids = self.sh(None, "ip", "netns", "pids", ns, check=False).stdout.split()
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError, ValueError):
                        os.kill(int(pid), signal.SIGKILL)
                self.sh(None, "ip", "netns", "del", ns, check=False)

    def exists(self) -> list[str]:
        """Which of our namespaces exist right now (for tests of the clean-up)."""
        listed = self.sh(None, "ip", "netns", "list").stdout.split()
        return [ns for ns in (self.office, self.dc, self.home) if ns in listed]

    # --- helpers ----------------------------------------------------------------------------------------

    @staticmethod
    def sh(ns: str | None, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        full = list(argv) if ns is None else ["ip", "netns", "exec", ns, *argv]
        done = subprocess.run(full, capture_output=True, text=True, timeout=30, check=False)
        if check and done.returncode != 0:
            raise NetPathError(f"{' '.join(full)}: {done.stderr.strip()}")
        return done


def read_line(process: subprocess.Popen[bytes], timeout: float, expect: str | None = None) -> str:
    """The next line `process` prints, within `timeout` seconds (it must start with `expect`)."""
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            raise NetPathError(f"no answer from {process.args!r} within {timeout} s")
    line = process.stdout.readline().decode().strip()
    if expect is not None and not line.startswith(expect):
        raise NetPathError(f"{process.args!r} said {line!r}, expected {expect!r} (exit {process.poll()})")
    return line


@dataclass(frozen=True)
class PathRun:
    """Round trips at one link delay, in seconds."""

    delay_ms: float
    link_mode: str
    frame_bytes: int
    direct: list[float]
    relay: list[float]
    ping_ms: float | None  # ping office → home (4 link crossings), average: what the links really do


def _cli(data: Path, env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(
        [PYTHON, "-m", "server.cli", *args, "--data-dir", str(data)],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        raise NetPathError(f"rme-server {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout.strip()


def _send(process: subprocess.Popen[bytes], line: str) -> None:
    assert process.stdin is not None
    process.stdin.write(line.encode() + b"\n")
    process.stdin.flush()


def measure(workdir: Path, schedule: list[tuple[float, int]], warmup: int = 50) -> list[PathRun]:
    """Build the topology, measure `schedule` on it (`measure_on`), and take it all down again."""
    with NetPath() as net:
        return measure_on(net, workdir, schedule, warmup)


def measure_on(
    net: NetPath, workdir: Path, schedule: list[tuple[float, int]], warmup: int = 50
) -> list[PathRun]:
    """Start server, echo server, agent and client in `net`'s namespaces and measure each (one-way
    delay per link in ms, rounds) of `schedule` on both paths; the processes die with `net`."""
    from server.tls import ensure_local_tls  # the bench's parent only

    data = workdir / "server"
    data.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "RME_DATABASE_URL": f"sqlite+aiosqlite:///{data / 'rme.db'}",
        "RME_LOG_LEVEL": "warning",
        # The real mechanism for the certificate's names: the server listens on every address and is
        # reached as 10.66.1.1 by engineers, 10.66.2.1 by agents.
        "RME_TLS_NAMES": f"{DC_OFFICE_IP},{DC_HOME_IP}",
        "RME_ALLOWED_ORIGINS": f"https://{DC_OFFICE_IP}:{SERVER_PORT}",
        "RME_HEARTBEAT_TIMEOUT": "600",
        "RME_WS_FRAMES_PER_SECOND": "100000",
        "RME_WS_FRAME_BURST": "100000",
    }
    # The anchor gets a certificate of the same kind (P-256, from a local CA) for the home address.
    echo_tls = ensure_local_tls(workdir / "echo-tls", [HOME_IP])
    assert echo_tls.ca is not None
    runs: list[PathRun] = []
    server = net.spawn(
        net.dc,
        [
            PYTHON,
            "-m",
            "server.cli",
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            str(SERVER_PORT),
            "--data-dir",
            str(data),
        ],
        env=env,
        log=data / "server.log",
    )
    deadline = time.monotonic() + 30
    while f":{SERVER_PORT}" not in net.sh(net.dc, "ss", "-ltnH").stdout:
        if server.poll() is not None or time.monotonic() > deadline:
            log = (data / "server.log").read_text()[-2000:]
            raise NetPathError(f"rme-server did not start in {net.dc} (exit {server.poll()}): {log}")
        time.sleep(0.1)
    _cli(data, env, "user", "add", ENGINEER[0], "--role", "engineer", "--password-stdin", stdin=ENGINEER[1])
    customer = _cli(data, env, "customer", "add", "Bench customer")
    code = _cli(data, env, "customer", "enroll-code", customer)
    echo = net.spawn(
        net.home,
        [
            PYTHON,
            "-m",
            "bench._echo_server",
            str(ECHO_PORT),
            str(echo_tls.cert),
            str(echo_tls.key),
            "echo",
            "0.0.0.0",
        ],
    )
    read_line(echo, 20, "ready")
    ca = str(data / "tls" / "ca.pem")
    client = net.spawn(
        net.office,
        [
            PYTHON,
            "-m",
            "bench._netpeer",
            "client",
            f"https://{DC_OFFICE_IP}:{SERVER_PORT}",
            ca,
            f"wss://{HOME_IP}:{ECHO_PORT}/",
            str(echo_tls.ca),
            *ENGINEER,
        ],
    )
    read_line(client, 30, "ready")
    agent = net.spawn(
        net.home,
        [PYTHON, "-m", "bench._netpeer", "agent", f"wss://{DC_HOME_IP}:{SERVER_PORT}/ws/agent", ca, code],
    )
    ticket = read_line(agent, 30, "queued").split()[1]
    _send(client, f"accept {ticket}")
    read_line(client, 30, "session")
    read_line(agent, 30, "session")
    for delay_ms, rounds in schedule:
        net.set_delay(delay_ms)
        ping = net.sh(net.office, "ping", "-q", "-c", "20", "-i", "0.01", HOME_IP, check=False).stdout
        rtt = ping.rsplit("=", 1)[-1].split("/") if "rtt" in ping else []
        _send(client, f"measure {rounds} {warmup}")
        result = json.loads(read_line(client, 60 + (rounds + warmup) * (8 * delay_ms / 1000 + 0.05)))
        mode = net.link_mode if delay_ms else "veth"
        ping_ms = float(rtt[1]) if len(rtt) > 1 else None
        runs.append(PathRun(delay_ms, mode, result["frame"], result["direct"], result["relay"], ping_ms))
    assert client.stdin is not None
    client.stdin.close()
    return runs
