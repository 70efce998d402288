"""Making a command readable before the user allows it: invisible characters escaped, and plain-words
warnings for what cannot be read at all.

Escaping. A command (or its output) may hold characters that change what the user sees without being
seen: terminal escapes (ANSI `ESC [ … m` can recolour or hide text), carriage returns and backspaces,
bidirectional overrides (U+202E turns `txt.exe` into `exe.txt` on screen, CVE-2021-42574 "Trojan
Source"), zero-width characters. Every character of Unicode category Cc (controls), Cf (format: bidi,
zero-width), Zl/Zp (line/paragraph separators), Co/Cs (private use, surrogates) is shown as an escape
(`\\x1b`, `\\u202e`); newlines stay newlines (multi-line commands are shown as lines, and flagged) and
backslashes stay as they are (an escape the user sees always stands for an invisible character).

Unreadable effect. Some commands do not say what they do: they decode a payload (`base64 -d`,
`certutil -decode`, PowerShell `-EncodedCommand`, `FromBase64String`, `xxd -r`), evaluate text built at
run time (`eval`, `Invoke-Expression`/`iex`, `python -c "exec(…)"`), or run what they download
(`curl … | sh`, `bash <(wget …)`, `DownloadString(…) | iex`). Those get a warning in plain words: the
user cannot know what will run, so unless they trust the engineer completely, Deny. These patterns are
a courtesy for the reader, not a wall: the wall is consent (and the sandbox around commands).
"""

from __future__ import annotations

import re
import unicodedata

from agent.i18n import Text

ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs"})
LONG_COMMAND = 200  # characters; longer commands are flagged (shown in full all the same)

W_ESCAPED = Text(
    "这条命令含有看不见的字符（控制字符、终端转义或文字方向字符），已显示为 \\x.. 或 \\u.... 形式。"
    "屏幕上看到的可能与实际运行的不同。",
    "This command contains invisible characters (control, terminal-escape or text-direction "
    "characters), shown here as \\x.. or \\u.... What you see elsewhere may differ from what runs.",
)
W_LONG = Text(
    "这条命令很长（{length} 个字符，{lines} 行）。请完整读完再决定；看不懂就拒绝。",
    "This command is long ({length} characters, {lines} lines). Read all of it before deciding; "
    "if you do not understand it, Deny.",
)
W_MULTILINE = Text(
    "这条命令有 {lines} 行，每一行都会运行。",
    "This command has {lines} lines, and every line runs.",
)
W_ENCODED = Text(
    "这条命令会先解码一段编码过的内容再运行，您无法从这里读出它真正会做什么。",
    "This command decodes a hidden (encoded) payload before running it: you cannot read here what "
    "it will really do.",
)
W_EVAL = Text(
    "这条命令会把运行时才生成的文字当作命令执行（eval），您无法从这里读出它真正会做什么。",
    "This command runs text that is only put together when it runs (eval): you cannot read here "
    "what it will really do.",
)
W_DOWNLOAD = Text(
    "这条命令会从网上下载内容并直接运行，您无法从这里读出它真正会做什么。",
    "This command downloads something from the internet and runs it straight away: you cannot read "
    "here what it will really do.",
)
W_UNREADABLE_ADVICE = Text(
    "除非您完全信任这位工程师，否则请选择“拒绝”。",
    "Unless you fully trust this engineer, choose Deny.",
)

