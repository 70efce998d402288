"""Every sentence the session guard shows or logs, in zh-CN and en."""

from __future__ import annotations

from agent.i18n import Text

CONNECTING = Text("正在连接服务器 {server} …", "Connecting to {server} …")
CONNECTED = Text("已连接服务器（设备 {device}）", "Connected to the server (device {device})")
DISCONNECTED = Text(
    "与服务器的连接断开：{why}；{delay} 秒后重连", "Lost the server: {why}; retrying in {delay} s"
)
REPORTED_LATER = Text(
    "已向服务器报告离线时结束的会话 {session}", "Told the server about session {session}, ended while offline"
)

HELP_SENT = Text("求助已发送：“{words}”", "Help request sent: “{words}”")
HELP_QUEUED = Text(
    "排队中：前面还有 {position} 位，工程师马上就来",
    "In the queue: {position} ahead of you; an engineer is coming",
)
HELP_REFUSED = Text("求助未被受理：{why}", "The help request was refused: {why}")

OFFER = Text(
    "工程师 {name}（工号 {id}）请求连接到这台电脑", "Engineer {name} (ID {id}) asks to connect to this PC"
)
OFFER_ACCEPTED = Text(
    "您接受了工程师 {name}（工号 {id}）的会话", "You accepted the session with engineer {name} (ID {id})"
)
OFFER_DECLINED = Text("您拒绝了工程师 {name} 的会话", "You declined the session with engineer {name}")
OFFER_TIMED_OUT = Text("没有回答，会话已自动拒绝", "No answer: the session was declined automatically")
OFFER_BUSY = Text(
    "已有会话进行中，另一个连接请求被拒绝", "A session is already active; another offer was declined"
)
VAULT_CLOSED = Text(
    "保险箱已关闭并锁定（{count} 个文件夹已加密）",
    "The vault is closed and locked ({count} folders encrypted)",
)
VAULT_FAILED = Text(
    "保险箱无法关闭，会话未开始：{why}", "The vault could not be closed, so the session did not start: {why}"
)
VAULT_UNLOCKED = Text("会话结束，保险箱可以重新打开", "Session over: the vault may be opened again")

REQUEST = Text("工程师请求：{title}", "The engineer asks: {title}")
REFUSED_FLOOD = Text(
    "已自动拒绝：“{title}” — 等待您回答的请求太多了",
    "Refused automatically: “{title}” — too many requests are already waiting for you",
)
REFUSED_UNSUPPORTED = Text(
    "已自动拒绝：“{title}” — 这个版本的助手不能执行这类请求",
    "Refused automatically: “{title}” — this version of the agent cannot do this kind of request",
)
QUEUED = Text(
    "“{title}” 在排队，等您先回答前面的问题（排在第 {ahead} 位）",
    "“{title}” waits until you have answered the question before it ({ahead} in the queue)",
)
ALLOWED = Text("您允许了：{title}", "You allowed: {title}")
DENIED = Text("您拒绝了：{title}", "You denied: {title}")
TIMED_OUT = Text("没有回答，已自动拒绝：{title}", "No answer, denied automatically: {title}")
KILLED = Text("会话结束，已拒绝：{title}", "Session ended, refused: {title}")

DONE = Text("完成：{title}", "Done: {title}")
FAILED = Text("失败：{title} — {why}", "Failed: {title} — {why}")
CANCELLED = Text("已停止：{title}", "Stopped: {title}")
COMMAND_EXIT = Text(
    "命令结束（退出码 {code}，{ms} 毫秒）", "The command finished (exit code {code}, {ms} ms)"
)
COMMAND_TIMEOUT = Text(
    "命令超时，已终止（包括它启动的所有进程）",
    "The command timed out and was stopped (with every process it started)",
)
OUTPUT_HELD = Text(
    "“{title}” 已结束。它的输出（{size} 字节）只显示在这里，您点“发送给工程师”之前不会发出。",
    "“{title}” finished. Its output ({size} bytes) is shown here only; "
    "nothing is sent until you press “Send to the engineer”.",
)
OUTPUT_SENT = Text("您把输出发送给了工程师：{title}", "You sent the output to the engineer: {title}")
OUTPUT_KEPT = Text(
    "您把输出留在了这台电脑上（工程师只知道命令已结束）：{title}",
    "You kept the output on this PC (the engineer only learns the command finished): {title}",
)
FILE_SAVED = Text(
    "文件已保存到收件箱：“{name}”（{size}，SHA-256 已核对）。它不会被自动打开。",
    "File saved in the inbox: “{name}” ({size}, SHA-256 checked). It will not be opened automatically.",
)
DIAGNOSIS_DONE = Text("检查完成：{verdict}", "Check finished: {verdict}")
REPAIR_DONE = Text("修复{state}：{title}", "Repair {state}: {title}")
REPAIR_FIXED = Text("已解决问题", "fixed the problem")
REPAIR_NOT_FIXED = Text("已执行但问题仍在", "ran but the problem remains")

END_BY_USER = Text(
    "您结束了会话：已拒绝 {refused} 个请求，终止 {killed} 个进程，删除 {files} 个未完成的文件（{ms} 毫秒）",
    "You ended the session: {refused} requests refused, {killed} processes stopped, "
    "{files} unfinished files deleted ({ms} ms)",
)
END_BY_OTHER = Text("会话结束（{why}）", "The session ended ({why})")
END_OFFLINE = Text(
    "网络已断开：会话已在本机结束，重新连上后会报告给服务器",
    "The network is down: the session ended here and will be reported when the server is back",
)
FEEDBACK_SENT = Text("您为本次会话打了 {rating}/5 分，谢谢！", "You rated the session {rating}/5. Thank you!")
FEEDBACK_OFFLINE = Text(
    "未连接服务器：您的评分（{rating}/5）没有发送",
    "Not connected to the server: your rating ({rating}/5) was not sent",
)
CHAT = Text("工程师说：{words}", "The engineer says: {words}")
PROTOCOL_ERROR = Text("收到无效消息，已忽略：{why}", "Ignored an invalid message: {why}")

SCREEN_NEEDS_VIEW = Text(
    "已拒绝 — 控制鼠标键盘需要您先允许查看屏幕",
    "Refused — controlling your mouse and keyboard needs a screen view you allowed first",
)
SCREEN_STOPPED = Text("您停止了：{title}", "You stopped: {title}")
SCREEN_STOPPED_BY_ENGINEER = Text("工程师停止了：{title}", "The engineer stopped: {title}")
SCREEN_VIEW_ENDED = Text("屏幕查看已结束，控制也随之停止：{title}", "The screen view ended, so did: {title}")
