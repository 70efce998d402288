"""The two languages every user-facing text exists in, and how the agent picks one."""

from __future__ import annotations

import locale
import os
from typing import Literal, get_args

from protocol.texts import Text  # the shared text type (also the server's); re-exported here

Lang = Literal["zh-CN", "en"]
LANGS: tuple[Lang, ...] = get_args(Lang)


def parse_lang(value: str | None) -> Lang | None:
    """Map `zh`, `zh_CN.UTF-8`, `zh-Hans`, `en_US` … to a supported language, or None."""
    if not value:
        return None
    tag = value.split(".")[0].replace("_", "-").lower()
    if tag.startswith("zh"):
        return "zh-CN"
    if tag.startswith("en") or tag in {"c", "posix"}:
        return "en"
    return None


def system_lang() -> Lang:
    """The user's language from the environment (LC_ALL, LC_MESSAGES, LANG, LANGUAGE), else English.

    Windows has no LANG; there `locale.getlocale()` names the UI language, which we also try.
    """
    for var in ("RME_LANG", "LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE"):
        lang = parse_lang(os.environ.get(var))
        if lang:
            return lang
    return parse_lang(locale.getlocale()[0]) or "en"


__all__ = ["LANGS", "Lang", "Text", "parse_lang", "system_lang"]
