"""The offline page of a service receipt: one self-contained HTML file that checks the receipt in the
browser (no server, no network) and shows the record in zh-CN and English.

`render_receipt_page(receipt, trusted_key)` embeds the receipt as it was signed and the operator's
published audit key. The page's script (WebCrypto: SHA-256 and Ed25519) checks what
`receipt.verify_receipt` checks of the signatures and the log: the receipt's signed note is the
trusted key's and its digest is that of the record and checkpoint (RFC 8785 JSON); the checkpoint is
signed by the same key; every audit event leads by its inclusion proof to the checkpoint's root, in
one session, in order; and, as `verify_receipt` does, that the record agrees with those events — the
steps re-derived from the events (`stepsFromEvents`, a port of `receipt.steps_from_events`) equal
the record's, and so do the engineer, the service item and how it ended. A changed price, item or
step changes the digest; a record re-signed with the server's key but not matching its own log
fails the re-derivation: either way the page says FAILED.
"""

from __future__ import annotations

import html
import json

__all__ = ["render_receipt_page"]

_SCRIPT = r"""
"use strict";
const $ = (id) => document.getElementById(id);
const enc = new TextEncoder();
const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const toB64 = (u) => btoa(String.fromCharCode(...u));
const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const cat = (...parts) => { const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0)); let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; } return out; };
const sha = async (u) => new Uint8Array(await crypto.subtle.digest("SHA-256", u));
function jcs(v) {  // RFC 8785 for what a record holds: strings, integers, booleans, null, arrays, objects
  if (v === null || typeof v !== "object") return JSON.stringify(v);
  if (Array.isArray(v)) return "[" + v.map(jcs).join(",") + "]";
  return "{" + Object.keys(v).sort().map((k) => JSON.stringify(k) + ":" + jcs(v[k])).join(",") + "}";
}
async function keyHash(name, pub) {
  return (await sha(cat(enc.encode(name + "\n"), new Uint8Array([1]), pub))).slice(0, 4);
}
async function checkNote(note, trusted) {  // C2SP signed note: the body, if signed by the trusted key
  const cut = note.indexOf("\n\n");
  if (cut < 0) throw new Error("no signature block");
  const body = note.slice(0, cut + 1);
  for (const line of note.slice(cut + 2).split("\n")) {
    if (!line.startsWith("\u2014 ")) continue;
    const [name, sig] = line.slice(2).split(" ");
    const raw = b64(sig);
    if (name !== trusted.name || !eq(raw.slice(0, 4), trusted.hash)) continue;
    const ok = await crypto.subtle.verify("Ed25519", trusted.key, raw.slice(4), enc.encode(body));
    if (!ok) throw new Error("the signature does not verify");
    return body;
  }
  throw new Error("not signed by the trusted key " + trusted.name);
}
async function nodeHash(l, r) { return sha(cat(new Uint8Array([1]), l, r)); }
async function rootFromProof(index, size, leaf, proof) {  // RFC 9162 2.1.3.2
  let fn = index, sn = size - 1, r = leaf;
  for (const p of proof) {
    if (sn === 0) throw new Error("proof too long");
    if ((fn & 1) || fn === sn) {
      r = await nodeHash(p, r);
      if (!(fn & 1)) while (!(fn & 1) && fn !== 0) { fn >>= 1; sn >>= 1; }
    } else r = await nodeHash(r, p);
    fn >>= 1; sn >>= 1;
  }
  if (sn !== 0) throw new Error("proof too short");
  return r;
}
async function verify(receipt, keyText) {
  const parts = keyText.split("+");
  const [name, hashHex, keyB64] = [parts[0], parts[1], parts.slice(2).join("+")];
  const rawKey = b64(keyB64);
  const pub = rawKey.slice(1);
  const hash = Uint8Array.from(hashHex.match(/../g), (h) => parseInt(h, 16));
  if (!eq(await keyHash(name, pub), hash)) throw new Error("the trusted key's hash does not match it");
  const key = await crypto.subtle.importKey("raw", pub, "Ed25519", false, ["verify"]);
  const trusted = { name, hash, key };
  const record = receipt.record, audit = receipt.audit;
  const signedBody = await checkNote(receipt.signature, trusted);
  const digest = toB64(await sha(enc.encode(jcs({ record: record, checkpoint: audit.checkpoint }))));
  if (signedBody !== "rme-service-receipt/1\n" + record.session_id + "\n" + digest + "\n")
    throw new Error("the record is not what the server signed (changed after signing)");
  const cp = (await checkNote(audit.checkpoint, trusted)).split("\n");
  const size = Number(cp[1]), root = b64(cp[2]);
  if (audit.session_id !== record.session_id) throw new Error("the audit export is of another session");
  let previous = null;
  for (const ev of audit.events) {
    const leaf = await sha(cat(new Uint8Array([0]), enc.encode(ev.leaf)));
    if (!eq(await rootFromProof(ev.index, size, leaf, ev.proof.map(b64)), root))
      throw new Error("event " + ev.index + " is not in the signed log");
    const doc = JSON.parse(ev.leaf);
    if (doc.session !== record.session_id || doc.session_prev !== previous)
      throw new Error("the session's events are not complete and in order");
    previous = ev.index;
  }
  agreesWithEvents(record, audit.events.map((ev) => JSON.parse(ev.leaf)));
  return audit.events.length;
}
// The record must be what the events say (receipt.py's steps_from_events and facts_from_events).
const isMap = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
const get = (m, k) => (m[k] === undefined ? null : m[k]);
function stepsFromEvents(events) {
  const steps = new Map();
  for (const event of events) {
    const kind = get(event, "kind"), data = event.data || {};
    if (!isMap(data)) continue;
    const actionId = get(data, "action_id") || (kind === "file.pushed" ? get(data, "action") : null);
    if (typeof actionId !== "string") continue;
    if (kind === "action.request") {
      const params = isMap(data.action) ? data.action : {};
      steps.set(actionId, { action_id: actionId, kind: get(params, "kind"), params: { ...params },
        reason: data.reason === undefined ? "" : data.reason, requested_by: get(event, "actor"),
        requested_at: get(event, "time"), decision: null, status: null, outcome: null, file: null,
        leaves: [get(event, "index")] });
      continue;
    }
    const step = steps.get(actionId);
    if (step === undefined) continue;
    step.leaves.push(get(event, "index"));
    if (kind === "consent.reply") step.decision = get(data, "decision");
    else if (kind === "action.result") {
      step.status = get(data, "status");
      step.outcome = get(data, "outcome");
    }
    else if (kind === "file.pushed") step.file = { name: get(step.params, "name"), size: get(data, "size"),
      sha256: get(data, "sha256"), matches: get(data, "sha256") === get(data, "announced") };
  }
  return [...steps.values()];
}
function factsFromEvents(events) {
  const facts = { engineer_id: null, service_item: null, outcome: null, resolution: null };
  for (const event of events) {
    const kind = event.kind, data = event.data || {};
    if (!isMap(data)) continue;
    if (kind === "help.request") facts.service_item = get(data, "service_item");
    else if (kind === "ticket.accept") facts.engineer_id = get(data, "engineer");
    else if (kind === "action.result" && data.status === "ok" && isMap(data.outcome)
      && data.outcome.kind === "service_item") facts.service_item = get(data.outcome, "item");
    else if (kind === "session.end") {
      facts.outcome = get(data, "reason");
      facts.resolution = get(data, "resolution");
    }
  }
  return facts;
}
function agreesWithEvents(record, events) {
  if (jcs(stepsFromEvents(events)) !== jcs(get(record, "steps")))
    throw new Error("the steps differ from the audit log's events");
  const facts = factsFromEvents(events);
  const checks = [["engineer", get(record.engineer || {}, "id"), facts.engineer_id],
    ["service item", get(record.service_item || {}, "code"), facts.service_item]];
  if (facts.outcome !== null)  // no end event: a lost connection ended it quietly
    checks.push(["outcome", get(record, "outcome"), facts.outcome],
      ["resolution", get(record, "resolution"), facts.resolution]);
  for (const [what, claimed, logged] of checks)
    if (jcs(claimed) !== jcs(logged))
      throw new Error("the " + what + " (" + jcs(claimed) + ") is not the audit log's (" + jcs(logged) + ")");
}
const receipt = JSON.parse($("receipt").textContent);
const key = $("key").textContent.trim();
verify(receipt, key).then((n) => {
  $("verdict").className = "ok";
  $("verdict").textContent = "\u2714 已验证：服务器签名有效，" + n + " 条审计记录都在已签名的日志中，"
    + "每一步都与日志一致 / Verified: signed by " + key.split("+")[0] + ", " + n
    + " audit events in the signed log, every step as logged";
}).catch((err) => {
  $("verdict").className = "bad";
  $("verdict").textContent = "\u2718 验证失败 / Verification FAILED: " + err.message;
});
"""

