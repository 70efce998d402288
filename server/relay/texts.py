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
    "subscription.none": LocalText(
        zh_CN="您还没有开通远程维护服务，暂时无法连接工程师。请联系宽带运营商开通；本机的离线诊断仍可正常使用。",
        en=(
            "You have no remote support subscription, so no engineer can be called. "
            "Please contact your broadband provider; offline diagnosis still works on this computer."
        ),
    ),
    "plan.allowance_used": LocalText(
        zh_CN="本月套餐内的远程服务次数已用完，且您的套餐不支持另行付费购买。下月可继续使用，或联系宽带运营商升级套餐；离线诊断仍可正常使用。",
        en=(
            "You have used all of this month's remote support sessions in your plan, and your plan does not "
            "allow buying more. Sessions are available again next month, or ask your provider to upgrade; "
            "offline diagnosis still works."
        ),
    ),
    "plan.item_not_included": LocalText(
        zh_CN="您选择的服务项目不在您的套餐内，且您的套餐不支持另行付费购买。请选择套餐内的项目，或联系宽带运营商。",
        en=(
            "The service you picked is not in your plan, and your plan does not allow buying it separately. "
            "Please pick a service included in your plan, or contact your broadband provider."
        ),
    ),
    "item.unknown": LocalText(
        zh_CN="您选择的服务项目不存在或已停止提供。请重新选择服务项目。",
        en="The service you picked does not exist or is no longer offered. Please pick another one.",
    ),
    "server.unavailable": LocalText(
        zh_CN="服务器暂时无法受理求助，请稍后再试。",
        en="The server cannot take help requests right now. Please try again in a few minutes.",
    ),
}
