"""Every engineer request in plain words, before consent: what will be done, why, its risk, its undo.

The user decides on this text alone, so it is built from the request itself (the command verbatim, the
file name as it will be saved) and from the repair catalogue — never from free text the engineer wrote,
except the reason, which is shown as the engineer's words.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.i18n import Lang, Text
from agent.inbox.names import sanitize_name
from agent.repairs import RepairError, get_spec
from protocol.actions import CommandParams, DiagnoseParams, PushFileParams, RepairParams
from protocol.messages import ActionRequestBody

T_DIAGNOSE = Text("检查网络", "Check the network")
T_DIAGNOSE_WHAT = Text(
    "检查网卡、地址、网关、DNS 和互联网连接。只读取网络设置，不改变任何东西。",
    "Check the adapter, address, gateway, DNS and internet connection. It only reads "
    "network settings and changes nothing.",
)
T_NO_RISK = Text("无风险", "No risk")
T_NOTHING_TO_UNDO = Text("无需撤销", "Nothing to undo")
T_COMMAND = Text("运行命令", "Run a command")
T_COMMAND_WHAT = Text(
    "工程师想在这台电脑上运行下面这条命令（最多 {timeout} 秒）。它的输出（最多 64 KB）会发给工程师。",
    "The engineer wants to run exactly this command on this PC (for at most {timeout} s). "
    "Its output (at most 64 KB) is sent to the engineer.",
)
T_COMMAND_RISK = Text(
    "命令可以改变电脑上的任何设置。看不懂就请选择“拒绝”。",
    "A command can change anything on this PC. If you do not understand it, choose Deny.",
)
T_COMMAND_UNDO = Text("命令不能自动撤销", "A command cannot be undone automatically")
T_PUSH = Text("接收文件", "Receive a file")
T_PUSH_WHAT = Text(
    "工程师想发送一个文件（{size}）到收件箱，保存为 “{name}”。文件不会被自动打开或运行。",
    "The engineer wants to send you a file ({size}) into your inbox, saved as “{name}”. "
    "It will not be opened or run automatically.",
)
T_PUSH_RISK = Text("只有在您信任它时才打开这个文件。", "Only open the file if you trust it.")
T_PUSH_UNDO = Text("删除收件箱里的这个文件即可", "Delete the file from the inbox")
T_REPAIR_UNKNOWN = Text("未知的修复：{repair}", "Unknown repair: {repair}")
RISK_WORDS = {
    "low": Text("低风险", "Low risk"),
    "medium": Text("中等风险", "Medium risk"),
    "high": Text("高风险", "High risk"),
}


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"  # pragma: no cover


@dataclass(frozen=True)
class Described:
    """One request as the user sees it. `verbatim` is shown in a code box, exactly as it will run."""

    kind: str
    title: str
    what: str
    why: str
    risk: str
    risk_level: str
    undo: str
    verbatim: str | None = None

    def to_json(self) -> dict[str, str | None]:
        return {
            "kind": self.kind,
            "title": self.title,
            "what": self.what,
            "why": self.why,
            "risk": self.risk,
            "risk_level": self.risk_level,
            "undo": self.undo,
            "verbatim": self.verbatim,
        }


def describe(body: ActionRequestBody, lang: Lang) -> Described:
    action = body.action
    why = body.reason
    if isinstance(action, DiagnoseParams):
        return Described(
            "diagnose",
            T_DIAGNOSE.render(lang),
            T_DIAGNOSE_WHAT.render(lang),
            why,
            T_NO_RISK.render(lang),
            "none",
            T_NOTHING_TO_UNDO.render(lang),
        )
    if isinstance(action, RepairParams):
        try:
            spec = get_spec(action.repair)
        except RepairError:
            text = T_REPAIR_UNKNOWN.render(lang, repair=action.repair)
            return Described("repair", text, text, why, RISK_WORDS["high"].render(lang), "high", "-")
        return Described(
            "repair",
            spec.title.render(lang),
            spec.description.render(lang),
            why,
            f"{RISK_WORDS[spec.risk].render(lang)}: {spec.risk_note.render(lang)}",
            spec.risk,
            spec.undo.render(lang),
        )
    if isinstance(action, CommandParams):
        return Described(
            "command",
            T_COMMAND.render(lang),
            T_COMMAND_WHAT.render(lang, timeout=action.timeout_s),
            why,
            T_COMMAND_RISK.render(lang),
            "high",
            T_COMMAND_UNDO.render(lang),
            verbatim=action.command,
        )
    assert isinstance(action, PushFileParams)
    name = sanitize_name(action.name)
    return Described(
        "push_file",
        T_PUSH.render(lang),
        T_PUSH_WHAT.render(lang, size=human_size(action.size), name=name),
        why,
        T_PUSH_RISK.render(lang),
        "medium",
        T_PUSH_UNDO.render(lang),
    )
