"""The SSH prompt's sans-I/O core: what a line the engineer typed means, how an action's state moves,
and the words the prompt prints (zh-CN and English). No sockets, no asyncio, no database: the
gateway (`server.ssh.gateway`) reads lines and writes text around it, the desk (`server.ssh.desk`)
speaks the protocol.

Theory of operation. `parse(line)` turns one line into a `Command` (a verb, its flags, its words) or
raises `CommandError` with a message key; the same grammar serves the interactive prompt
(`accept 2`) and single commands for scripts (`ssh eng@server rme accept t_… --json`).
`advance(state, event)` is the one place an action's state changes (`ACTION_TRANSITIONS`, the same
table as the console's `protocol.js`). `say(lang, key, **fields)` is every word the prompt prints.
`clean(text)` escapes control characters, so text from the user's PC cannot drive the engineer's
terminal.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from protocol.texts import Text

MAX_LINE = 16 * 1024  # one typed line; longer is refused (and the rest of it skipped)

VERBS = frozenset(
    {
        "help",
        "queue",
        "accept",
        "sessions",
        "use",
        "diagnose",
        "repairs",
        "repair",
        "run",
        "chat",
        "end",
        "whoami",
        "quit",
        "exit",
    }
)
# Verbs whose last argument is free text: everything after the flags, as typed.
FREE_TEXT = frozenset({"run", "chat"})
# Flags and whether they take a value.
FLAGS: Mapping[str, bool] = MappingProxyType(
    {
        "--json": False,
        "--session": True,
        "--timeout": True,
        "--interface": True,
        "--reason": True,
        "--resolution": True,
        "--note": True,
        "--no-wait": False,
    }
)
END_REASONS = ("resolved", "unresolved")


class CommandError(ValueError):
    """A line that is not a command; `key` names the message (`say`), `fields` fill it."""

    def __init__(self, key: str, **fields: object) -> None:
        super().__init__(key)
        self.key = key
        self.fields = fields


@dataclass(frozen=True)
class Command:
    verb: str
    args: tuple[str, ...] = ()
    flags: Mapping[str, str] = field(default_factory=dict)
    text: str = ""  # the free text of `run` / `chat`

    @property
    def json(self) -> bool:
        return "--json" in self.flags


_FLAG_RE = re.compile(r"\s*(--[a-z-]+)(?:\s+|$)")


def _printable(line: str) -> bool:
    return all(ch.isprintable() or ch == "\t" for ch in line)


def parse(line: str) -> Command | None:
    """One typed line → a Command; None for an empty line. CommandError if it is not one."""
    if len(line) > MAX_LINE:
        raise CommandError("line_too_long", limit=MAX_LINE)
    if not _printable(line) or "\ufffd" in line:  # U+FFFD: bytes that were not UTF-8
        raise CommandError("unreadable")
    line = line.strip()
    if not line:
        return None
    verb, _, rest = line.partition(" ")
    verb = verb.lower()
    if verb == "rme":  # `ssh eng@server rme queue`: the tool's name is optional
        return parse(rest)
    if verb == "?":
        verb = "help"
    if verb not in VERBS:
        raise CommandError("unknown", verb=verb[:40])
    flags: dict[str, str] = {}
    if verb in FREE_TEXT:
        # Flags first, then the text exactly as typed (a command line keeps its own quoting).
        while True:
            match = _FLAG_RE.match(rest)
            if match is None or match.group(1) not in FLAGS:
                break
            name, rest = match.group(1), rest[match.end() :]
            if FLAGS[name]:
                value, _, rest = rest.lstrip().partition(" ")
                if not value:
                    raise CommandError("flag_value", flag=name)
                flags[name] = value
            else:
                flags[name] = ""
        text = rest.strip()
        if not text:
            raise CommandError("needs_text", verb=verb)
        command = Command(verb, (), flags, text)
        _check_arity(command)
        return command
    try:
        words = shlex.split(rest)
    except ValueError:
        raise CommandError("quotes") from None
    args: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word.startswith("--"):
            if word not in FLAGS:
                raise CommandError("unknown_flag", flag=word[:40])
            if FLAGS[word]:
                if i + 1 >= len(words):
                    raise CommandError("flag_value", flag=word)
                flags[word] = words[i + 1]
                i += 2
                continue
            flags[word] = ""
        else:
            args.append(word)
        i += 1
    command = Command(verb, tuple(args), flags)
    _check_arity(command)
    return command


def _check_arity(command: Command) -> None:
    verb, n = command.verb, len(command.args)
    if verb in ("accept", "use", "repair") and n != 1:
        raise CommandError("needs_one", verb=verb)
    if verb == "end" and (n > 1 or (n == 1 and command.args[0] not in END_REASONS)):
        raise CommandError("end_reason")
    if verb in ("help", "queue", "sessions", "diagnose", "repairs", "whoami", "quit", "exit") and n > 1:
        raise CommandError("too_many", verb=verb)
    timeout = command.flags.get("--timeout")
    if timeout is not None and not (timeout.isdigit() and 1 <= int(timeout) <= 3600):
        raise CommandError("timeout")


# ---- action states (the console's table, protocol.js ACTION_TRANSITIONS) -------------------------

FINAL_STATES = frozenset({"done", "failed", "cancelled", "denied", "timed_out", "refused"})
ACTION_TRANSITIONS: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        ("requested", "consent.request"): "awaiting_consent",
        ("requested", "consent.reply:refused"): "refused",
        ("requested", "consent.reply:allowed"): "allowed",
        ("awaiting_consent", "consent.reply:allowed"): "allowed",
        ("awaiting_consent", "consent.reply:denied"): "denied",
        ("awaiting_consent", "consent.reply:timed_out"): "timed_out",
        ("awaiting_consent", "consent.reply:refused"): "refused",
        ("allowed", "action.progress"): "running",
        ("running", "action.progress"): "running",
        ("allowed", "action.result:ok"): "done",
        ("running", "action.result:ok"): "done",
        ("allowed", "action.result:failed"): "failed",
        ("running", "action.result:failed"): "failed",
        ("allowed", "action.result:cancelled"): "cancelled",
        ("running", "action.result:cancelled"): "cancelled",
        ("requested", "error"): "failed",
        ("awaiting_consent", "error"): "failed",
        ("allowed", "error"): "failed",
        ("running", "error"): "failed",
    }
)


def advance(state: str, event: str) -> str | None:
    """The next state of an action in `state` on `event`; the session's end cancels any open action;
    None: the event does not apply (a late or repeated message) and the state stays."""
    if event == "session.end":
        return None if state in FINAL_STATES else "cancelled"
    return ACTION_TRANSITIONS.get((state, event))


# ---- terminal safety ------------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def clean(text: str) -> str:
    """`text` with control characters (escape sequences, bidi overrides) shown as `\\xNN` / `\\uNNNN`;
    newlines and tabs stay."""
    escaped = _CONTROL.sub(
        lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}", text
    )
    return escaped


# ---- words ----------------------------------------------------------------------------------------

TEXTS: Mapping[str, Text] = MappingProxyType(
    {
        "welcome": Text(
            "RME 远程维护 · {name}（通过 SSH）。输入 help 查看命令。",
            "RME remote maintenance · {name} (via SSH). Type help for the commands.",
        ),
        "prompt": Text("rme> ", "rme> "),
        "prompt_session": Text("rme {session}> ", "rme {session}> "),
        "help": Text(
            "命令：\n"
            "  queue                    等待中的求助\n"
            "  accept <编号|工单>        接单（等待用户同意会话）\n"
            "  sessions / use <会话>     我的会话 / 切换当前会话\n"
            "  diagnose [--interface 网卡]  请求诊断\n"
            "  repairs / repair <编号>   修复目录 / 请求修复\n"
            "  run <命令>               请求执行命令（用户同意后执行，输出由用户决定是否发送）\n"
            "  chat <文字>              发消息给用户\n"
            "  end [resolved|unresolved] [--note 备注]  结束会话\n"
            "  quit                     退出（会话保留片刻，可再次登录接回）\n"
            "发送文件：scp 文件 {user}@服务器:  或  sftp 后 put 文件（进入用户的收件箱，需用户同意）。\n"
            "每个操作都要用户点“允许”，用户可随时结束会话。",
            "Commands:\n"
            "  queue                    help requests waiting\n"
            "  accept <number|ticket>   take one (the user then accepts the session)\n"
            "  sessions / use <session> my sessions / switch the current one\n"
            "  diagnose [--interface IF]  ask for a diagnosis\n"
            "  repairs / repair <id>    the repair catalogue / ask for a repair\n"
            "  run <command>            ask to run a command (the user allows it, and releases its output)\n"
            "  chat <text>              message the user\n"
            "  end [resolved|unresolved] [--note TEXT]  end the session\n"
            "  quit                     leave (the session waits a moment for you to log in again)\n"
            "Send a file: scp FILE {user}@server:  or sftp, then put FILE\n"
            "  (into the user's inbox, with the user's consent).\n"
            "The user allows every step and can end the session at any time.",
        ),
        "queue_empty": Text("队列为空。", "The queue is empty."),
        "queue_line": Text(
            "{n:>3}  {ticket}  {state:<9} {customer}  「{words}」{cause}",
            '{n:>3}  {ticket}  {state:<9} {customer}  "{words}"{cause}',
        ),
        "accepting": Text(
            "已接单 {ticket}，等待用户同意会话…",
            "Accepted {ticket}; waiting for the user to accept the session…",
        ),
        "session_active": Text("会话 {session} 已开始。", "Session {session} started."),
        "session_declined": Text("用户拒绝了会话。", "The user declined the session."),
        "session_ended": Text("会话 {session} 已结束（{reason}）。", "Session {session} ended ({reason})."),
        "no_sessions": Text("没有进行中的会话。", "No running sessions."),
        "session_line": Text(
            "{mark} {session}  工单 {ticket}  {state}", "{mark} {session}  ticket {ticket}  {state}"
        ),
        "current": Text("当前会话：{session}", "Current session: {session}"),
        "need_session": Text(
            "请先接单（accept），或用 --session 指定会话。",
            "Accept a ticket first, or name a session with --session.",
        ),
        "no_such_session": Text("没有这个会话：{session}", "No such session of yours: {session}"),
        "no_such_ticket": Text("队列中没有这个工单：{ticket}", "No such ticket in the queue: {ticket}"),
        "no_such_repair": Text(
            "目录中没有这个修复：{repair}（repairs 查看）", "No such repair: {repair} (see repairs)"
        ),
        "repair_line": Text("  {id:<22} {title}（风险：{risk}）", "  {id:<22} {title} (risk: {risk})"),
        "requested": Text("[{action}] 已请求：{what}", "[{action}] requested: {what}"),
        "state": Text("[{action}] {label}", "[{action}] {label}"),
        "chat_from_user": Text("用户：{text}", "user: {text}"),
        "chat_sent": Text("已发送。", "Sent."),
        "ended_by_you": Text("会话已结束。", "Session ended."),
        "bye": Text("再见。", "Bye."),
        "error": Text("错误：{message}", "error: {message}"),
        "line_too_long": Text(
            "这一行太长（上限 {limit} 字符），已忽略。",
            "That line is too long (limit {limit} characters); ignored.",
        ),
        "unreadable": Text(
            "输入含有无法识别的字符，已忽略。", "That line has unreadable characters; ignored."
        ),
        "unknown": Text("未知命令：{verb}（help 查看命令）", "Unknown command: {verb} (type help)"),
        "unknown_flag": Text("未知选项：{flag}", "Unknown option: {flag}"),
        "flag_value": Text("选项 {flag} 需要一个值", "Option {flag} needs a value"),
        "needs_text": Text("{verb} 后面需要内容", "{verb} needs some text after it"),
        "needs_one": Text("{verb} 需要一个参数", "{verb} takes one argument"),
        "too_many": Text("{verb} 的参数太多", "Too many arguments for {verb}"),
        "end_reason": Text("end 的参数：resolved 或 unresolved", "end takes: resolved or unresolved"),
        "timeout": Text("--timeout：1 到 3600 秒", "--timeout: 1 to 3600 seconds"),
        "quotes": Text("引号不配对", "Unbalanced quotes"),
        "refused_shell": Text(
            "这里没有 shell：用户电脑上的任何内容都不能被读取。",
            "There is no shell here: nothing on the user's PC can be read.",
        ),
        "refused_subsystem": Text(
            "拒绝子系统 {name}：只允许 sftp 上传（put）。",
            "Subsystem {name} refused: only sftp upload (put) is allowed.",
        ),
        "refused_agent": Text(
            "拒绝 SSH agent 转发：网关从不使用你的密钥。",
            "Agent forwarding refused: the gateway never uses your keys.",
        ),
        "refused_x11": Text("拒绝 X11 转发。", "X11 forwarding refused."),
        "pushing": Text(
            "[{action}] 文件 {name}（{size} 字节）等待用户同意…",
            "[{action}] file {name} ({size} bytes) waiting for the user…",
        ),
        "sftp_bad_name": Text("文件名不可用。", "That file name cannot be used."),
        "sftp_no_session": Text(
            "没有进行中的会话：先接单（accept），用户同意后才能发送文件。",
            "No active session: accept a ticket first; files go to the user once the session is on.",
        ),
        "sftp_which_session": Text(
            "有多个会话：请用 <会话编号>/文件名 作为目标。",
            "Several sessions are active: put the file to <session id>/NAME.",
        ),
        "sftp_no_read": Text(
            "拒绝读取：这里只能上传（put），用户电脑上的任何文件都不能被下载。",
            "Reading is refused: this is upload-only (put); nothing on the user's PC can be downloaded.",
        ),
        "sftp_no_list": Text(
            "拒绝列目录：用户电脑上的任何内容都不能被列出。",
            "Listing is refused: nothing on the user's PC can be listed.",
        ),
        "sftp_no_stat": Text(
            "拒绝：这里只能上传，用户电脑上的任何内容都不能被查看或下载。",
            "Refused: this is upload-only; nothing on the user's PC can be looked at or downloaded.",
        ),
        "sftp_no_append": Text("不支持追加写入。", "Appending is not supported."),
        "sftp_no_change": Text(
            "拒绝：只能上传新文件，不能删除、改名或创建目录。",
            "Refused: only new files can be uploaded; nothing can be removed, renamed or created.",
        ),
        "sftp_too_many": Text(
            "同时最多接收 {limit} 个文件：请等前面的文件传完。",
            "At most {limit} files can be uploading at once: wait for the others to finish.",
        ),
        "sftp_no_folders": Text(
            "文件只能放进收件箱本身（或 <会话编号>/文件名），不能放进子目录。",
            "Files go into the inbox itself (or <session id>/NAME), not into folders.",
        ),
        "sftp_session_ended": Text(
            "会话 {session} 已结束：文件 {name} 未送达。",
            "Session {session} has ended: file {name} not delivered.",
        ),
        "sftp_not_delivered": Text("文件 {name} 未送达：{why}", "File {name} not delivered: {why}"),
        "refused_forward": Text(
            "拒绝端口转发：通过网关无法连接用户电脑或任何网络。",
            "Port forwarding refused: nothing on the user's PC or network can be reached "
            "through the gateway.",
        ),
        "login_refused": Text("登录被拒绝：{why}", "Login refused: {why}"),
        "totp_prompt": Text("动态验证码（TOTP）：", "TOTP code: "),
        "totp_title": Text("RME 两步验证", "RME two-step login"),
        "busy": Text("请求太多，请稍后。", "Too many requests; slow down."),
        # action states
        "st_requested": Text("已发送", "sent"),
        "st_awaiting_consent": Text("等待用户同意…", "waiting for the user…"),
        "st_allowed": Text("用户已允许", "allowed by the user"),
        "st_running": Text("正在执行", "running"),
        "st_done": Text("完成", "done"),
        "st_failed": Text("失败", "failed"),
        "st_cancelled": Text("已取消", "cancelled"),
        "st_denied": Text("用户拒绝", "denied by the user"),
        "st_timed_out": Text("用户未回应，已自动拒绝", "no answer from the user: denied"),
        "st_refused": Text("用户电脑拒绝（策略）", "refused by the user's computer"),
        # results
        "res_command": Text("退出码 {code}，{ms} ms", "exit code {code}, {ms} ms"),
        "res_withheld": Text(
            "用户查看了输出并选择不发送。", "The user read the output and kept it on the PC."
        ),
        "res_truncated": Text("（输出已截断）", "(output truncated)"),
        "res_diagnose": Text("结论：{verdict}，根因：{cause}", "verdict: {verdict}, root cause: {cause}"),
        "res_repair": Text(
            "修复 {repair}：已执行={applied}，已解决={fixed}（之前 {before} → 之后 {after}）",
            "repair {repair}: applied={applied}, fixed={fixed} (before {before} → after {after})",
        ),
        "res_push": Text(
            "已放入收件箱：{name}（{size} 字节，SHA-256 {sha}）",
            "In the inbox as {name} ({size} bytes, SHA-256 {sha})",
        ),
        "res_write_image": Text(
            "{disk}：用户确认={confirmed}，写入 {written}/{size} 字节，读回校验={verified}",
            "{disk}: typed by the user={confirmed}, wrote {written}/{size} bytes, verified={verified}",
        ),
        "res_error": Text("原因：{error}", "reason: {error}"),
        "what_diagnose": Text("诊断", "diagnosis"),
        "what_repair": Text("修复 {repair}", "repair {repair}"),
        "what_command": Text("命令 {command}", "command {command}"),
        "what_push": Text("文件 {name}", "file {name}"),
        "what_other": Text("操作 {kind}", "action {kind}"),
        "what_write_image": Text("把镜像 {image} 写入硬盘 {disk}", "write the image {image} to disk {disk}"),
    }
)


def say(lang: str, key: str, **fields: object) -> str:
    """The text `key` in `lang` (zh-CN, else English), its fields filled."""
    return TEXTS[key].render(lang, **fields) if fields else TEXTS[key].render(lang)


def state_label(lang: str, state: str) -> str:
    key = f"st_{state}"
    return say(lang, key) if key in TEXTS else state
