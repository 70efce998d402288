// Every word the console shows, in zh-CN and en. `t(key, vars)` picks the current language; a key
// missing from a language falls back to English and then to the key, so a gap shows, never breaks.

const STRINGS = {
  "zh-CN": {
    app_title: "RME 工程师控制台",
    brand: "RME 远程维护专家",
    nav_queue: "求助队列", nav_session: "会话", nav_supervisor: "主管视图",
    other_lang: "English", logout: "退出登录",
    login_title: "工程师登录", username: "用户名", password: "密码", totp: "动态验证码",
    login: "登录", login_failed: "登录失败：{why}",
    why_bad_credentials: "用户名或密码错误", why_bad_totp: "验证码错误", why_totp_required: "请输入动态验证码",
    why_disabled: "账号已停用", why_too_many_attempts: "尝试次数过多，请稍后再试", why_busy: "服务器忙，请稍后再试",
    live: "实时连接", offline: "连接断开，正在重连…", connecting: "正在连接…",
    queue_title: "求助队列", queue_empty: "队列为空：现在没有人在等待。",
    nav_billing: "计费", billing_title: "计费对接", integrations: "BSS 对接（入站签名密钥）", integration_name: "名称",
    create_integration: "新建对接", secret_once: "“{name}” 的签名密钥（只显示这一次，请立即交给 BSS）：",
    enabled: "启用", disabled: "已停用", rotating: "轮换中（旧密钥仍有效）", rotate: "更换密钥", disable: "停用",
    dead_letters: "死信（3 天未送达的计费事件）", dead_note: "重新投递时使用同一个 webhook-id，接收方会去重。",
    no_dead: "没有死信。", event_id: "事件", event_type: "类型", attempts: "尝试次数", last_error: "最后的错误",
    inspect: "查看", replay: "重新投递",
    service_item: "服务项目", item_none: "未选择", choose_item: "选择服务项目…", change_item: "请求更改服务项目",
    item_changed: "用户已同意：服务项目改为 {item}", kind_service_item: "更改服务项目", reason_not_entitled: "无服务资格",
    col_customer: "客户", col_words: "用户描述", col_diagnosis: "诊断结论", col_wait: "等待时间",
    col_subscription: "订阅", col_state: "状态", col_actions: "操作",
    accept: "接受", open: "查看", view_session: "进入会话",
    sub_active: "有效", sub_suspended: "已暂停", sub_cancelled: "已取消",
    state_queued: "排队中", state_accepted: "已接受", state_offered: "等待用户同意", state_active: "会话中",
    state_ended: "已结束",
    verdict_ok: "网络正常", verdict_degraded: "网络有问题", verdict_offline: "无法上网", verdict_none: "未诊断",
    ticket_title: "工单 {id}", customer: "客户", device: "设备", words: "用户的话", created: "求助时间",
    report: "诊断报告", no_report: "用户求助时没有附带诊断报告。", root_cause: "根本原因",
    findings: "检查项", check: "检查", status: "结果", summary: "说明", evidence: "证据",
    suggested_repair: "建议修复", history: "该设备以前的工单", no_history: "这台设备以前没有工单。",
    outcome: "结果", resolution: "解决类别", engineer: "工程师", rating: "评分", duration: "时长",
    st_ok: "正常", st_warn: "警告", st_fail: "故障", st_skipped: "跳过",
    session_title: "会话 {id}", no_session: "没有进行中的会话。请在求助队列中接受一个求助。",
    sess_offered: "等待用户同意连接…", sess_active: "会话进行中", sess_declined: "用户拒绝了连接",
    sess_ended: "会话已结束",
    user_ended: "用户已结束会话", user_ended_note: "用户在 {time} 按下了“结束会话”。所有未完成的请求均已取消。",
    ended_reason: "会话已结束：{reason}",
    sess_away: "与服务器的连接中断，正在重新连接……会话会为您保留一小段时间。",
    sess_resumed: "已重新连接，会话仍在继续。之前尚未完成的请求不再在此列出，用户的面板和审计日志中均有记录。",
    reason_resolved: "已解决", reason_unresolved: "未解决", reason_ended_by_user: "用户结束",
    reason_ended_by_engineer: "工程师结束", reason_timed_out: "超时", reason_connection_lost: "连接中断",
    reason_declined: "用户拒绝",
    requests: "请求", request_diagnose: "请求诊断", diagnose_why: "重新检查网络",
    repair: "修复", choose_repair: "选择修复项…", run_repair: "请求修复",
    risk: "风险", risk_low: "低", risk_medium: "中", risk_high: "高", undo: "撤销",
    command: "命令", command_placeholder: "例如：ip addr", run_command: "请求运行", timeout_s: "超时（秒）",
    reason_label: "原因（用户会看到）", reason_placeholder: "为什么需要这样做",
    push_file: "发送文件", drop_here: "把文件拖到这里，或", pick_file: "选择文件", push: "请求发送",
    hashing: "正在计算 SHA-256…",
    act_requested: "已发送", act_awaiting_consent: "等待用户同意", act_allowed: "用户已允许",
    act_denied: "用户已拒绝", act_timed_out: "用户未回答（已拒绝）", act_refused: "代理拒绝（安全策略）",
    act_running: "运行中", act_done: "完成", act_failed: "失败", act_cancelled: "已取消",
    kind_diagnose: "诊断", kind_repair: "修复", kind_command: "命令", kind_push_file: "发送文件",
    kind_screen_view: "查看屏幕", kind_screen_control: "控制鼠标键盘", act_stopping: "正在停止",
    screen: "用户的屏幕", view_screen: "请求查看屏幕", monitor: "显示器", request_control: "请求控制",
    stop_view: "停止查看", stop_control: "停止控制", screenshot: "截图保存到本机",
    screen_idle: "还没有画面：请求查看屏幕，用户允许后画面显示在这里", screen_stats: "{fps} 帧/秒 · {mbps} Mb/s",
    screen_monitors: "第 {n} 个显示器，共 {of} 个", type_text: "输入文字（含中文），回车发送", control_on: "正在控制：点击画面以操作键盘鼠标",
    screen_why: "查看您的屏幕以找到问题", control_why: "在您的屏幕上操作以修复问题",
    seconds_left: "剩 {s} 秒", exit_code: "退出码 {code}", truncated: "（输出已截断）",
    repair_fixed: "修复成功：{before} → {after}", repair_not_fixed: "已执行，但问题仍在：{after}",
    repair_not_applied: "没有执行（不适用）", saved_as: "已保存到用户的收件箱：{name}（{size}）；代理报告的 SHA-256 与发送的文件一致",
    sent_bytes: "已发送 {done} / {total}",
    chat: "对话", chat_placeholder: "给用户发消息", send: "发送", you: "我", user: "用户",
    end_title: "结束会话", end_reason: "结果", resolution_cat: "解决类别", note: "备注（写入审计记录）",
    end_session: "结束会话",
    res_network_config: "网络设置已修正", res_dns: "DNS 问题已解决", res_driver: "网卡/驱动问题已解决",
    res_isp: "运营商线路故障（已转派）", res_hardware: "硬件故障（已转派上门）", res_advice: "已指导用户操作",
    res_not_reproduced: "无法重现", res_other: "其他",
    sup_title: "主管视图", open_items: "进行中的工单和会话", none_open: "没有进行中的工单。",
    col_kill: "操作", kill_session: "立即结束", kill_sent: "正在结束…",
    kill_confirm: "立即结束 {customer}（{device}）的这个工单或会话？用户和工程师会马上看到它已结束。",
    report_title: "每周服务报告", report_week: "周次", report_open: "打开报告（可打印）", report_csv: "下载 CSV",
    report_met: "这一周全部达标。", report_missed: "这一周未达标：{list}", report_empty: "这一周没有求助记录。",
    staffing: "排班建议", no_advice: "每个时段在岗的工程师都足够。", loading: "正在加载…",
    advice_one: "{days} {hours} 增加 1 个坐席", advice_many: "{days} {hours} 增加 {n} 个坐席",
    every_day: "每天", weekdays: "工作日", weekends: "周末", list_sep: "、",
    d_mon: "周一", d_tue: "周二", d_wed: "周三", d_thu: "周四", d_fri: "周五", d_sat: "周六", d_sun: "周日",
    alerts_title: "告警", alert_response: "最近 15 分钟平均等待（秒）高于", alert_queue: "排队人数多于",
    alert_off: "不告警", alert_save: "保存", alert_now: "当前：{value}",
    alert_raised: "告警：{what} {threshold}（当前 {value}）",
    output_withheld: "用户选择把输出留在自己的电脑上，没有发送给你。",
    hash_mismatch: "SHA-256 不一致：文件在传输中被改变，不能使用", hash_show: "显示完整 SHA-256",
    hash_sent: "发送的", hash_reported: "代理报告的", choose: "— 请选择 —", end_needs_choice: "请先选择结果和解决类别",
    timeout_label: "命令超时（秒）", consent_left: "等待用户同意：剩余 {s} 秒",
    canned: "快捷回复", canned_pick: "插入快捷回复…", canned_edit: "快捷回复（主管可编辑）", canned_add: "添加",
    canned_delete: "删除", canned_zh: "中文", canned_en: "English",
    customer_history: "该客户以前的会话", no_customer_history: "该客户以前没有会话。",
    nav_search: "搜索", search_title: "搜索工单", search_placeholder: "客户、设备、用户的话或编号", search_none: "没有找到。",
    nav_account: "我的账户", account_title: "我的账户", ssh_title: "SSH 登录密钥",
    ssh_how: "用 {cmd} 登录 SSH 网关（主机密钥 {fp}）。", ssh_off: "本服务器未开启 SSH 网关。",
    ssh_kind: "类型", ssh_kind_key: "公钥", ssh_kind_cert: "证书", ssh_fingerprint: "指纹", ssh_comment: "备注",
    ssh_state: "状态", ssh_active: "有效", ssh_revoked: "已吊销", ssh_expired: "已过期", ssh_revoke: "吊销",
    ssh_none: "还没有登记 SSH 密钥。", ssh_add_label: "OpenSSH 公钥（id_ed25519.pub 的内容）", ssh_add: "添加密钥",
    ssh_added: "已添加 {fp}", ssh_lang: "SSH 提示语言", ssh_lang_saved: "已保存。",
    behind_figure: "查看计入该指标的工单", behind_none: "没有工单。",
    shortcuts: "键盘快捷键", shortcut_help: "Alt+A 接受；Alt+C 输入命令；Alt+T 聊天；Alt+E 结束会话；Alt+S 搜索；? 显示本帮助",
    notify_title: "新的求助", notify_body: "{customer}：{words}",
    kpis: "服务指标", today: "今天", week: "最近 7 天", target: "目标", no_data: "无数据",
    met: "达标", not_met: "未达标",
    k_answer_rate: "接听率", k_response_s: "平均响应时间", k_first_contact_fix: "一次解决率",
    k_session_min: "平均会话时长", k_satisfaction: "满意度",
    k_detail_answer_rate: "{answered} 已接听，{unanswered} 未接听，{waiting} 等待中",
    k_detail_response_s: "90% 在 {p90} 内", k_detail_first_contact_fix: "{sessions} 个会话，{resolved} 个解决，{repeat} 个重复求助",
    k_detail_session_min: "{sessions} 个会话", k_detail_satisfaction: "{ratings} 个评分，平均 {mean}",
    recent: "最近结束的会话", audit: "审计", download_audit: "下载审计报告", verify_audit: "校验审计报告", verify_this: "校验",
    verify_ok: "校验通过：{n} 条事件都在签名的日志中（树大小 {size}）", verify_bad: "校验失败：{problems}",
    connected: "在线：{agents} 台设备，{engineers} 个工程师控制台",
    error: "错误：{msg}", err_ticket_unavailable: "该求助已被别人接受或用户已离开",
    ago_s: "{n} 秒", ago_m: "{m} 分 {s} 秒", ago_h: "{h} 小时 {m} 分",
    minutes: "{n} 分钟", seconds: "{n} 秒",
  },
  "en": {
    app_title: "RME engineer console",
    brand: "RME Remote Maintenance Expert",
    nav_queue: "Queue", nav_session: "Session", nav_supervisor: "Supervisor",
    other_lang: "中文", logout: "Log out",
    login_title: "Engineer login", username: "Username", password: "Password", totp: "One-time code",
    login: "Log in", login_failed: "Login failed: {why}",
    why_bad_credentials: "wrong username or password", why_bad_totp: "wrong code",
    why_totp_required: "enter your one-time code", why_disabled: "account disabled",
    why_too_many_attempts: "too many attempts, try again later", why_busy: "the server is busy, try again shortly",
    live: "Live", offline: "Disconnected, reconnecting…", connecting: "Connecting…",
    queue_title: "Help requests", queue_empty: "The queue is empty: nobody is waiting.",
    nav_billing: "Billing", billing_title: "Billing integration", integrations: "BSS integrations (inbound signing secrets)",
    integration_name: "Name", create_integration: "Create integration",
    secret_once: "Signing secret of “{name}” (shown this once: give it to the BSS now):",
    enabled: "enabled", disabled: "disabled", rotating: "rotating (the old secret still works)",
    rotate: "Rotate secret", disable: "Disable",
    dead_letters: "Dead letters (billing events not delivered for 3 days)",
    dead_note: "A replay keeps the same webhook-id: the receiver drops a duplicate.", no_dead: "No dead letters.",
    event_id: "Event", event_type: "Type", attempts: "Attempts", last_error: "Last error", inspect: "Inspect",
    replay: "Replay",
    service_item: "Service item", item_none: "none chosen", choose_item: "Choose a service item…",
    change_item: "Ask to change the service item", item_changed: "The user agreed: the service item is now {item}",
    kind_service_item: "Change the service item", reason_not_entitled: "not entitled",
    col_customer: "Customer", col_words: "The user's words", col_diagnosis: "Diagnosis", col_wait: "Waiting",
    col_subscription: "Subscription", col_state: "State", col_actions: "",
    accept: "Accept", open: "Open", view_session: "Go to session",
    sub_active: "active", sub_suspended: "suspended", sub_cancelled: "cancelled",
    state_queued: "queued", state_accepted: "accepted", state_offered: "asking the user", state_active: "in session",
    state_ended: "ended",
    verdict_ok: "Network OK", verdict_degraded: "Network has problems", verdict_offline: "No internet",
    verdict_none: "Not diagnosed",
    ticket_title: "Ticket {id}", customer: "Customer", device: "Device", words: "The user's words",
    created: "Asked at", report: "Diagnosis report", no_report: "The help request came without a diagnosis.",
    root_cause: "Root cause", findings: "Checks", check: "Check", status: "Result", summary: "Summary",
    evidence: "Evidence", suggested_repair: "Suggested repair", history: "This device's earlier tickets",
    no_history: "No earlier tickets for this device.", outcome: "Outcome", resolution: "Resolution",
    engineer: "Engineer", rating: "Rating", duration: "Length",
    st_ok: "ok", st_warn: "warning", st_fail: "fault", st_skipped: "skipped",
    session_title: "Session {id}", no_session: "No session open. Accept a help request in the queue.",
    sess_offered: "Waiting for the user to let you in…", sess_active: "Session active",
    sess_declined: "The user declined the session", sess_ended: "Session ended",
    user_ended: "The user ended the session",
    user_ended_note: "The user pressed “End session” at {time}. Every unfinished request was cancelled.",
    ended_reason: "Session ended: {reason}",
    sess_away: "Connection to the server lost — reconnecting… The session is kept for you for a short while.",
    sess_resumed: "Reconnected — the session carried on. Requests that were still open are no longer listed here; the user's panel and the audit log keep them.",
    reason_resolved: "resolved", reason_unresolved: "unresolved", reason_ended_by_user: "ended by the user",
    reason_ended_by_engineer: "ended by the engineer", reason_timed_out: "timed out",
    reason_connection_lost: "connection lost", reason_declined: "declined by the user",
    requests: "Requests", request_diagnose: "Request a diagnosis", diagnose_why: "Check the network again",
    repair: "Repair", choose_repair: "Choose a repair…", run_repair: "Request repair",
    risk: "Risk", risk_low: "low", risk_medium: "medium", risk_high: "high", undo: "Undo",
    command: "Command", command_placeholder: "e.g. ip addr", run_command: "Request to run",
    timeout_s: "Timeout (s)", reason_label: "Reason (the user sees it)", reason_placeholder: "Why you need this",
    push_file: "Send a file", drop_here: "Drop a file here, or", pick_file: "choose a file", push: "Request to send",
    hashing: "Computing SHA-256…",
    act_requested: "sent", act_awaiting_consent: "waiting for the user", act_allowed: "allowed by the user",
    act_denied: "denied by the user", act_timed_out: "no answer (denied)", act_refused: "refused by the agent (policy)",
    act_running: "running", act_done: "done", act_failed: "failed", act_cancelled: "cancelled",
    kind_diagnose: "Diagnosis", kind_repair: "Repair", kind_command: "Command", kind_push_file: "File",
    kind_screen_view: "Screen view", kind_screen_control: "Mouse and keyboard", act_stopping: "stopping",
    screen: "The user's screen", view_screen: "Request to view the screen", monitor: "Monitor",
    request_control: "Request control", stop_view: "Stop viewing", stop_control: "Stop control",
    screenshot: "Save a screenshot to this PC",
    screen_idle: "No picture yet: request to view the screen; once the user allows it, it shows here",
    screen_stats: "{fps} fps · {mbps} Mb/s", screen_monitors: "monitor {n} of {of}",
    type_text: "Type text (Chinese too), Enter sends", control_on: "In control: click the picture to use the keyboard and mouse",
    screen_why: "to see the problem on your screen", control_why: "to fix it on your screen",
    seconds_left: "{s} s left", exit_code: "exit code {code}", truncated: "(output truncated)",
    repair_fixed: "Fixed: {before} → {after}", repair_not_fixed: "Applied, but still failing: {after}",
    repair_not_applied: "Not applied (not applicable)",
    saved_as: "Saved in the user's inbox as {name} ({size}); the SHA-256 the agent reports matches the file sent",
    sent_bytes: "sent {done} of {total}",
    chat: "Chat", chat_placeholder: "Message the user", send: "Send", you: "me", user: "user",
    end_title: "End the session", end_reason: "Outcome", resolution_cat: "Resolution", note: "Note (kept in the audit record)",
    end_session: "End session",
    res_network_config: "Network settings corrected", res_dns: "DNS problem solved",
    res_driver: "Adapter/driver problem solved", res_isp: "Provider line fault (escalated)",
    res_hardware: "Hardware fault (site visit)", res_advice: "User guided through it",
    res_not_reproduced: "Could not reproduce", res_other: "Other",
    sup_title: "Supervisor", open_items: "Open tickets and sessions", none_open: "No open tickets.",
    col_kill: "Action", kill_session: "End now", kill_sent: "Ending…",
    kill_confirm: "End this ticket or session of {customer} ({device}) now? The user and the engineer see it end at once.",
    report_title: "Weekly service report", report_week: "Week", report_open: "Open the report (printable)",
    report_csv: "Download CSV", report_met: "Every standard was met that week.",
    report_missed: "Standards missed that week: {list}", report_empty: "No help requests that week.",
    staffing: "Staffing advice", no_advice: "Every hour had enough engineers online.", loading: "Loading…",
    advice_one: "Add 1 seat on {days} {hours}", advice_many: "Add {n} seats on {days} {hours}",
    every_day: "every day", weekdays: "weekdays", weekends: "weekends", list_sep: ", ",
    d_mon: "Mondays", d_tue: "Tuesdays", d_wed: "Wednesdays", d_thu: "Thursdays", d_fri: "Fridays",
    d_sat: "Saturdays", d_sun: "Sundays",
    alerts_title: "Alerts", alert_response: "Mean wait over 15 minutes (s) above", alert_queue: "Requests waiting more than",
    alert_off: "off", alert_save: "Save", alert_now: "now: {value}",
    alert_raised: "Alert: {what} {threshold} (now {value})",
    output_withheld: "The user kept this output on their PC; it was not sent to you.",
    hash_mismatch: "SHA-256 MISMATCH: the file changed on the way; do not use it", hash_show: "Show the full SHA-256",
    hash_sent: "sent", hash_reported: "reported by the agent", choose: "— choose —",
    end_needs_choice: "Choose an outcome and a resolution first",
    timeout_label: "Command timeout (s)", consent_left: "waiting for the user's consent: {s} s left",
    canned: "Canned replies", canned_pick: "Insert a canned reply…", canned_edit: "Canned replies (supervisors edit)",
    canned_add: "Add", canned_delete: "Delete", canned_zh: "中文", canned_en: "English",
    customer_history: "This customer's earlier sessions", no_customer_history: "No earlier sessions for this customer.",
    nav_search: "Search", search_title: "Search tickets", search_placeholder: "customer, device, the user's words or id",
    nav_account: "Account", account_title: "My account", ssh_title: "SSH keys",
    ssh_how: "Log in to the SSH gateway with {cmd} (host key {fp}).", ssh_off: "This server runs no SSH gateway.",
    ssh_kind: "Kind", ssh_kind_key: "public key", ssh_kind_cert: "certificate", ssh_fingerprint: "Fingerprint",
    ssh_comment: "Comment", ssh_state: "State", ssh_active: "active", ssh_revoked: "revoked", ssh_expired: "expired",
    ssh_revoke: "Revoke", ssh_none: "No SSH keys registered yet.",
    ssh_add_label: "OpenSSH public key (the contents of id_ed25519.pub)", ssh_add: "Add key",
    ssh_added: "Added {fp}", ssh_lang: "Language of the SSH prompt", ssh_lang_saved: "Saved.",
    search_none: "Nothing found.",
    behind_figure: "Show the tickets behind this figure", behind_none: "No tickets.",
    shortcuts: "Keyboard shortcuts",
    shortcut_help: "Alt+A accept; Alt+C type a command; Alt+T chat; Alt+E end the session; Alt+S search; ? this help",
    notify_title: "New help request", notify_body: "{customer}: {words}",
    kpis: "Service figures", today: "Today", week: "Last 7 days", target: "Target", no_data: "no data",
    met: "met", not_met: "missed",
    k_answer_rate: "Answer rate", k_response_s: "Response time", k_first_contact_fix: "First-contact fix",
    k_session_min: "Average session", k_satisfaction: "Satisfaction",
    k_detail_answer_rate: "{answered} answered, {unanswered} unanswered, {waiting} waiting",
    k_detail_response_s: "90% within {p90}",
    k_detail_first_contact_fix: "{sessions} {sessions|session|sessions}, {resolved} resolved, {repeat} repeat {repeat|call|calls}",
    k_detail_session_min: "{sessions} {sessions|session|sessions}", k_detail_satisfaction: "{ratings} {ratings|rating|ratings}, mean {mean}",
    recent: "Recently ended sessions", audit: "Audit", download_audit: "Download audit report", verify_this: "Verify",
    verify_audit: "Verify an audit report",
    verify_ok: "Verified: {n} {n|event|events} in the signed log (tree size {size})",
    verify_bad: "Verification FAILED: {problems}",
    connected: "Connected: {agents} {agents|device|devices}, {engineers} engineer {engineers|console|consoles}",
    error: "Error: {msg}", err_ticket_unavailable: "Someone else took this request, or the user left",
    ago_s: "{n} s", ago_m: "{m} min {s} s", ago_h: "{h} h {m} min",
    minutes: "{n} min", seconds: "{n} s",
  },
};

