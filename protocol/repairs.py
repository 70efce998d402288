"""The repair catalogue's data — shared vocabulary of the agent (which runs repairs and shows the user
their risk and undo before asking) and the server (whose console offers them by id): every repair's
stable id, texts in both languages, risk and undo information, and where it runs. Pure data.

The ids are stable: diagnosis findings name them (`Finding.repair`) and engineers request them
(`protocol.actions.RepairParams`). How a repair is carried out is the agent's (`agent.repairs`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import JsonValue

from protocol.messages import Lang
from protocol.texts import Text

Risk = Literal["low", "medium", "high"]
Platform = Literal["linux", "windows", "macos"]


@dataclass(frozen=True)
class RepairSpec:
    """One catalogue entry: everything the user must see before saying yes (like Windows' troubleshooter)."""

    id: str
    title: Text
    description: Text
    risk: Risk
    risk_note: Text
    undo: Text
    reversible: bool
    needs_interface: bool
    needs_admin: bool
    platforms: frozenset[Platform]

    def describe(self, lang: Lang, interface: str = "", servers: str = "") -> dict[str, JsonValue]:
        """The spec in one language, as plain JSON (for the consent prompt, the panel and the console).
        `interface` and `servers` fill the description's blanks."""
        return {
            "id": self.id,
            "title": self.title.render(lang),
            "description": self.description.render(lang, interface=interface, servers=servers),
            "risk": self.risk,
            "risk_note": self.risk_note.render(lang),
            "undo": self.undo.render(lang),
            "reversible": self.reversible,
            "needs_admin": self.needs_admin,
        }


_ALL: frozenset[Platform] = frozenset({"linux", "windows", "macos"})

CATALOGUE: tuple[RepairSpec, ...] = (
    RepairSpec(
        id="dhcp.renew",
        title=Text("重新获取 IP 地址", "Renew the IP address"),
        description=Text(
            "让网卡向路由器重新申请 IP 地址、网关和 DNS（DHCP 续租）。",
            "Ask the router again for an IP address, gateway and DNS servers (renew the DHCP lease).",
        ),
        risk="low",
        risk_note=Text("网络会中断几秒钟。", "The connection may drop for a few seconds."),
        undo=Text(
            "无需撤销：只是重新向路由器申请。", "Nothing to undo: the adapter just asks the router again."
        ),
        reversible=False,
        needs_interface=True,
        needs_admin=False,
        platforms=_ALL,
    ),
    RepairSpec(
        id="dns.flush_cache",
        title=Text("清除 DNS 缓存", "Flush the DNS cache"),
        description=Text(
            "删除电脑里保存的网址解析结果，下次访问时重新查询。",
            "Forget the name lookups the computer has stored, so they are asked afresh.",
        ),
        risk="low",
        risk_note=Text("第一次打开网页会稍慢。", "The first page loads may be slightly slower."),
        undo=Text("无需撤销：缓存会自动重建。", "Nothing to undo: the cache refills by itself."),
        reversible=False,
        needs_interface=False,
        needs_admin=False,
        platforms=_ALL,
    ),
    RepairSpec(
        id="dns.set_reference",
        title=Text("改用公共 DNS", "Use public DNS servers"),
        description=Text(
            "把这块网卡的 DNS 服务器改为 {servers}。",
            "Set this adapter's DNS servers to {servers}.",
        ),
        risk="medium",
        risk_note=Text(
            "公司或学校内网的网址可能无法解析。",
            "Names that only exist inside a company or school network may stop resolving.",
        ),
        undo=Text(
            "可以撤销：恢复原来的 DNS 设置。", "Can be undone: the previous DNS settings are restored."
        ),
        reversible=True,
        needs_interface=True,
        needs_admin=True,
        platforms=frozenset({"linux", "windows"}),
    ),
    RepairSpec(
        id="nic.enable",
        title=Text("启用网卡", "Enable the network adapter"),
        description=Text(
            "打开已被禁用的网卡 {interface}。", "Turn the disabled adapter {interface} back on."
        ),
        risk="low",
        risk_note=Text("没有风险。", "No risk."),
        undo=Text("可以撤销：再次禁用网卡。", "Can be undone: the adapter is turned off again."),
        reversible=True,
        needs_interface=True,
        needs_admin=True,
        platforms=_ALL,
    ),
    RepairSpec(
        id="nic.restart",
        title=Text("重启网卡", "Restart the network adapter"),
        description=Text(
            "关闭再打开网卡 {interface}，让驱动和连接重新开始。",
            "Turn adapter {interface} off and on, so its driver and link start afresh.",
        ),
        risk="low",
        risk_note=Text("网络会中断几秒钟。", "The connection drops for a few seconds."),
        undo=Text("无需撤销。", "Nothing to undo."),
        reversible=False,
        needs_interface=True,
        needs_admin=True,
        platforms=_ALL,
    ),
    RepairSpec(
        id="winsock.reset",
        title=Text("重置 Winsock", "Reset Winsock"),
        description=Text(
            "把 Windows 的网络套接字设置恢复为默认值（清除损坏的网络组件）。",
            "Put Windows' socket settings back to their defaults (removes broken network add-ons).",
        ),
        risk="medium",
        risk_note=Text(
            "需要重启电脑；部分 VPN 或安全软件可能需要重新安装。",
            "Needs a restart; some VPN or security software may need reinstalling.",
        ),
        undo=Text("无法撤销。", "Cannot be undone."),
        reversible=False,
        needs_interface=False,
        needs_admin=True,
        platforms=frozenset({"windows"}),
    ),
    RepairSpec(
        id="pppoe.redial",
        title=Text("重新拨号", "Redial the broadband connection"),
        description=Text(
            "挂断宽带拨号连接 {interface}，再重新拨号。",
            "Hang up the broadband dial-up {interface} and dial again.",
        ),
        risk="low",
        risk_note=Text("网络会中断几秒钟。", "The connection drops for a few seconds."),
        undo=Text("无需撤销。", "Nothing to undo."),
        reversible=False,
        needs_interface=False,
        needs_admin=True,
        platforms=frozenset({"linux", "windows"}),
    ),
    RepairSpec(
        id="pppoe.reset_config",
        title=Text("重置拨号设置", "Reset the dialer's settings"),
        description=Text(
            "把宽带拨号 {interface} 的设置恢复为默认值（自动获取地址和 DNS），保留账号和密码，然后重新拨号。",
            "Put the dial-up {interface}'s settings back to the defaults (address and DNS from the "
            "provider), keeping the account and password, then dial again.",
        ),
        risk="medium",
        risk_note=Text(
            "手动添加的拨号选项会被清除。",
            "Options someone added to the dialer by hand are removed.",
        ),
        undo=Text(
            "可以撤销：恢复原来的拨号设置文件。", "Can be undone: the previous dialer settings are restored."
        ),
        reversible=True,
        needs_interface=False,
        needs_admin=True,
        platforms=frozenset({"linux"}),
    ),
    RepairSpec(
        id="mtu.set",
        title=Text("调整 MTU", "Set the MTU"),
        description=Text(
            "把网卡 {interface} 的 MTU 改为能通过的最大包长，让网页和加密连接不再卡住。",
            "Set adapter {interface}'s MTU to the largest packet size that gets through, so pages and "
            "secure connections stop stalling.",
        ),
        risk="low",
        risk_note=Text("传输大文件可能稍慢。", "Large transfers may be slightly slower."),
        undo=Text("可以撤销：恢复原来的 MTU。", "Can be undone: the previous MTU is restored."),
        reversible=True,
        needs_interface=True,
        needs_admin=True,
        platforms=frozenset({"linux", "windows"}),
    ),
)

BY_ID: dict[str, RepairSpec] = {spec.id: spec for spec in CATALOGUE}

__all__ = ["BY_ID", "CATALOGUE", "Platform", "RepairSpec", "Risk"]
