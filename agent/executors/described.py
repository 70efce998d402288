"""A request as the user reads it before consent: what will be done, why, its risk, its undo.

Each executor builds its own `Described` (in `describe`), from the request itself — the command as it
will run, the file name as it will be saved, the repair catalogue's words — never from free text the
engineer wrote, except the reason, which is shown as the engineer's words.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.i18n import Text

T_NO_RISK = Text("无风险", "No risk")
T_NOTHING_TO_UNDO = Text("无需撤销", "Nothing to undo")
REFUSED_VAULT = Text(
    "已自动拒绝：“{title}” 涉及保险箱里的文件夹", "Refused automatically: “{title}” touches a vault folder"
)
REFUSED_INBOX = Text("已自动拒绝：“{title}” — {why}", "Refused automatically: “{title}” — {why}")
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
    """One request in one language. `verbatim` (a command) is shown in a code box, exactly as it will
    run except that invisible and control characters are written as escapes (`\\x1b`, `\\u202e`);
    `warnings` are plain-words cautions the user reads before deciding."""

    kind: str
    title: str
    what: str
    why: str
    risk: str
    risk_level: str
    undo: str
    verbatim: str | None = None
    warnings: tuple[str, ...] = ()
    length: int | None = None  # characters of the command as it will run

    def to_json(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "title": self.title,
            "what": self.what,
            "why": self.why,
            "risk": self.risk,
            "risk_level": self.risk_level,
            "undo": self.undo,
            "verbatim": self.verbatim,
            "warnings": list(self.warnings),
            "length": self.length,
        }
