"""Turning an engineer-supplied file name into one safe, plain name inside the inbox.

The name comes from the other side of the wire, so it is hostile until proven otherwise. The result is
one path component that every OS the agent runs on treats as an ordinary file name:

* no path separators (`/`, `\\`) and none of Windows' reserved characters (`<>:"|?*`) — they become `_`;
  a drive prefix (`C:`) or an alternate data stream (`name:stream`) cannot survive that;
* no control characters (NUL, newlines, escapes, bidi overrides that disguise an extension);
* no leading dots or spaces (no `..`, no hidden files), no trailing dots or spaces (Win32 drops them,
  so `CON.` is `CON`);
* no Windows device names (`CON`, `NUL`, `COM1` … also with an extension: `nul.txt` opens the device);
* at most MAX_NAME_BYTES bytes of UTF-8, keeping the extension so the user still sees the file type.

Unicode is NFC-normalised first so one name has one spelling.
"""

from __future__ import annotations

import re
import unicodedata

MAX_NAME_BYTES = 180  # leaves room for " (123)" and the partial-file prefix under NAME_MAX (255)
FALLBACK = "file"
PARTIAL_PREFIX = ".rme-partial-"

_UNSAFE = re.compile(r'[/\\<>:"|?*]')
# Cc (controls), Cf (format: bidi overrides, zero-width), Cs/Co/Cn (surrogates, private, unassigned).
_DROP_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_DEVICES = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"}
    | {f"{d}{n}" for d in ("COM", "LPT") for n in [*"123456789", "¹", "²", "³"]}
)


def _drop_controls(text: str) -> str:
    return "".join(ch for ch in text if unicodedata.category(ch) not in _DROP_CATEGORIES)


def is_device_name(name: str) -> bool:
    """`CON`, `nul.txt`, `Com1.tar.gz`, `LPT¹`: Windows opens the device for any of them."""
    stem = name.split(".", 1)[0].rstrip(" ").upper()
    return stem in _DEVICES


def _truncate(name: str, limit: int) -> str:
    if len(name.encode("utf-8")) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext.encode("utf-8")) > 16:
        stem, ext = name, ""
    suffix = f".{ext}" if ext else ""
    room = limit - len(suffix.encode("utf-8"))
    cut = stem.encode("utf-8")[:room].decode("utf-8", "ignore")
    return (cut.rstrip(" .") or FALLBACK) + suffix


def sanitize_name(raw: str, limit: int = MAX_NAME_BYTES) -> str:
    """A safe single file name for `raw` (never empty, never a path, never a device)."""
    name = unicodedata.normalize("NFC", raw)
    name = _drop_controls(name)
    name = _UNSAFE.sub("_", name)
    # ".." anywhere becomes "." so no component can ever climb, whatever splits it later.
    while ".." in name:
        name = name.replace("..", ".")
    name = name.strip(" .")
    if not name:
        name = FALLBACK
    if is_device_name(name):
        name = "_" + name
    if name.startswith(PARTIAL_PREFIX):
        name = "_" + name
    return _truncate(name, limit)


def numbered(name: str, n: int) -> str:
    """`report.pdf` → `report (2).pdf`: the n-th alternative when the name is taken."""
    if n == 0:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return f"{name} ({n})"
    return f"{stem} ({n}).{ext}"
