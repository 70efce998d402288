"""Wi-Fi: recorded output of `iw`, NetworkManager / wpa_supplicant logs and Windows' `netsh wlan` →
`WifiLink` facts (pure parsers), and the rules that judge them.

`netsh` output is localised; the parsers know the English and the Simplified Chinese labels. The kernel
on the project's machines has no mac80211_hwsim, so all of this is tested on recorded output only.
"""

from __future__ import annotations

import re

from pydantic import JsonValue

from agent.diagnosis import texts
from agent.diagnosis.facts import Interface, WifiLink
from agent.diagnosis.judgement import Judgement, fail, ok, warn

WEAK_QUALITY = 40  # Windows' percentage; −80 dBm on the dBm scale: below it pages stall and drop
CROWDED_NETWORKS = 8  # other networks heard on our channel
BUSY_PERCENT = 70  # channel busy time / active time (`iw survey dump`)

_AUTH_FAILURE = re.compile(
    r"WRONG_KEY|pre-shared key may be incorrect|4-Way Handshake failed|reason 'no-secrets'|"
    r"need-auth -> failed|security key|network key|password|密钥|密码|身份验证失败",
    re.IGNORECASE,
)


# --- Linux: iw and the logs -------------------------------------------------------------------------------


def parse_iw_link(interface: str, text: str) -> WifiLink:
    """`iw dev IF link`: "Not connected." or "Connected to BSSID" with SSID, freq and signal lines."""
    if not text.strip().startswith("Connected"):
        return WifiLink(interface=interface, associated=False)
    fields = dict(
        (key.strip(), value.strip())
        for key, sep, value in (line.partition(":") for line in text.splitlines()[1:])
        if sep
    )
    signal = re.match(r"(-?\d+)", fields.get("signal", ""))
    freq = re.match(r"(\d+)", fields.get("freq", ""))
    return WifiLink(
        interface=interface,
        associated=True,
        ssid=fields.get("SSID"),
        signal_dbm=int(signal.group(1)) if signal else None,
        channel=channel_of(int(freq.group(1))) if freq else None,
    )


def channel_of(freq_mhz: int) -> int | None:
    if 2412 <= freq_mhz <= 2472:
        return (freq_mhz - 2407) // 5
    if freq_mhz == 2484:
        return 14
    if 5000 <= freq_mhz <= 5895:
        return (freq_mhz - 5000) // 5
    return None


def parse_iw_scan(text: str) -> list[tuple[str | None, int | None]]:
    """`iw dev IF scan dump`: (SSID, channel) of every network heard."""
    networks: list[tuple[str | None, int | None]] = []
    ssid: str | None = None
    channel: int | None = None
    started = False
    for line in text.splitlines():
        if line.startswith("BSS "):
            if started:
                networks.append((ssid, channel))
            started, ssid, channel = True, None, None
            continue
        stripped = line.strip()
        if stripped.startswith("freq:"):
            found = re.search(r"(\d+)", stripped)
            channel = channel_of(int(found.group(1))) if found else channel
        elif stripped.startswith("SSID:"):
            ssid = stripped[5:].strip() or None
        elif stripped.startswith("DS Parameter set: channel"):
            channel = int(stripped.rsplit(" ", 1)[1])
    if started:
        networks.append((ssid, channel))
    return networks


def parse_iw_survey(text: str) -> int | None:
    """Busy percentage of the channel in use, from `iw dev IF survey dump`."""
    for block in text.split("Survey data from")[1:]:
        if "[in use]" not in block:
            continue
        active = re.search(r"channel active time:\s*(\d+)", block)
        busy = re.search(r"channel busy time:\s*(\d+)", block)
        if active and busy and int(active.group(1)) > 0:
            return round(100 * int(busy.group(1)) / int(active.group(1)))
    return None


def parse_wifi_log(text: str) -> tuple[str, str] | None:
    """The last association failure in wpa_supplicant / NetworkManager / WLAN-AutoConfig messages:
    ("auth", line) for a refused password, ("other", line) for another failure, None if none."""
    result: tuple[str, str] | None = None
    for line in text.splitlines():
        if _AUTH_FAILURE.search(line):
            result = ("auth", line.strip()[:200])
        elif re.search(r"-> failed|CTRL-EVENT-ASSOC-REJECT|Failure Reason|失败原因", line):
            result = ("other", line.strip()[:200])
        elif re.search(r"CTRL-EVENT-CONNECTED|-> activated", line):
            result = None
    return result


def with_neighbours(link: WifiLink, scan: list[tuple[str | None, int | None]], busy: int | None) -> WifiLink:
    if link.channel is None:
        return link.model_copy(update={"channel_busy_percent": busy})
    others = sum(1 for ssid, channel in scan if channel == link.channel and ssid != link.ssid)
    return link.model_copy(update={"same_channel_networks": others, "channel_busy_percent": busy})


# --- Windows: netsh wlan ----------------------------------------------------------------------------------

