"""Linux local facts beyond addresses and routes: PPPoE dialers, Wi-Fi association, the system proxy.
No packets; files and a few short commands, each bounded in time.

- dialers: pppd peers files (`/etc/ppp/peers/*` with the rp-pppoe plugin, or a `pppoe` pty) and
  NetworkManager PPPoE connections; their history from pppd's `logfile`, else the journal (only when
  the dialer is down, to keep a healthy run fast);
- Wi-Fi: `iw dev IF link` / `scan dump` / `survey dump`; on a failed association, the last ten minutes of
  wpa_supplicant and NetworkManager messages in the journal;
- proxy: `http_proxy` / `all_proxy` (either case), GNOME's gsettings, KDE's `kioslaverc`.
"""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from agent.diagnosis import dialup, wifi
from agent.diagnosis.facts import Dialer, Interface, ProxyConfig, WifiLink

PPP_PEERS = Path("/etc/ppp/peers")
NM_CONNECTIONS = Path("/etc/NetworkManager/system-connections")
LOG_TAIL_BYTES = 64 * 1024
COMMAND_TIMEOUT_S = 1.0


def _run(argv: Sequence[str]) -> str:
    """A short command's stdout, or "" if it is missing, fails or takes too long."""
    if shutil.which(argv[0]) is None:
        return ""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout if done.returncode == 0 else ""


def _tail(path: Path) -> str:
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - LOG_TAIL_BYTES))
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


# --- dialers -----------------------------------------------------------------------------------------------


def _connected_ppp(interfaces: Sequence[Interface], ifname: str | None) -> Interface | None:
    ppps = [i for i in interfaces if i.kind == "ppp" and i.admin_up and i.ipv4]
    return next((i for i in ppps if i.name == ifname), None) or (ppps[0] if ppps and ifname is None else None)


def _has_own_address(interfaces: Sequence[Interface], device: str | None) -> bool:
    """The dialer's adapter has a usable address of its own: the dialer is most likely dormant (such as
    Debian's `dsl-provider` template), so a healthy run does not pay for reading the journal."""
    iface = next((i for i in interfaces if i.name == device), None)
    return iface is not None and any(not a.is_apipa for a in iface.ipv4)


def read_dialers(
    interfaces: Sequence[Interface], peers_dir: Path = PPP_PEERS, nm_dir: Path = NM_CONNECTIONS
) -> tuple[Dialer, ...]:
    dialers: list[Dialer] = []
    try:
        peers = sorted(p for p in peers_dir.iterdir() if p.is_file())
    except OSError:
        peers = []
    for path in peers:
        try:
            parsed = dialup.parse_peers_file(path.read_text(errors="replace"))
        except OSError:
            continue
        if not parsed.pppoe:
            continue
        up = _connected_ppp(interfaces, parsed.ifname)
        if parsed.logfile:
            log = _tail(Path(parsed.logfile))
        elif up is None and not _has_own_address(interfaces, parsed.device):
            log = _run(["journalctl", "-q", "-t", "pppd", "--since", "-1h", "-o", "short", "-n", "400"])
        else:
            log = ""
        dialers.append(
            Dialer(
                name=path.name,
                source=str(path),
                device=parsed.device,
                interface=up.name if up else parsed.ifname,
                connected=up is not None,
                events=dialup.parse_pppd_log(log),
            )
        )
    dialers += _nm_dialers(interfaces, nm_dir)
    return tuple(dialers)


def _nm_dialers(interfaces: Sequence[Interface], nm_dir: Path) -> list[Dialer]:
    found: list[Dialer] = []
    try:
        files = sorted(nm_dir.glob("*.nmconnection"))
    except OSError:
        return found
    for path in files:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            parser.read(path)
        except (OSError, configparser.Error):
            continue
        if parser.get("connection", "type", fallback="") != "pppoe":
            continue
        device = parser.get("pppoe", "parent", fallback=None) or parser.get(
            "connection", "interface-name", fallback=None
        )
        up = _connected_ppp(interfaces, None)
        log = (
            ""
            if up
            else _run(["journalctl", "-q", "-t", "pppd", "--since", "-1h", "-o", "short", "-n", "400"])
        )
        found.append(
            Dialer(
                name=parser.get("connection", "id", fallback=path.stem),
                source=f"NetworkManager ({path.name})",
                device=device,
                interface=up.name if up else None,
                connected=up is not None,
                events=dialup.parse_pppd_log(log),
            )
        )
    return found


