"""Network set-up on the rescue system: DHCP on every wired adapter, or PPPoE with the account and
password the user types (written to pppd's secrets, 0600, never logged)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
from pathlib import Path

SYS_NET = Path("/sys/class/net")
PEERS = Path("/etc/ppp/peers")
# Debian's ppp package ships these examples (`user "username"`): not this user's dial-up.
TEMPLATE_PEERS = ("dsl-provider", "provider")


def drop_template_peers(peers: Path = PEERS) -> list[str]:
    """Removes the image's template dial-ups (the live system's overlay; the PC's disk is not touched).
    Left in place, the diagnosis judged a dial-up nobody configured and, with no internet, blamed it:
    "dial-up dsl-provider gets no answer" on a PC behind a router. The user's own dial-up is `rme`."""
    dropped = []
    for name in TEMPLATE_PEERS:
        with contextlib.suppress(FileNotFoundError):
            (peers / name).unlink()
            dropped.append(name)
    return dropped


def wired() -> list[str]:
    return sorted(
        p.name
        for p in SYS_NET.iterdir()
        if p.name != "lo" and not (p / "wireless").exists() and (p / "device").exists()
    )


async def _run(*cmd: str, limit: float = 60) -> int:
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        async with asyncio.timeout(limit):
            return await proc.wait()
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        return -1


async def addresses() -> dict[str, str]:
    proc = await asyncio.create_subprocess_exec(
        "ip", "-j", "-4", "addr", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    out, _ = await proc.communicate()
    found: dict[str, str] = {}
    with contextlib.suppress(ValueError):
        for link in json.loads(out or b"[]"):
            for info in link.get("addr_info", []):
                addr = ipaddress.ip_address(info.get("local", "127.0.0.1"))
                if not addr.is_loopback:
                    found[link["ifname"]] = f"{addr}/{info.get('prefixlen')}"
    return found


async def dhcp(limit: float = 40, started_within: float = 20) -> dict[str, str]:
    """Addresses of the wired adapters: the ones the boot's background dhclient got (waiting up to
    `started_within` s for it), else a fresh `dhclient -1` on each."""
    for _ in range(int(started_within * 2)):
        found = await addresses()
        if found:
            return found
        await asyncio.sleep(0.5)
    await _run("ip", "link", "set", "lo", "up")
    names = wired()
    for name in names:
        await _run("ip", "link", "set", name, "up")
    await asyncio.gather(*(_run("dhclient", "-4", "-1", name, limit=limit) for name in names))
    return await addresses()


async def pppoe(interface: str, account: str, password: str) -> dict[str, str]:
    await asyncio.to_thread(_write_peer, interface, account, password)
    await _run("ip", "link", "set", interface, "up")
    await _run("pon", "rme")
    for _ in range(30):
        found = await addresses()
        if "ppp0" in found:
            return found
        await asyncio.sleep(1)
    return await addresses()


def _write_peer(interface: str, account: str, password: str) -> None:
    quoted = account.replace("\\", "\\\\").replace('"', '\\"')
    peers = PEERS
    peers.mkdir(parents=True, exist_ok=True)
    (peers / "rme").write_text(
        f'plugin rp-pppoe.so\n{interface}\nuser "{quoted}"\nnoauth\ndefaultroute\nusepeerdns\n'
        "persist\nmaxfail 3\nhide-password\n"
    )
    secret = (
        f'"{quoted}" * "{password.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}" *\n'
    )
    for name in ("chap-secrets", "pap-secrets"):
        path = Path("/etc/ppp") / name
        path.touch(mode=0o600)
        path.chmod(0o600)
        path.write_text(secret)