_KEYS = {
    "name": ("Name", "名称"),
    "state": ("State", "状态"),
    "ssid": ("SSID",),
    "signal": ("Signal", "信号"),
    "channel": ("Channel", "信道"),
}
_CONNECTED = ("connected", "已连接")


def _netsh_fields(block: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for line in block.splitlines():
        key, sep, value = line.partition(" : ") if " : " in line else line.partition(":")
        if not sep:
            continue
        key = key.strip()
        for name, labels in _KEYS.items():
            if key in labels and name not in fields:
                fields[name] = value.strip()
    return fields


def parse_netsh_interfaces(text: str) -> list[WifiLink]:
    """`netsh wlan show interfaces`, English or Chinese: one `WifiLink` per adapter."""
    blocks = re.split(r"\n\s*\n(?=\s*(?:Name|名称)\s*:)", text)
    links = []
    for block in blocks:
        fields = _netsh_fields(block)
        if "name" not in fields:
            continue
        associated = fields.get("state", "").lower() in _CONNECTED
        signal = re.match(r"(\d+)", fields.get("signal", ""))
        channel = re.match(r"(\d+)", fields.get("channel", ""))
        links.append(
            WifiLink(
                interface=fields["name"],
                associated=associated,
                ssid=fields.get("ssid") if associated else None,
                signal_percent=int(signal.group(1)) if associated and signal else None,
                channel=int(channel.group(1)) if associated and channel else None,
            )
        )
    return links


def parse_netsh_networks(text: str) -> list[tuple[str | None, int | None]]:
    """`netsh wlan show networks mode=bssid`: (SSID, channel) per BSSID heard."""
    networks: list[tuple[str | None, int | None]] = []
    ssid: str | None = None
    for line in text.splitlines():
        head = re.match(r"^SSID \d+\s*:\s*(.*)$", line.strip())
        if head:
            ssid = head.group(1).strip() or None
            continue
        key, sep, value = line.partition(":")
        if sep and key.strip() in _KEYS["channel"]:
            found = re.match(r"\s*(\d+)", value)
            networks.append((ssid, int(found.group(1)) if found else None))
    return networks


# --- the rules --------------------------------------------------------------------------------------------


def _signal_text(link: WifiLink) -> str:
    if link.signal_dbm is not None:
        return f"{link.signal_dbm} dBm"
    return f"{link.signal_percent}%" if link.signal_percent is not None else "?"


def evidence(link: WifiLink) -> dict[str, JsonValue]:
    return {
        "ssid": link.ssid,
        "associated": link.associated,
        "signal_dbm": link.signal_dbm,
        "signal_percent": link.signal_quality,
        "channel": link.channel,
        "failure": link.failure_detail,
    }


def judge_association(iface: Interface, link: WifiLink) -> Judgement:
    """The `link.carrier` check of a Wi-Fi adapter: associated, refused password, or not associated."""
    if link.associated:
        return ok(
            "link.carrier", texts.WIFI_OK, evidence(link), ssid=link.ssid or "?", signal=_signal_text(link)
        )
    if link.failure == "auth":
        return fail(
            "link.carrier", "wifi.auth_failed", texts.WIFI_AUTH_FAILED, evidence(link),
            ssid=link.ssid or iface.wifi_ssid or "?", detail=link.failure_detail or "?",
        )  # fmt: skip
    return fail(
        "link.carrier", "wifi.not_associated", texts.WIFI_NOT_ASSOCIATED, evidence(link), name=iface.name
    )


def judge_signal(link: WifiLink, explains_failure: bool) -> Judgement | None:
    """Weak signal: a warning, or the root cause when a failure above it is the kind weak radio makes
    (no lease, a silent gateway, nothing beyond it)."""
    quality = link.signal_quality
    if not link.associated or quality is None:
        return None
    fields = {"ssid": link.ssid or "?", "signal": _signal_text(link)}
    if quality >= WEAK_QUALITY:
        return ok("wifi.signal", texts.WIFI_OK, evidence(link), **fields)
    if explains_failure:
        return fail("wifi.signal", "wifi.weak_signal", texts.WIFI_WEAK, evidence(link), **fields)
    return warn("wifi.signal", "wifi.weak_signal", texts.WIFI_WEAK, evidence(link), **fields)


def judge_channel(link: WifiLink) -> Judgement | None:
    if not link.associated or link.channel is None:
        return None
    others, busy = link.same_channel_networks, link.channel_busy_percent
    if others is None and busy is None:
        return None
    data: dict[str, JsonValue] = {
        "channel": link.channel,
        "same_channel_networks": others,
        "busy_percent": busy,
    }
    crowded = (others or 0) >= CROWDED_NETWORKS or (busy or 0) >= BUSY_PERCENT
    channel = str(link.channel)
    if crowded:
        detail = ", ".join(
            part
            for part in (
                f"{others} networks" if others is not None else "",
                f"busy {busy}%" if busy is not None else "",
            )
            if part
        )
        return warn(
            "wifi.channel", "wifi.congested", texts.WIFI_CONGESTED, data, channel=channel, detail=detail
        )
    return ok("wifi.channel", texts.WIFI_CHANNEL_OK, data, channel=channel)
