"""The user's service record (事后可查): a signed receipt from the server, as the panel shows it.

The receipt (`rme-service-receipt/1`, made and signed by the server) is kept as the server sent it —
the panel offers it for saving unchanged, so it still verifies (`rme-server audit verify --receipt`).
`view` only reads it into plain words in the user's language; any text an engineer chose (a command)
is escaped, as everywhere the user reads it.
"""

from __future__ import annotations

import json
from typing import Any

from agent.executors.readable import escape
from agent.i18n import Lang, Text

__all__ = ["view"]

KINDS = {
    "diagnose": Text("检查网络", "Network check"),
    "repair": Text("修复", "Repair"),
    "command": Text("运行命令", "Command"),
    "push_file": Text("发送文件到收件箱", "File sent to your inbox"),
    "service_item": Text("更改服务项目", "Change of service item"),
}
DECISIONS = {
    "allowed": Text("您已允许", "you allowed it"),
    "denied": Text("您已拒绝", "you denied it"),
    "timed_out": Text("未回答（视为拒绝）", "no answer (denied)"),
    "refused": Text("本机自动拒绝", "refused by this PC"),
    None: Text("未答复", "no answer"),
}
RESULTS = {
    "ok": Text("完成", "done"),
    "failed": Text("失败", "failed"),
    "cancelled": Text("已取消", "cancelled"),
    None: Text("未执行", "not run"),
}
OUTCOMES = {
    "resolved": Text("已解决", "resolved"),
    "unresolved": Text("未解决", "not resolved"),
    "ended_by_user": Text("您结束了会话", "you ended the session"),
    "ended_by_engineer": Text("工程师结束了会话", "the engineer ended the session"),
    "timed_out": Text("超时", "timed out"),
    "connection_lost": Text("连接中断", "connection lost"),
    "declined": Text("您拒绝了连接", "you declined"),
    "not_entitled": Text("无服务资格", "not entitled"),
}
T_INCLUDED = Text("套餐内包含（免费）", "included in your plan (free)")


def _what(step: dict[str, Any]) -> str:
    params = step.get("params") or {}
    kind = params.get("kind")
    if kind == "command":
        return escape(str(params.get("command", "")))
    if kind == "repair":
        return escape(str(params.get("repair", "")))
    if kind == "push_file":
        return escape(str(params.get("name", "")))
    if kind == "service_item":
        return escape(str(params.get("item", "")))
    return ""


def view(text: str, lang: Lang) -> dict[str, Any]:
    """One receipt as the panel lists it; `receipt` is the signed document, unchanged, for saving."""
    try:
        record = json.loads(text)["record"]
    except (ValueError, KeyError, TypeError):
        return {"error": "malformed receipt", "receipt": text}
    item = record.get("service_item") or None
    engineer = record.get("engineer") or {}
    price = int(record.get("price_cents") or 0)
    steps = []
    for step in record.get("steps") or []:
        kind = str(step.get("kind"))
        file = step.get("file")
        steps.append({
            "kind": kind,
            "title": (KINDS.get(kind) or Text(kind, kind)).render(lang),
            "what": _what(step),
            "reason": escape(str(step.get("reason") or "")),
            "decision": step.get("decision"),
            "decision_text": (DECISIONS.get(step.get("decision")) or DECISIONS[None]).render(lang),
            "status": step.get("status"),
            "result_text": (RESULTS.get(step.get("status")) or RESULTS[None]).render(lang),
            "file": None if not file else {
                "name": escape(str(file.get("name") or "")), "size": file.get("size"),
                "sha256": file.get("sha256"),
            },
            "requested_at": step.get("requested_at"),
        })  # fmt: skip
    outcome = record.get("outcome")
    return {
        "session_id": record.get("session_id"),
        "item": None if item is None else (item.get("name_en") if lang == "en" else item.get("name_zh")),
        "item_code": None if item is None else item.get("code"),
        "engineer": escape(str(engineer.get("name") or "")),
        "engineer_id": engineer.get("id"),
        "started_at": record.get("started_at"),
        "ended_at": record.get("ended_at"),
        "outcome": outcome,
        "outcome_text": (OUTCOMES.get(outcome) or Text(str(outcome), str(outcome))).render(lang),
        "resolution": record.get("resolution"),
        "price_cents": price,
        "currency": record.get("currency"),
        "price": T_INCLUDED.render(lang) if price == 0 else f"{price / 100:.2f} {record.get('currency')}",
        "steps": steps,
        "receipt": text,
    }