# --- Wi-Fi -------------------------------------------------------------------------------------------------


def read_wifi(interfaces: Sequence[Interface]) -> tuple[WifiLink, ...]:
    links: list[WifiLink] = []
    for iface in interfaces:
        if iface.kind != "wifi" or not iface.admin_up or shutil.which("iw") is None:
            continue
        link = wifi.parse_iw_link(iface.name, _run(["iw", "dev", iface.name, "link"]))
        if link.associated:
            scan = wifi.parse_iw_scan(_run(["iw", "dev", iface.name, "scan", "dump"]))
            busy = wifi.parse_iw_survey(_run(["iw", "dev", iface.name, "survey", "dump"]))
            link = wifi.with_neighbours(link, scan, busy)
        else:
            log = _run(
                ["journalctl", "-q", "-t", "wpa_supplicant", "-t", "NetworkManager", "--since", "-10min",
                 "-o", "cat", "-n", "200"]
            )  # fmt: skip
            failure = wifi.parse_wifi_log(log)
            if failure is not None:
                link = link.model_copy(update={"failure": failure[0], "failure_detail": failure[1]})
        links.append(link)
    return tuple(links)


# --- proxy -------------------------------------------------------------------------------------------------


def parse_proxy_url(value: str, source: str) -> ProxyConfig | None:
    """`http://host:port`, `host:port` or KDE's `http://host port`; SOCKS proxies are not probed."""
    value = value.strip().strip("'\"")
    if not value:
        return None
    value = re.sub(r"\s+(\d+)$", r":\1", value)
    if "://" not in value:
        value = "http://" + value
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    try:
        port = parts.port or 8080
    except ValueError:
        return None
    return ProxyConfig(url=f"http://{parts.hostname}:{port}", source=source, host=parts.hostname, port=port)


def _env_proxy(environ: Mapping[str, str]) -> ProxyConfig | None:
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        if environ.get(name):
            return parse_proxy_url(environ[name], f"env {name}")
    return None


def parse_kioslaverc(text: str) -> ProxyConfig | None:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    if parser.get("Proxy Settings", "ProxyType", fallback="0") != "1":
        return None
    return parse_proxy_url(parser.get("Proxy Settings", "httpProxy", fallback=""), "kioslaverc")


def _gnome_proxy(environ: Mapping[str, str]) -> ProxyConfig | None:
    if "GNOME" not in environ.get("XDG_CURRENT_DESKTOP", "").upper():
        return None
    if _run(["gsettings", "get", "org.gnome.system.proxy", "mode"]).strip() != "'manual'":
        return None
    host = _run(["gsettings", "get", "org.gnome.system.proxy.http", "host"]).strip().strip("'")
    port = _run(["gsettings", "get", "org.gnome.system.proxy.http", "port"]).strip()
    return parse_proxy_url(f"{host}:{port}", "gsettings") if host and port.isdigit() else None


def read_proxies(
    environ: Mapping[str, str] | None = None, home: Path | None = None
) -> tuple[ProxyConfig, ...]:
    env = os.environ if environ is None else environ
    found: list[ProxyConfig] = []
    for candidate in (_env_proxy(env), _gnome_proxy(env)):
        if candidate is not None:
            found.append(candidate)
    kde = (home or Path(env.get("HOME", "/nonexistent"))) / ".config" / "kioslaverc"
    if kde.is_file():
        candidate = parse_kioslaverc(kde.read_text(errors="replace"))
        if candidate is not None:
            found.append(candidate)
    unique: dict[str, ProxyConfig] = {}
    for proxy in found:
        unique.setdefault(proxy.url, proxy)
    return tuple(unique.values())
