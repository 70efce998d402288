"""One user-facing text in both languages the home user reads (zh-CN and English), shared by the
agent (prompts, panel) and the server (the console shows the same words)."""

from __future__ import annotations

from typing import NamedTuple


class Text(NamedTuple):
    """One user-facing text in both languages; `str.format` fields are filled by `render`."""

    zh: str
    en: str

    def render(self, lang: str, **fields: object) -> str:
        """The text in `lang` (`zh-CN`, else English)."""
        template = self.zh if lang == "zh-CN" else self.en
        return template.format(**fields) if fields else template


__all__ = ["Text"]