_DECISIONS = {"allowed": ("已允许", "allowed"), "denied": ("已拒绝", "denied"),
              "timed_out": ("未回答", "no answer"), "refused": ("本机拒绝", "refused by the PC")}  # fmt: skip


def _step_rows(record: dict[str, object]) -> str:
    rows = []
    steps = record.get("steps")
    for step in steps if isinstance(steps, list) else []:
        params = step.get("params") or {}
        what = params.get("command") or params.get("repair") or params.get("name") or params.get("item") or ""
        zh, en = _DECISIONS.get(str(step.get("decision")), ("未答复", "no answer"))
        file = step.get("file") or {}
        sha = f"<br><code>SHA-256 {html.escape(str(file.get('sha256')))}</code>" if file else ""
        rows.append(
            f"<tr><td>{html.escape(str(step.get('kind')))}</td><td><code>{html.escape(str(what))}</code>{sha}</td>"
            f"<td>{zh} / {en}</td><td>{html.escape(str(step.get('status') or '—'))}</td></tr>"
        )
    return "".join(rows)


def render_receipt_page(receipt_text: str, trusted_key: str) -> str:
    receipt = json.loads(receipt_text)
    record = receipt["record"]
    item = record.get("service_item") or {}
    engineer = record.get("engineer") or {}
    price = int(record.get("price_cents") or 0)
    price_text = (
        f"{price / 100:.2f} {record.get('currency')}" if price else "套餐内包含 / included in the plan"
    )
    # No "<" at all inside the script element: "</script" would end it, and "<!--<script" (an
    # engineer's command text can hold it) makes the HTML parser run past its end into the checking
    # script below, which then never runs. \u003c is the same JSON string.
    embedded = json.dumps(receipt, ensure_ascii=False).replace("<", "\\u003c")
    facts = [
        ("服务项目 / Service",
         f"{item.get('name_zh', '—')} / {item.get('name_en', '—')} ({item.get('code', '—')})"),
        ("工程师 / Engineer", f"{engineer.get('name', '—')} ({engineer.get('id', '—')})"),
        ("时间 / Time", f"{record.get('started_at')} — {record.get('ended_at')}"),
        ("结果 / Outcome", f"{record.get('outcome')} · {record.get('resolution') or ''}"),
        ("费用 / Price", price_text),
    ]  # fmt: skip
    facts_html = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in facts)
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>RME 服务收据 / Service receipt</title>
<style>body{{font-family:sans-serif;max-width:56rem;margin:2rem auto}}.ok{{color:#064}}
.bad{{color:#a00}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3rem .5rem;text-align:left}}</style></head>
<body><h1>RME 服务收据 / Service receipt</h1>
<p id="verdict">正在验证… / Verifying…</p>
<p>会话 / Session <code>{html.escape(str(record.get("session_id")))}</code></p>
<dl>{facts_html}</dl>
<h2>每一步 / Each step</h2>
<table><tr><th>类型 / Kind</th><th>内容 / What</th><th>您的决定 / Your answer</th><th>结果 / Result</th></tr>
{_step_rows(record)}</table>
<p>验证所用的公钥 / Checked against the key: <code id="key">{html.escape(trusted_key)}</code></p>
<script type="application/json" id="receipt">{embedded}</script>
<script>{_SCRIPT}</script></body></html>
"""
