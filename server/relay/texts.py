"""What the home user reads when the server refuses them: every text in zh-CN and en."""

from __future__ import annotations

from protocol.messages import LocalText

REFUSALS: dict[str, LocalText] = {
    "subscription.suspended": LocalText(
        zh_CN="您的远程维护服务已暂停，暂时无法连接工程师。请联系宽带运营商恢复服务；本机的离线诊断仍可正常使用。",
        en=(
            "Your remote support subscription is suspended, so no engineer can be called right now. "
            "Please contact your broadband provider to restore it; "
            "offline diagnosis still works on this computer."
        ),
    ),
    "subscription.cancelled": LocalText(
        zh_CN="您的远程维护服务已取消，无法连接工程师。如需帮助请联系宽带运营商；本机的离线诊断仍可正常使用。",
        en=(
            "Your remote support subscription has been cancelled, so no engineer can be called. "
            "Please contact your broadband provider; offline diagnosis still works on this computer."
        ),
    ),
    "server.unavailable": LocalText(
        zh_CN="服务器暂时无法受理求助，请稍后再试。",
        en="The server cannot take help requests right now. Please try again in a few minutes.",
    ),
}
