// The user panel: long-polls /api/state and renders it; every button is a POST with the CSRF header.
// Text comes from the server in both languages; labels below are the page's own words.
"use strict";
const CSRF = document.querySelector('meta[name="rme-csrf"]').content;
const LABELS = {
  "zh-CN": { title: "RME 远程维护专家", session: "会话", end: "结束会话", help: "呼叫专家", call: "呼叫专家",
    feed: "活动记录", allow: "允许", deny: "拒绝", accept: "接受", decline: "拒绝", other: "English",
    none: "没有进行中的会话", with: "正在与工程师 {name}（工号 {id}）进行会话", offered: "工程师 {name}（工号 {id}）请求连接",
    why: "原因", risk: "风险", undo: "如何撤销", left: "{s} 秒后自动拒绝", placeholder: "请描述您遇到的问题，例如：上不了网",
    online: "已连接", offline: "未连接", connecting: "正在连接", not_enrolled: "未注册",
    help_sent: "求助已发送", help_queued: "排队中：前面还有 {p} 位，工程师马上就来", help_refused: "求助未被受理：{r}",
    help_waiting: "连接后发送求助", diag: "诊断结果", verdict_ok: "网络正常", verdict_degraded: "网络有问题",
    verdict_offline: "无法上网", rate_title: "服务满意吗？", rate_who: "请为刚才与工程师 {name}（工号 {id}）的会话打分",
    rate_low: "1 = 很不满意", rate_high: "5 = 非常满意", rate_comment: "想说点什么吗？（可不填）", rate_send: "发送评分",
    rate_no: "不用了，谢谢", rate_offline: "未连接服务器，评分没有发送", rate_failed: "评分没有发送：{m}",
    vault: "隐私保险箱", vault_lock: "工程师会话进行中：保险箱已锁定，会话结束前不能打开",
    vault_none: "还没有保险箱（用 “rme-agent vault init” 创建）", vault_empty: "保险箱是空的：在下面填写文件夹路径来保护它",
    vault_busy: "保险箱正在处理，请稍候…", vault_state_open: "已打开", vault_state_closed: "已加密隐藏",
    vault_open: "打开", vault_close: "加密", vault_remove: "移出保险箱", vault_ok: "确定", vault_cancel: "取消",
    vault_open_all: "全部打开", vault_close_all: "全部加密", vault_add: "保护这个文件夹",
    vault_path: "要保护的文件夹的完整路径", vault_name: "显示名称（可不填）",
    vault_pass_open: "输入口令以打开 “{name}”：", vault_pass_all: "输入口令以打开全部文件夹：",
    vault_pass_remove: "输入口令，把 “{name}” 永久移出保险箱（恢复为普通文件夹）：",
    vault_opened: "已打开：{names}",
    vault_closed: "已加密并隐藏：{names}", vault_added: "“{name}” 已加密并隐藏", vault_removed: "“{name}” 已恢复为普通文件夹",
    vault_nothing: "没有需要处理的文件夹", vault_failed: "操作失败（{m}）", vault_missing: "缺少 {n} 个损坏的文件",
    usb: "制作救援 U 盘", usb_intro: "把救援盘镜像写入 U 盘，电脑系统无法启动时用它启动。U 盘上原有的数据会全部被抹掉。",
    usb_image: "救援盘镜像", usb_other: "其他位置的文件（在下面输入完整路径）", usb_path: "镜像文件的完整路径",
    usb_disks: "U 盘（只列出可移动磁盘）", usb_none: "没有找到可移动的 U 盘。请插入 U 盘后点“刷新”。",
    usb_mounted: "已挂载：请先弹出", usb_refresh: "刷新", usb_write: "写入 U 盘…", usb_pick: "请先选择镜像和 U 盘。",
    usb_confirm: "将把 {image} 写入 {model}（{size}，{path}）。这个 U 盘上现有的所有数据都会被抹掉，无法恢复。确定吗？",
    usb_erase: "抹掉并写入", usb_writing: "正在写入：{p}%", usb_verifying: "正在读回校验：{p}%", usb_stop: "停止",
    length: "共 {n} 个字符，{l} 行", warn_title: "请注意", auto_send: "命令的输出不用再问我，直接发送给工程师",
    queue_title: "还有 {n} 个请求在排队，等您回答上面的问题后逐个显示", queue_chars: "（{n} 个字符）",
    screens: "屏幕共享", screen_stop: "停止", screen_on: "正在进行：{t}",
    queue_warned: "有警告", outputs: "命令输出", out_size: "{b} 字节 · {l} 行 · 退出码 {c}",
    out_truncated: "输出超过上限，只保留了前 64 KB（其余部分从未保存，也不会发送）",
    out_held: "这些输出只显示在这台电脑上。看完后由您决定：", release: "发送给工程师", keep: "留在这台电脑上",
    out_sent: "已发送给工程师", out_kept: "已留在这台电脑上，没有发送", out_auto: "已按您的选择自动发送给工程师",
    out_dropped: "会话已结束，没有发送",
    item_pick: "服务项目", item_none: "不指定（由工程师判断）", included: "套餐内包含", price: "费用：{p}",
    plan: "您的套餐：{plan}", left_month: "本月还可使用 {n} 次", minutes: "预计 {m} 分钟",
    not_allowed: "不可选：{r}", confirm_text: "您选择了“{item}”，{price}。确认呼叫专家吗？",
    confirm_plain: "确认呼叫专家吗？", confirm_call: "确认呼叫",
    records: "服务记录", records_show: "查看我的服务记录", records_none: "还没有服务记录",
    records_offline: "未连接服务器，无法读取服务记录", records_loading: "正在读取…",
    rec_item: "服务项目", rec_engineer: "工程师", rec_result: "结果", rec_price: "费用", rec_steps: "工程师的每一步",
    rec_file: "文件 {n}（{s} 字节），SHA-256：{h}", rec_save: "保存收据（带服务器签名）", rec_none_item: "未指定",
    rec_no_steps: "没有操作请求", r_plan_item_not_included: "不在您的套餐内", r_plan_allowance_used: "本月次数已用完",
    r_subscription_suspended: "服务已暂停", r_subscription_cancelled: "服务已取消", r_item_unknown: "已停止提供" },
  "en": { title: "RME Remote Maintenance Expert", session: "Session", end: "End session", help: "Call an expert",
    call: "Call an expert", feed: "Activity", allow: "Allow", deny: "Deny", accept: "Accept", decline: "Decline",
    other: "中文", none: "No session", with: "In a session with engineer {name} (ID {id})",
    offered: "Engineer {name} (ID {id}) asks to connect", why: "Why", risk: "Risk", undo: "How to undo",
    left: "Denied automatically in {s} s", placeholder: "Describe the problem, e.g. the internet is down",
    online: "Connected", offline: "Not connected", connecting: "Connecting", not_enrolled: "Not enrolled",
    help_sent: "Help request sent", help_queued: "In the queue: {p} ahead of you; an engineer is coming",
    help_refused: "The help request was refused: {r}", help_waiting: "Will send when connected",
    diag: "Diagnosis", verdict_ok: "The network works", verdict_degraded: "The network has problems",
    verdict_offline: "No internet", rate_title: "How did it go?",
    rate_who: "Please rate the session with engineer {name} (ID {id})", rate_low: "1 = very unhappy",
    rate_high: "5 = very happy", rate_comment: "Anything to add? (optional)", rate_send: "Send rating",
    rate_no: "No thanks", rate_offline: "Not connected to the server: the rating was not sent",
    rate_failed: "The rating was not sent: {m}",
    vault: "Privacy vault", vault_lock: "An engineer session is active: the vault is locked until it ends",
    vault_none: "No vault yet (create one with “rme-agent vault init”)",
    vault_empty: "The vault is empty: type a folder's path below to protect it",
    vault_busy: "The vault is working, please wait…", vault_state_open: "open", vault_state_closed: "closed",
    vault_open: "Open", vault_close: "Close", vault_remove: "Remove", vault_ok: "OK", vault_cancel: "Cancel",
    vault_open_all: "Open all", vault_close_all: "Close all", vault_add: "Protect this folder",
    vault_path: "Full path of the folder to protect", vault_name: "Name (optional)",
    vault_pass_open: "Passphrase to open “{name}”:", vault_pass_all: "Passphrase to open every folder:",
    vault_pass_remove: "Passphrase to take “{name}” out of the vault for good (back to a normal folder):",
    vault_opened: "Opened: {names}", vault_closed: "Encrypted and hidden: {names}",
    vault_added: "“{name}” is encrypted and hidden", vault_removed: "“{name}” is a normal folder again",
    vault_nothing: "Nothing to do", vault_failed: "It did not work ({m})", vault_missing: "{n} damaged files missing",
    usb: "Make a rescue USB stick",
    usb_intro: "Write the rescue image to a USB stick, to start this PC from when its system does not start. Everything on the stick is erased.",
    usb_image: "Rescue image", usb_other: "A file elsewhere (type its full path below)", usb_path: "Full path of the image file",
    usb_disks: "USB disks (removable disks only)", usb_none: "No removable USB disk found. Plug one in and press Refresh.",
    usb_mounted: "mounted: eject it first", usb_refresh: "Refresh", usb_write: "Write to the USB disk…",
    usb_pick: "Choose an image and a USB disk first.",
    usb_confirm: "This writes {image} to {model} ({size}, {path}). Everything on that disk now is erased and cannot be recovered. Go on?",
    usb_erase: "Erase and write", usb_writing: "Writing: {p}%", usb_verifying: "Reading back to verify: {p}%", usb_stop: "Stop",
    length: "{n} characters, {l} lines", warn_title: "Please note",
    auto_send: "Send this command's output to the engineer without asking me",
    queue_title: "{n} more requests are waiting; each is shown after you answer the one above",
    screens: "Screen sharing", screen_stop: "Stop", screen_on: "On now: {t}",
    queue_chars: "({n} characters)", queue_warned: "has warnings", outputs: "Command output",
    out_size: "{b} bytes · {l} lines · exit code {c}",
    out_truncated: "The output was longer than the limit: only the first 64 KB was kept (the rest was never stored or sent)",
    out_held: "This output is shown on this PC only. When you have read it, you decide:",
    release: "Send to the engineer", keep: "Keep it on this PC", out_sent: "Sent to the engineer",
    out_kept: "Kept on this PC, not sent", out_auto: "Sent to the engineer automatically, as you chose",
    out_dropped: "The session ended; it was not sent",
    item_pick: "Service", item_none: "Not specified (the engineer decides)", included: "included in your plan",
    price: "price: {p}", plan: "Your plan: {plan}", left_month: "{n} sessions left this month",
    minutes: "about {m} min", not_allowed: "not available: {r}",
    confirm_text: "You picked “{item}”, {price}. Call an expert now?", confirm_plain: "Call an expert now?",
    confirm_call: "Yes, call", records: "Service record", records_show: "Show my service record",
    records_none: "No service records yet", records_offline: "Not connected to the server: no records",
    records_loading: "Loading…", rec_item: "Service", rec_engineer: "Engineer", rec_result: "Result",
    rec_price: "Price", rec_steps: "Each step the engineer asked for",
    rec_file: "File {n} ({s} bytes), SHA-256: {h}", rec_save: "Save the receipt (signed by the server)",
    rec_none_item: "not specified", rec_no_steps: "No requests",
    r_plan_item_not_included: "not in your plan", r_plan_allowance_used: "no sessions left this month",
    r_subscription_suspended: "service suspended", r_subscription_cancelled: "service cancelled",
    r_item_unknown: "no longer offered" },
};
let lang = "zh-CN";
let version = -1;
let ratingSession = null;  // the ended session the rating box is about (kept across re-renders)
let ratingChoice = 0;