// Root causes and warnings in plain words (BRIEF §4).
const CAUSES = {
  "nic.none": ["电脑里没有网卡", "No network adapter"],
  "nic.disabled": ["网卡被禁用了", "The network adapter is turned off"],
  "nic.driver": ["网卡驱动故障", "The network adapter's driver is faulty"],
  "link.down": ["网线没插好或 Wi-Fi 未连接", "Cable unplugged or Wi-Fi not connected"],
  "ip.none": ["没有 IP 地址", "No IPv4 address"],
  "ip.apipa": ["没有从路由器拿到地址（DHCP 失败）", "No address from the router (DHCP failed)"],
  "ip.conflict": ["IP 地址冲突", "IP address conflict"],
  "route.no_default": ["没有默认网关", "No default gateway"],
  "gateway.unreachable": ["路由器没有响应", "The router does not answer"],
  "dns.none": ["没有设置 DNS 服务器", "No DNS server configured"],
  "dns.unreachable": ["DNS 服务器没有响应（按 IP 可以上网）", "DNS servers do not answer (the internet works by IP)"],
  "dns.hijack": ["DNS 被劫持（返回伪造的结果）", "DNS answers are forged (hijacked)"],
  "internet.unreachable": ["路由器以外都不通", "Nothing beyond the router answers"],
  "internet.captive_portal": ["需要在网页上登录才能上网", "A login page intercepts web traffic"],
  "wifi.not_associated": ["Wi-Fi 没有连接到网络", "Wi-Fi is not connected to a network"],
  "wifi.auth_failed": ["Wi-Fi 密码错误", "The Wi-Fi password was refused"],
  "wifi.weak_signal": ["Wi-Fi 信号太弱", "The Wi-Fi signal is too weak"],
  "pppoe.no_answer": ["宽带拨号无响应（光猫或线路）", "The broadband dial-up gets no answer (modem or line)"],
  "pppoe.auth_failed": ["宽带账号或密码被拒绝", "The broadband account or password was refused"],
  "pppoe.no_address": ["拨号成功但没有分配地址", "Dial-up connects but gets no address"],
  "pppoe.unstable": ["宽带拨号连接断开或反复掉线", "The dial-up connection is down or keeps dropping"],
  "dhcp.no_answer": ["路由器不分配地址（DHCP 无响应）", "No DHCP server answers"],
  "mtu.blackhole": ["大数据包丢失（MTU 黑洞）", "Large packets vanish (MTU black hole)"],
  "ipv6.broken": ["IPv6 不通（IPv4 正常）", "IPv6 is broken while IPv4 works"],
  "proxy.unreachable": ["设置的代理服务器没有响应", "The configured proxy does not answer"],
  "internet.upstream_unknown": ["联网检测失败，原因不明（上游故障）", "The check fails upstream, cause unknown"],
  "wifi.congested": ["Wi-Fi 信道拥挤", "The Wi-Fi channel is crowded"],
  "router.double_nat": ["存在两层路由器（双重 NAT）", "Two routers in a row (double NAT)"],
  "dns.slow": ["DNS 很慢", "DNS is slow"],
  "gateway.slow": ["路由器响应慢", "The router is slow to answer"],
};

