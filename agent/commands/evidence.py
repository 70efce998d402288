"""`rme-agent evidence`: list the audit proofs the server gave at each session's end, checked offline.

Each file under `<data dir>/evidence/` proves that a session's last event is in the operator's signed
audit log at a given size; the check needs no network and trusts only the key pinned on first use
(or `--key`, the operator's published key). Exit 1 if any proof does not verify.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from agent.commands._common import add_common_arguments, config_from_args
from agent.config import ConfigError
from agent.i18n import Text, system_lang

T_NONE = Text(
    "还没有审计凭据（会话结束时服务器会发送）",
    "No audit evidence yet (the server sends it when a session ends)",
)
T_OK = Text(
    "✔ {file}：会话 {session} 的最后一条记录（{kind}，第 {index} 条）"
    "在已签名的审计日志中（共 {size} 条）{witnessed}",
    "✔ {file}: session {session}'s last record ({kind}, #{index}) "
    "is in the signed audit log (size {size}){witnessed}",
)
T_BAD = Text("✘ {file}：无法证明 — {problems}", "✘ {file}: not proven — {problems}")
T_WITNESSED = Text("，见证人 {names} 已联署", "; cosigned by witness {names}")
T_KEY_CHANGED = Text(
    "  ⚠ 服务器换了审计密钥：此凭据用的不是第一次记下的密钥",
    "  ⚠ the server changed its audit key: this evidence is not signed with the key first recorded",
)
T_KEY = Text(
    "审计密钥（可与运营商公布的比对）：{key}",
    "Audit key (compare with the one the operator publishes): {key}",
)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("evidence", help="check the audit proofs kept from past sessions")
    add_common_arguments(parser)
    parser.add_argument("--key", help="the operator's published audit key (default: the one pinned first)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from agent.evidence import evidence_files, pinned_key, recheck  # noqa: PLC0415

    try:
        config = config_from_args(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    lang = config.lang or system_lang()
    files = evidence_files(config.data_dir)
    results: list[dict[str, Any]] = []
    failed = False
    for path in files:
        try:
            document, report = recheck(path, args.key)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            failed = True
            results.append({"file": path.name, "ok": False, "problems": [f"unreadable: {exc}"]})
            continue
        failed = failed or not report.ok
        results.append(
            {
                "file": path.name,
                "ok": report.ok,
                "session": document.get("session"),
                "kind": report.kind,
                "index": report.index,
                "size": report.size,
                "witnesses": report.witnesses,
                "key_changed": bool(document.get("key_changed")),
                "problems": report.problems,
            }
        )
    key = args.key or pinned_key(config.data_dir)
    if args.json:
        print(json.dumps({"key": key, "evidence": results}, ensure_ascii=False))
        return 1 if failed else 0
    if not results:
        print(T_NONE.render(lang))
        return 0
    if key:
        print(T_KEY.render(lang, key=_short(key)))
    for item in results:
        _print(lang, item)
    return 1 if failed else 0


def _short(key: str) -> str:
    return "+".join(key.split("+", 2)[:2])


def _print(lang: Any, item: dict[str, Any]) -> None:
    name = Path(item["file"]).name
    if item["ok"]:
        names = ", ".join(item["witnesses"])
        witnessed = T_WITNESSED.render(lang, names=names) if names else ""
        print(
            T_OK.render(
                lang, file=name, session=item["session"], kind=item["kind"], index=item["index"],
                size=item["size"], witnessed=witnessed,
            )
        )  # fmt: skip
    else:
        print(T_BAD.render(lang, file=name, problems="; ".join(item["problems"])))
    if item.get("key_changed"):
        print(T_KEY_CHANGED.render(lang))