function fmt(s, f) { return s.replace(/\{(\w+)\}/g, (_, k) => (k in f ? String(f[k]) : "")); }
function el(tag, props, ...kids) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const k of kids) e.append(k);
  return e;
}
async function post(path, body) {
  const r = await fetch(path, { method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-RME-CSRF": CSRF }, body: JSON.stringify(body || {}) });
  return r.ok ? r.json() : null;
}

// At most one prompt is on screen. It is rebuilt only when it changes (another prompt, another
// language), so a long command keeps its scroll position and the auto-send box keeps its tick.
let shownPrompt = "";
function renderPrompt(p, L) {
  const box = el("div", { className: "prompt", id: "prompt-" + p.id });
  box.dataset.kind = p.kind;
  if (p.kind === "session") {
    const e = p.content.engineer;
    box.append(el("p", { className: "title" }, fmt(L.offered, e)));
  } else {
    const c = p.content[lang];
    box.append(el("h3", {}, c.title), el("p", {}, c.what));
    if (c.warnings && c.warnings.length) {
      box.append(el("div", { className: "warnings", role: "alert" }, el("strong", {}, L.warn_title),
        el("ul", {}, ...c.warnings.map((w) => el("li", {}, w)))));
    }
    if (c.verbatim !== null) {
      box.append(el("pre", { className: "verbatim" }, c.verbatim));
      if (c.length !== null) {
        box.append(el("p", { className: "length" }, fmt(L.length, { n: c.length, l: c.verbatim.split("\n").length })));
      }
    }
    if (c.why) box.append(el("p", {}, L.why + ": " + c.why));
    box.append(el("p", { className: "risk-" + c.risk_level }, L.risk + ": " + c.risk));
    box.append(el("p", {}, L.undo + ": " + c.undo));
  }
  box.append(el("p", { className: "left" }, fmt(L.left, { s: Math.ceil(p.seconds_left) })));
  let auto = null;
  if (p.offers_auto_send) {
    auto = el("input", { type: "checkbox", id: "auto-send", checked: false });
    box.append(el("p", { className: "auto-send" }, auto, " ", el("label", { htmlFor: "auto-send" }, L.auto_send)));
  }
  const yes = el("button", { type: "button", className: "allow" }, p.kind === "session" ? L.accept : L.allow);
  const no = el("button", { type: "button", className: "deny" }, p.kind === "session" ? L.decline : L.deny);
  yes.dataset.action = "allow";
  no.dataset.action = "deny";
  yes.onclick = () => post("/api/answer", { prompt_id: p.id, allow: true, send_output: auto !== null && auto.checked }).then(poll0);
  no.onclick = () => post("/api/answer", { prompt_id: p.id, allow: false }).then(poll0);
  box.append(yes, " ", no);
  return box;
}
function renderPrompts(list, L) {
  const prompts = document.getElementById("prompts");
  prompts.hidden = list.length === 0;
  const key = list.map((p) => p.id).join(",") + "|" + lang;
  if (key === shownPrompt) {
    for (const p of list) {
      const left = document.querySelector("#prompt-" + CSS.escape(p.id) + " .left");
      if (left) left.textContent = fmt(L.left, { s: Math.ceil(p.seconds_left) });
    }
    return;
  }
  shownPrompt = key;
  prompts.replaceChildren(...list.map((p) => renderPrompt(p, L)));
}
function renderQueue(queue, L) {
  const box = document.getElementById("queue-box");
  box.hidden = queue.length === 0;
  document.getElementById("queue-title").textContent = fmt(L.queue_title, { n: queue.length });
  document.getElementById("queue").replaceChildren(...queue.map((q) => {
    const li = el("li", {}, q[lang]);
    li.dataset.id = q.id;
    if (q.preview !== null) {
      li.append(" ", el("code", {}, q.preview.length < q.length ? q.preview + "…" : q.preview));
      li.append(" ", fmt(L.queue_chars, { n: q.length }));
    }
    if (q.warned) li.append(" ", el("strong", { className: "warned" }, L.queue_warned));
    return li;
  }));
}
// Command output, in full. Each box is rebuilt only when its state changes, so reading a long
// output is never interrupted by the live updates.
const shownOutputs = new Map();
function renderOutput(o, L) {
  const box = el("div", { className: "output", id: "output-" + o.action_id });
  box.dataset.state = o.state;
  box.append(el("h3", {}, o.title[lang]), el("pre", { className: "command" }, o.command));
  box.append(el("p", { className: "size" }, fmt(L.out_size, { b: o.size, l: o.lines, c: o.exit_code === null ? "-" : o.exit_code })));
  if (o.truncated) box.append(el("p", { className: "truncated" }, L.out_truncated));
  box.append(el("pre", { className: "output-text", tabIndex: 0 }, o.output));
  if (o.state === "held") {
    const send = el("button", { type: "button", className: "allow" }, L.release);
    const keep = el("button", { type: "button", className: "deny" }, L.keep);
    send.dataset.action = "release";
    keep.dataset.action = "keep";
    send.onclick = () => post("/api/release", { action_id: o.action_id, send: true }).then(poll0);
    keep.onclick = () => post("/api/release", { action_id: o.action_id, send: false }).then(poll0);
    box.append(el("p", { className: "held" }, L.out_held), send, " ", keep);
  } else {
    box.append(el("p", { className: "verdict" }, L["out_" + o.state]));
  }
  return box;
}
function renderOutputs(outputs, L) {
  const holder = document.getElementById("outputs");
  document.getElementById("outputs-box").hidden = outputs.length === 0;
  const kids = outputs.slice().reverse().map((o) => {
    const key = o.state + "|" + lang;
    const old = shownOutputs.get(o.action_id);
    if (old && old.key === key) return old.node;
    const node = renderOutput(o, L);
    shownOutputs.set(o.action_id, { key: key, node: node });
    return node;
  });
  for (const id of [...shownOutputs.keys()]) if (!outputs.some((o) => o.action_id === id)) shownOutputs.delete(id);
  const same = kids.length === holder.children.length && kids.every((k, i) => holder.children[i] === k);
  if (!same) holder.replaceChildren(...kids);
}

// Screen views and controls that are on: each with its Stop (the on-screen red bar has one too).
function renderScreens(list, L) {
  document.getElementById("screens-box").hidden = list.length === 0;
  document.getElementById("screens").replaceChildren(...list.map((s) => {
    const stop = el("button", { type: "button", className: "danger stop-screen" }, L.screen_stop);
    stop.onclick = () => post("/api/screen/stop", { action_id: s.id }).then(poll0);
    const item = el("li", {}, fmt(L.screen_on, { t: s[lang] }), " ", stop);
    item.dataset.kind = s.kind;
    return item;
  }));
}

function renderRating(r, L) {
  const box = document.getElementById("rating");
  const status = document.getElementById("rating-status");
  if (!r) {  // sent, dismissed or gone; a "not sent" message stays visible for a while
    ratingSession = null;
    document.getElementById("rating-form").hidden = true;
    box.hidden = status.textContent === "";
    return;
  }
  document.getElementById("rating-form").hidden = false;
  if (r.session !== ratingSession) {  // a new question: start afresh (otherwise keep what the user typed)
    ratingSession = r.session;
    ratingChoice = 0;
    document.getElementById("rating-comment").value = "";
    document.getElementById("rating-status").textContent = "";
  }
  document.getElementById("rating-who").textContent = fmt(L.rate_who, r.engineer);
  document.getElementById("rating-comment").placeholder = L.rate_comment;
  for (const b of document.querySelectorAll("#rating-choices button")) {
    b.classList.toggle("chosen", +b.dataset.rating === ratingChoice);
    b.setAttribute("aria-checked", String(+b.dataset.rating === ratingChoice));
  }
  document.getElementById("rating-send").disabled = ratingChoice === 0;
  box.hidden = false;
}
async function sendRating() {
  const L = LABELS[lang];
  const r = await fetch("/api/feedback", { method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-RME-CSRF": CSRF },
    body: JSON.stringify({ rating: ratingChoice, comment: document.getElementById("rating-comment").value }) });
  if (!r.ok) {
    let body = {};
    try { body = await r.json(); } catch (e) { body = {}; }
    const status = document.getElementById("rating-status");
    status.textContent = body.error === "offline" ? L.rate_offline : fmt(L.rate_failed, { m: body.message || r.status });
    setTimeout(() => { status.textContent = ""; poll0(); }, 10000);
  }
  await poll0();
}

// -- the privacy vault: names, states, sizes and the session lock only; the passphrase never leaves
// the password field except in the one POST that needs it, and the field is cleared before it is sent.
let vault = null;          // the last GET /api/vault
let vaultPending = null;   // {action, name, state} waiting for the passphrase form
let vaultWorking = false;
let vaultMsg = null;       // {text: {zh-CN, en}, error}
let vaultFetching = false;
let vaultAgain = false;

function both(key, f) { return { "zh-CN": fmt(LABELS["zh-CN"][key], f || {}), "en": fmt(LABELS.en[key], f || {}) }; }
function humanSize(n) {
  let v = n;
  for (const u of ["B", "KiB", "MiB", "GiB"]) {
    if (v < 1024 || u === "GiB") return u === "B" ? v + " B" : v.toFixed(1) + " " + u;
    v /= 1024;
  }
  return v.toFixed(1) + " TiB";
}
async function refreshVault() {
  if (vaultFetching) { vaultAgain = true; return; }
  vaultFetching = true;
  try {
    do {
      vaultAgain = false;
      const r = await fetch("/api/vault", { credentials: "same-origin" });
      if (r.ok) vault = await r.json();
    } while (vaultAgain);
  } catch (e) { /* the next state change retries */ }
  vaultFetching = false;
  renderVault();
  if (vault && vault.busy) setTimeout(refreshVault, 1000);
}
function renderVault() {
  const L = LABELS[lang];
  const box = document.getElementById("vault-box");
  box.hidden = vault === null;
  if (vault === null) return;
  document.getElementById("vault-lock").hidden = !vault.session_active;
  document.getElementById("vault-summary").textContent = vault.damaged ? vault.message[lang]
    : !vault.initialized ? L.vault_none
    : vault.busy || vaultWorking ? L.vault_busy : vault.folders.length === 0 ? L.vault_empty : "";
  const rows = vault.folders.map((f) => {
    const tr = el("tr", {}, el("td", { className: "name" }, f.name),
      el("td", { className: "state" }, f.state === "open" ? L.vault_state_open : L.vault_state_closed),
      el("td", { className: "size" },
        humanSize(f.size) + (f.damaged ? " · " + fmt(L.vault_missing, { n: f.damaged }) : "")));
    tr.dataset.name = f.name;
    tr.dataset.state = f.state;
    const act = el("td", { className: "actions" });
    const main = el("button", { type: "button" }, f.state === "open" ? L.vault_close : L.vault_open);
    main.dataset.action = f.state === "open" ? "close" : "open";
    main.onclick = () => (f.state === "open" ? vaultDo("close", { name: f.name }) : askPass("open", f));
    const rm = el("button", { type: "button", className: "deny" }, L.vault_remove);
    rm.dataset.action = "remove";
    rm.onclick = () => askPass("remove", f);
    for (const b of [main, rm]) b.disabled = vaultWorking;
    act.append(main, " ", rm);
    tr.append(act);
    return tr;
  });
  document.querySelector("#vault-folders tbody").replaceChildren(...rows);
  const anyClosed = vault.folders.some((f) => f.state === "closed");
  const anyOpen = vault.folders.some((f) => f.state === "open");
  document.getElementById("vault-all").hidden = vault.folders.length < 2;
  document.getElementById("vault-open-all").disabled = vaultWorking || !anyClosed;
  document.getElementById("vault-close-all").disabled = vaultWorking || !anyOpen;
  document.getElementById("vault-add-form").hidden = !vault.initialized;
  document.getElementById("vault-add").disabled = vaultWorking;
  document.getElementById("vault-add-path").placeholder = L.vault_path;
  document.getElementById("vault-add-name").placeholder = L.vault_name;
  const form = document.getElementById("vault-pass-form");
  form.hidden = vaultPending === null;
  if (vaultPending) {
    const p = vaultPending;
    // Removing asks for the passphrase even for an open folder: leaving the vault is for good.
    document.getElementById("vault-pass-label").textContent = p.action === "open"
      ? (p.name ? fmt(L.vault_pass_open, { name: p.name }) : L.vault_pass_all)
      : fmt(L.vault_pass_remove, { name: p.name });
  }
  const st = document.getElementById("vault-status");
  st.textContent = vaultMsg ? vaultMsg.text[lang] : "";
  st.className = vaultMsg && vaultMsg.error ? "error" : "";
}
function askPass(action, f) {
  vaultPending = { action: action, name: f ? f.name : null, state: f ? f.state : "closed" };
  vaultMsg = null;
  renderVault();
  document.getElementById("vault-pass").focus();
}
async function vaultDo(action, body) {
  vaultWorking = true;
  vaultMsg = null;
  renderVault();
  let doc = null;
  try {
    const r = await fetch("/api/vault/" + action, { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-RME-CSRF": CSRF }, body: JSON.stringify(body) });
    try { doc = await r.json(); } catch (e) { doc = { ok: false, message: both("vault_failed", { m: r.status }) }; }
  } catch (e) { doc = { ok: false, message: both("vault_failed", { m: String(e) }) }; }
  vaultWorking = false;
  if (!doc.ok) vaultMsg = { text: doc.message || both("vault_failed", { m: doc.error }), error: true };
  else if (action === "add") vaultMsg = { text: both("vault_added", { name: doc.added }), error: false };
  else if (action === "remove") vaultMsg = { text: both("vault_removed", { name: doc.removed }), error: false };
  else {
    const names = action === "open" ? doc.opened : doc.closed;
    vaultMsg = { text: names.length === 0 ? both("vault_nothing")
      : both(action === "open" ? "vault_opened" : "vault_closed", { names: names.join(", ") }), error: false };
  }
  await refreshVault();
}

function render(s) {
  lang = s.lang || lang;
  document.documentElement.lang = lang;
  const L = LABELS[lang];
  for (const e of document.querySelectorAll("[data-t]")) e.textContent = L[e.dataset.t];
  document.getElementById("lang").textContent = L.other;
  document.getElementById("help-words").placeholder = L.placeholder;
  const c = document.getElementById("connection");
  c.textContent = L[s.connection.state] || s.connection.state;
  c.className = "badge " + s.connection.state;
  const sess = s.guard.session;
  document.getElementById("session").textContent = !sess ? L.none
    : fmt(sess.state === "active" ? L.with : L.offered, sess.engineer);
  document.getElementById("end").hidden = !sess;
  renderPrompts(s.guard.prompts, L);
  renderQueue(s.guard.queue, L);
  renderOutputs(s.guard.outputs, L);
  renderScreens(s.guard.screens || [], L);
  renderRating(s.guard.rating, L);
  const h = s.help;
  const hs = document.getElementById("help-status");
  hs.textContent = h.state === "queued" ? fmt(L.help_queued, { p: h.position })
    : h.state === "refused" ? fmt(L.help_refused, { r: lang === "zh-CN" && h.reason_zh ? h.reason_zh : h.reason })
    : h.state === "sent" ? L.help_sent
    : h.state === "waiting" ? L.help_waiting : "";
  const d = document.getElementById("diagnosis");
  if (s.diagnosis) {
    const r = s.diagnosis;
    d.replaceChildren(el("h3", {}, L.diag + ": " + L["verdict_" + r.verdict]),
      el("ul", {}, ...r.findings.filter((f) => f.status !== "ok").map((f) => el("li", {}, f.summary))));
  }
  if (lang !== itemsLang || (s.connection.state === "online" && !items)) loadItems();
  renderVault();
  refreshVault();
  renderUsb();
  const feed = document.getElementById("feed");
  feed.replaceChildren(...s.feed.slice().reverse().map((f) => {
    const li = el("li", {}, el("time", {}, new Date(f.ts * 1000).toLocaleTimeString()), f.text[lang]);
    li.dataset.kind = f.kind;
    if (f.detail) li.append(el("pre", {}, f.detail));
    return li;
  }));
}

async function poll0() {
  const r = await fetch("/api/state", { credentials: "same-origin" });
  if (r.ok) take(await r.json());
}
// Two fetches may cross (a button's poll0 and the long poll): never let an older state overwrite a newer one.
function take(s) {
  if (s.version < version) return;
  version = s.version;
  render(s);
}
async function loop() {
  for (;;) {
    try {
      const r = await fetch("/api/state?since=" + version, { credentials: "same-origin" });
      if (r.ok) take(await r.json());
      else await new Promise((res) => setTimeout(res, 1000));
    } catch (e) { await new Promise((res) => setTimeout(res, 1000)); }
  }
}
document.getElementById("end").onclick = () => post("/api/end").then(poll0);
for (const b of document.querySelectorAll("#rating-choices button")) {
  b.onclick = () => { ratingChoice = +b.dataset.rating; poll0(); };
}
document.getElementById("rating-send").onclick = sendRating;
document.getElementById("rating-dismiss").onclick = () => post("/api/feedback/dismiss").then(poll0);
document.getElementById("lang").onclick = () => post("/api/lang", { lang: lang === "en" ? "zh-CN" : "en" }).then(poll0);
// 事前可选: the user picks a service item and reads its price (or "included in your plan") before
// confirming the call. With billing off there are no items and the call goes as before.
let items = null;
let itemsLang = null;
async function loadItems() {
  itemsLang = lang;
  const r = await fetch("/api/catalogue", { credentials: "same-origin" }).catch(() => null);
  if (!r || !r.ok) return;
  const c = await r.json();
  if (c.billing === null && !c.online) return;  // not asked yet: try again once connected
  items = c;
  renderItems();
}
function priceOf(i, L) { return i.included ? L.included : fmt(L.price, { p: i.price }); }
function reasonText(code, L) { return L["r_" + String(code).replace(/\./g, "_")] || code; }
function renderItems() {
  const L = LABELS[lang];
  const box = document.getElementById("items-box");
  const c = items;
  box.hidden = !c || !c.billing || c.items.length === 0;
  if (box.hidden) return;
  const plan = [c.plan ? fmt(L.plan, { plan: c.plan }) : "", c.sessions_left != null ? fmt(L.left_month, { n: c.sessions_left }) : ""];
  document.getElementById("items-plan").textContent = plan.filter(Boolean).join(" · ") + (c.refusal ? " — " + c.refusal : "");
  const select = document.getElementById("items");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "" }, L.item_none), ...c.items.map((i) => {
    const o = el("option", { value: i.code, disabled: !i.allowed },
      i.name + " — " + (i.allowed ? priceOf(i, L) : fmt(L.not_allowed, { r: reasonText(i.reason, L) })));
    o.dataset.price = i.price;
    return o;
  }));
  select.value = c.items.some((i) => i.code === chosen && i.allowed) ? chosen : "";
  showItem();
}
function showItem() {
  const L = LABELS[lang];
  const i = items && items.items.find((x) => x.code === document.getElementById("items").value);
  document.getElementById("item-detail").textContent = i
    ? [priceOf(i, L), fmt(L.minutes, { m: i.expected_minutes }), i.description].filter(Boolean).join(" · ") : "";
}
document.getElementById("items").onchange = showItem;
function confirmBox(show) {
  document.getElementById("help-confirm").hidden = !show;
  document.getElementById("help").disabled = show;
}
document.getElementById("help-form").onsubmit = (ev) => {
  ev.preventDefault();
  const L = LABELS[lang];
  const code = document.getElementById("items").value;
  const i = items && items.items.find((x) => x.code === code);
  if (document.getElementById("items-box").hidden) {  // billing off: no items, no price, call at once
    post("/api/help", { words: document.getElementById("help-words").value }).then(poll0);
    return;
  }
  document.getElementById("help-confirm-text").textContent = i
    ? fmt(L.confirm_text, { item: i.name, price: priceOf(i, L) }) : L.confirm_plain;
  confirmBox(true);
};
document.getElementById("help-confirm-ok").onclick = () => {
  confirmBox(false);
  const code = document.getElementById("items").value;
  const body = { words: document.getElementById("help-words").value };
  if (code) body.item = code;
  post("/api/help", body).then(poll0);
};
document.getElementById("help-confirm-cancel").onclick = () => confirmBox(false);

// 事后可查: the user's past sessions as the server signed them; each can be saved as a receipt that
// verifies against the operator's audit log (rme-server audit verify --receipt FILE).
async function showRecords() {
  const L = LABELS[lang];
  const status = document.getElementById("records-status");
  const list = document.getElementById("records");
  status.textContent = L.records_loading;
  const r = await fetch("/api/records", { credentials: "same-origin" }).catch(() => null);
  const data = r && r.ok ? await r.json() : { online: false, records: [] };
  status.textContent = !data.online ? L.records_offline : data.records.length === 0 ? L.records_none : "";
  list.replaceChildren(...data.records.map((rec) => {
    const li = el("li", { className: "record" });
    li.dataset.session = rec.session_id;
    const when = rec.started_at ? new Date(rec.started_at).toLocaleString() : "";
    li.append(el("h3", {}, when),
      el("p", { className: "rec-item" }, L.rec_item + ": " + (rec.item ? rec.item + " (" + rec.item_code + ")" : L.rec_none_item)),
      el("p", { className: "rec-engineer" }, L.rec_engineer + ": " + rec.engineer + " (" + rec.engineer_id + ")"),
      el("p", { className: "rec-result" }, L.rec_result + ": " + rec.outcome_text + (rec.resolution ? " · " + rec.resolution : "")),
      el("p", { className: "rec-price" }, L.rec_price + ": " + rec.price),
      el("h4", {}, L.rec_steps));
    const steps = el("ol", { className: "rec-steps" });
    if (rec.steps.length === 0) steps.append(el("li", {}, L.rec_no_steps));
    for (const st of rec.steps) {
      const item = el("li", { className: "step" }, st.title + (st.what ? ": " : ""), el("code", {}, st.what),
        " — " + st.decision_text + " · " + st.result_text);
      item.dataset.decision = st.decision || "";
      item.dataset.status = st.status || "";
      if (st.file) item.append(el("div", { className: "rec-file" }, fmt(L.rec_file, { n: st.file.name, s: st.file.size, h: st.file.sha256 })));
      steps.append(item);
    }
    const save = el("a", { className: "rec-save", download: "rme-receipt-" + rec.session_id + ".json",
      href: URL.createObjectURL(new Blob([rec.receipt], { type: "application/json" })) }, L.rec_save);
    li.append(steps, save);
    return li;
  }));
}
document.getElementById("records-show").onclick = showRecords;
document.getElementById("vault-pass-form").onsubmit = (ev) => {
  ev.preventDefault();
  const input = document.getElementById("vault-pass");
  const passphrase = input.value;
  input.value = "";  // never kept on the page
  const p = vaultPending;
  vaultPending = null;
  if (p) vaultDo(p.action, p.name ? { name: p.name, passphrase: passphrase } : { passphrase: passphrase });
};
document.getElementById("vault-pass-cancel").onclick = () => {
  document.getElementById("vault-pass").value = "";
  vaultPending = null;
  renderVault();
};
document.getElementById("vault-open-all").onclick = () => askPass("open", null);
document.getElementById("vault-close-all").onclick = () => vaultDo("close", {});
document.getElementById("vault-add-form").onsubmit = (ev) => {
  ev.preventDefault();
  const path = document.getElementById("vault-add-path");
  const name = document.getElementById("vault-add-name");
  vaultDo("add", { path: path.value, name: name.value }).then(() => {
    if (vaultMsg && !vaultMsg.error) { path.value = ""; name.value = ""; }
  });
};
// -- the rescue USB writer: images and removable disks from /api/usb; the confirmation names the disk's
// vendor + model, size and path, and the write carries the size the user saw (a swapped stick is refused).
let usb = null;            // the last GET /api/usb
let usbMsg = null;         // {text: {zh-CN, en}, error}
let usbConfirm = null;     // {image, name, disk} waiting for "Erase and write"
let usbPolling = false;
const USB_OTHER = "*";     // the "a file elsewhere" choice: the path is typed
async function refreshUsb() {
  try {
    const r = await fetch("/api/usb", { credentials: "same-origin" });
    if (r.ok) usb = await r.json();
  } catch (e) { /* shown as it was */ }
  renderUsb();
  const busy = usb && ["writing", "verifying"].includes(usb.job.state);
  if (busy && !usbPolling) {
    usbPolling = true;
    setTimeout(() => { usbPolling = false; refreshUsb(); }, 300);
  }
}
function usbChoice() {
  const sel = document.getElementById("usb-image");
  const image = sel.value === USB_OTHER ? document.getElementById("usb-path").value.trim() : sel.value;
  const picked = document.querySelector("input[name=usb-disk]:checked");
  const disk = picked && usb ? usb.disks.find((d) => d.path === picked.value) : null;
  return { image: image, name: image.split(/[\\/]/).pop(), disk: disk };
}
function renderUsb() {
  const L = LABELS[lang];
  if (usb === null) return;
  const sel = document.getElementById("usb-image");
  const keep = sel.options.length ? sel.value : null;  // the first render picks the first image
  const opts = usb.images.map((i) => el("option", { value: i.path }, i.name + " (" + humanSize(i.size) + ")"));
  opts.push(el("option", { value: USB_OTHER }, L.usb_other));
  sel.replaceChildren(...opts);
  if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
  document.getElementById("usb-path").hidden = sel.value !== USB_OTHER;
  document.getElementById("usb-path").placeholder = L.usb_path;
  const checked = (document.querySelector("input[name=usb-disk]:checked") || {}).value;
  const items = usb.disks.map((d) => {
    const radio = el("input", { type: "radio", name: "usb-disk", value: d.path, disabled: d.mounts.length > 0 });
    radio.checked = d.path === checked || usb.disks.length === 1;
    const li = el("li", {}, el("label", {}, radio, " " + (d.model || "?") + " (" + d.size_text + ", " + d.path + ")"
      + (d.mounts.length ? " — " + L.usb_mounted : "")));
    li.dataset.path = d.path;
    return li;
  });
  if (items.length === 0) items.push(el("li", { className: "none" }, L.usb_none));
  document.getElementById("usb-disks").replaceChildren(...items);
  const job = usb.job;
  const busy = ["writing", "verifying"].includes(job.state);
  const bar = document.getElementById("usb-progress");
  bar.hidden = job.state === "idle";
  bar.value = job.total ? Math.round(1000 * job.done / job.total) : 0;
  bar.dataset.state = job.state;
  const pct = job.total ? Math.floor(100 * job.done / job.total) : 0;
  document.getElementById("usb-phase").textContent = job.state === "writing" ? fmt(L.usb_writing, { p: pct })
    : job.state === "verifying" ? fmt(L.usb_verifying, { p: pct }) : "";
  document.getElementById("usb-write").disabled = busy;
  document.getElementById("usb-stop").hidden = !busy;
  const box = document.getElementById("usb-confirm");
  box.hidden = usbConfirm === null;
  if (usbConfirm) {
    const d = usbConfirm.disk;
    document.getElementById("usb-confirm-text").textContent = fmt(L.usb_confirm,
      { image: usbConfirm.name, model: d.model || "?", size: d.size_text, path: d.path });
  }
  const st = document.getElementById("usb-status");
  const final = job.message && !busy ? { text: job.message, error: job.state === "failed" } : null;
  const msg = usbMsg || final;
  st.textContent = msg ? msg.text[lang] : (usb.error ? usb.error[lang] : "");
  st.className = msg && msg.error ? "error" : msg ? "good" : "";
  st.dataset.state = msg ? (msg.error ? "error" : job.state) : "";
}
document.getElementById("usb-image").onchange = renderUsb;
document.getElementById("usb-refresh").onclick = () => { usbMsg = null; refreshUsb(); };
document.getElementById("usb-write").onclick = () => {
  const c = usbChoice();
  usbMsg = null;
  if (!c.image || !c.disk) usbMsg = { text: both("usb_pick"), error: true };
  else usbConfirm = c;
  renderUsb();
};
document.getElementById("usb-confirm-cancel").onclick = () => { usbConfirm = null; renderUsb(); };
document.getElementById("usb-confirm-ok").onclick = async () => {
  const c = usbConfirm;
  usbConfirm = null;
  usbMsg = null;
  let doc = null;
  try {
    const r = await fetch("/api/usb/write", { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-RME-CSRF": CSRF },
      body: JSON.stringify({ image: c.image, device: c.disk.path, size: c.disk.size }) });
    doc = await r.json();
  } catch (e) { doc = { ok: false, message: both("vault_failed", { m: String(e) }) }; }
  if (!doc.ok) usbMsg = { text: doc.message, error: true };
  if (usb) usb.job = { state: "idle" };
  await refreshUsb();
};
document.getElementById("usb-stop").onclick = () => post("/api/usb/cancel").then(refreshUsb);
refreshUsb();
setInterval(() => { for (const e of document.querySelectorAll(".prompt .left")) {
  const m = e.textContent.match(/\d+/); if (m && +m[0] > 0) e.textContent = e.textContent.replace(/\d+/, +m[0] - 1); } }, 1000);
poll0().then(loop);