let current = "zh-CN";

export function initialLang() {
  const saved = localStorage.getItem("rme-console-lang");
  if (saved === "zh-CN" || saved === "en") return saved;
  return (navigator.language || "").toLowerCase().startsWith("zh") ? "zh-CN" : "en";
}

export function setLang(lang) {
  current = lang === "en" ? "en" : "zh-CN";
  localStorage.setItem("rme-console-lang", current);
  document.documentElement.lang = current;
  document.title = t("app_title");
}

export function lang() { return current; }

// `{name}` is replaced by vars.name; `{name|one|other}` picks a word by whether vars.name is 1
// (English plurals: "1 session", "2 sessions"; Chinese strings need no such forms).
export function t(key, vars) {
  const s = STRINGS[current][key] ?? STRINGS.en[key] ?? key;
  if (!vars) return s;
  return s
    .replace(/\{(\w+)\|([^|}]*)\|([^}]*)\}/g, (_, k, one, other) => (Number(vars[k]) === 1 ? one : other))
    .replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : ""));
}

export function cause(code) {
  if (!code) return "";
  const words = CAUSES[code];
  if (words) return words[current === "en" ? 1 : 0];
  return code;
}

export function waited(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return t("ago_s", { n: s });
  if (s < 3600) return t("ago_m", { m: Math.floor(s / 60), s: s % 60 });
  return t("ago_h", { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) });
}

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1 << 20) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1 << 30) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  return `${(n / (1 << 30)).toFixed(2)} GiB`;
}

export function time(value) {
  if (!value) return "";
  const d = typeof value === "number" ? new Date(value) : new Date(value);
  return d.toLocaleString(current, { hour12: false });
}

export const KEYS = Object.keys(STRINGS.en);
export const KEYS_ZH = Object.keys(STRINGS["zh-CN"]);