_ENCODED = re.compile(
    r"""base64\s+(?:-\w*d\w*|--decode)\b      # base64 -d, -di, --decode
      | \bbase32\s+(?:-\w*d|--decode)
      | certutil(?:\.exe)?\s+[-/]decode(?:hex)?
      | \bfrombase64string\b
      | (?:powershell|pwsh)(?:\.exe)?\b.*\s[-/]e(?:nc(?:odedcommand)?|c)?\s+[A-Za-z0-9+/=]{16,}
      | \bxxd\s+(?:-\w+\s+)*-r
      | \bopenssl\s+(?:enc\s+)?(?:-\w+\s+)*-d\b
      | \bopenssl\s+base64\s+-d
      | \bgzip\s+-d[c]?\b.*\|\s*(?:ba|z|da|k)?sh\b
      | \$'(?:[^']*\\x[0-9a-f]{2}){3}           # $'\x63\x61\x74'
      | \bprintf\s+['"]?(?:[^'"]*\\(?:x[0-9a-f]{2}|[0-7]{3})){4}
      | \bchr\(\d+\)(?:\s*[.+&]\s*chr\(\d+\)){3}
      | \[char\]\d+(?:\s*\+\s*\[char\]\d+){3}
    """,
    re.IGNORECASE | re.VERBOSE,
)
_EVAL = re.compile(
    r"""(?:^|[;&|(`\s])eval\b
      | \binvoke-expression\b | (?:^|[;|(\s])iex\b
      | \bpython[0-9.]*\s+-c\s+.*\b(?:exec|eval|__import__)\s*\(
      | \bperl\s+-e\s+.*\beval\b
      | \bnode\s+-e\s+.*\beval\s*\(
      | \bsource\s+<\( | (?:^|[;&|\s])\.\s+<\(
    """,
    re.IGNORECASE | re.VERBOSE,
)
_DOWNLOAD = re.compile(
    r"""\b(?:curl|wget|fetch|iwr|invoke-webrequest|irm|invoke-restmethod)\b[^|;&]*\|\s*(?:sudo\s+)?
          (?:(?:ba|z|da|k|c|tc|fi)?sh|python[0-9.]*|perl|ruby|node|php|iex|powershell|pwsh)\b
      | (?:ba|z|da|k)?sh\s+<\(\s*(?:curl|wget)
      | (?:ba|z|da|k)?sh\s+-c\s+["']?\$\(\s*(?:curl|wget)
      | \bdownloadstring\s*\(
      | \bdownloadfile\s*\(.*;\s*(?:start|&|\.\\)
      | \bmshta\s+https?:
      | \bregsvr32\b.*\/i:https?:
      | \bbitsadmin\b.*\/transfer
    """,
    re.IGNORECASE | re.VERBOSE,
)


def _escape_char(char: str) -> str:
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def escape(text: str, keep: str = "\n") -> str:
    """`text` with every invisible or control character (but those in `keep`) written as an escape."""
    return "".join(
        _escape_char(c) if c not in keep and unicodedata.category(c) in ESCAPED_CATEGORIES else c
        for c in text
    )


def has_hidden(text: str, keep: str = "\n") -> bool:
    return any(c not in keep and unicodedata.category(c) in ESCAPED_CATEGORIES for c in text)


def unreadable(command: str) -> list[Text]:
    """Why the effect of `command` cannot be read from its text (empty when nothing is found)."""
    found: list[Text] = []
    if _ENCODED.search(command):
        found.append(W_ENCODED)
    if _EVAL.search(command):
        found.append(W_EVAL)
    if _DOWNLOAD.search(command):
        found.append(W_DOWNLOAD)
    return found


def command_warnings(command: str) -> list[Text]:
    """Every warning the consent prompt shows for `command`, in the order the user should read them."""
    warnings: list[Text] = []
    lines = command.count("\n") + 1
    if has_hidden(command):
        warnings.append(W_ESCAPED)
    if len(command) > LONG_COMMAND:
        sizes = {"length": len(command), "lines": lines}
        warnings.append(Text(W_LONG.zh.format(**sizes), W_LONG.en.format(**sizes)))
    elif lines > 1:
        warnings.append(Text(W_MULTILINE.zh.format(lines=lines), W_MULTILINE.en.format(lines=lines)))
    hidden = unreadable(command)
    warnings += hidden
    if hidden:
        warnings.append(W_UNREADABLE_ADVICE)
    return warnings
