"""The readable page of a session export: what happened, in order, in zh-CN and English.

The page is for people (the customer, a supervisor, a dispute handler); the JSON beside it is what
`rme-server audit verify` checks. The page states the verification result it was made with and
tells the reader how to re-check it, so nobody has to trust the HTML itself.
"""

from __future__ import annotations

import base64
import json
from html import escape

from server.audit.export import SessionAuditExport, VerificationReport

__all__ = ["render_export_html"]

_STYLE = """
body{font-family:system-ui,"Microsoft YaHei","PingFang SC",sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;width:100%}td,th{border:1px solid #ccc;padding:.3em .5em;vertical-align:top}
th{background:#f3f3f3;text-align:left}code,pre{font-size:.85em;white-space:pre-wrap;word-break:break-all}
.ok{color:#11682b}.bad{color:#b00020}
"""


def _bilingual(zh: str, en: str) -> str:
    return f"{escape(zh)} <span lang=en>/ {escape(en)}</span>"


def render_export_html(export: SessionAuditExport, report: VerificationReport) -> str:
    """A self-contained HTML page (no scripts, no external resources) for one session export."""
    if report.ok:
        verdict = _bilingual(
            "✔ 已验证：全部事件均包含在已签名的审计日志中。",
            "✔ Verified: every event is in the signed audit log.",
        )
        status = f"<p class=ok>{verdict}</p>"
    else:
        problems = "".join(f"<li>{escape(p)}</li>" for p in report.problems)
        verdict = _bilingual("✘ 验证失败：", "✘ Verification FAILED:")
        status = f"<p class=bad>{verdict}</p><ul>{problems}</ul>"
    how_to = _bilingual(
        "本页旁边的 JSON 文件包含每个事件的默克尔包含证明和运营商签名的检查点。"
        "请使用运营商公布的验证密钥离线验证：",
        "The JSON file next to this page holds a Merkle inclusion proof for every event and the "
        "operator's signed checkpoint. Verify it offline with the operator's published verifier key:",
    )
    rows = []
    for event in export.events:
        document = event.document()
        data = json.dumps(document.get("data"), ensure_ascii=False, indent=1, sort_keys=True)
        rows.append(
            "<tr>"
            f"<td>{event.index}</td><td>{escape(str(document.get('time')))}</td>"
            f"<td>{escape(str(document.get('kind')))}</td><td>{escape(str(document.get('actor')))}</td>"
            f"<td><pre>{escape(data)}</pre></td>"
            "</tr>"
        )
    root = base64.b64encode(report.root or b"").decode()
    head = _bilingual("远程维护会话审计记录", "Remote maintenance session audit record")
    return f"""<!doctype html>
<html lang=zh-CN><head><meta charset=utf-8>
<title>RME audit — {escape(export.session_id)}</title><style>{_STYLE}</style></head>
<body>
<h1>{head}</h1>
<p>{_bilingual("会话", "Session")}: <code>{escape(export.session_id)}</code><br>
{_bilingual("审计日志", "Audit log")}: <code>{escape(export.origin)}</code><br>
{_bilingual("导出时间", "Exported at")}: {escape(export.created_at.isoformat())}<br>
{_bilingual("日志大小", "Log size")}: {report.tree_size} · {_bilingual("根哈希", "Root hash")}:
<code>{escape(root)}</code></p>
{status}
<table><thead><tr><th>#</th><th>{_bilingual("时间 (UTC)", "Time (UTC)")}</th>
<th>{_bilingual("事件", "Event")}</th><th>{_bilingual("执行者", "Actor")}</th>
<th>{_bilingual("详情", "Details")}</th></tr></thead>
<tbody>{"".join(rows)}</tbody></table>
<h2>{_bilingual("如何自行验证", "How to check this yourself")}</h2>
<p>{how_to}</p>
<pre>rme-server audit verify {escape(export.session_id)}.json --key '{escape(export.verifier_key)}'</pre>
<h3>{_bilingual("已签名检查点", "Signed checkpoint")}</h3>
<pre>{escape(export.checkpoint)}</pre>
</body></html>
"""
