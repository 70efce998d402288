"""The second confirmation before a disk is overwritten: the user types the disk's name.

A plain Allow is one key; overwriting a whole disk cannot be undone, so after the Allow the rescue screen
names the disk (path, model, size, what is on it now: partitions, file systems, the installed system)
and waits for its name (`sda`) to be typed. Only that name (or its full path) goes on; anything else,
an empty line, Esc, the kill switch or no answer in time cancels and nothing is written.

Pure core (`DiskQuestion`, `confirmed`, `edit`) and the waiting room (`DiskQuestions`: one asyncio
future per action, answered by the rescue screen or the panel's local API)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from protocol.texts import Text

T_TITLE = Text(
    "第二次确认：把镜像写入整块硬盘（会抹掉这块硬盘）",
    "Second confirmation: write the image over a whole disk (erases that disk)",
)
T_DISK = Text("硬盘 {disk}：{model}，{size}", "Disk {disk}: {model}, {size}")
T_NOW = Text("盘上现在有：", "On it now:")
T_PART = Text("  {device}  {fstype}  {label}  {os}", "  {device}  {fstype}  {label}  {os}")
T_EMPTY = Text("  （没有分区）", "  (no partitions)")
T_ERASE = Text(
    "写入 {image}（{image_size}）会抹掉这块硬盘上现有的一切，无法撤销。",
    "Writing {image} ({image_size}) erases everything on this disk now. It cannot be undone.",
)
T_TYPE = Text(
    "确定的话，请输入这块硬盘的名字 {name} 然后按回车。输入别的、直接回车或按 Esc 都会取消。",
    "To go on, type the disk's name {name} and press Enter. Anything else, an empty line or Esc cancels.",
)
T_TYPED = Text("你输入的：{typed}", "You typed: {typed}")
ESC = "\x1b"


def human_size(size: int) -> str:
    for unit, factor in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if size >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size} B"


@dataclass(frozen=True)
class PartitionNow:
    device: str
    fstype: str | None
    label: str | None
    os: str | None


@dataclass(frozen=True)
class DiskQuestion:
    action_id: str
    disk: str  # /dev/sda
    model: str | None
    size: int
    partitions: tuple[PartitionNow, ...]
    image: str
    image_size: int

    @property
    def name(self) -> str:
        """What the user types: the device's last path component (`sda`, `nvme0n1`)."""
        return self.disk.rsplit("/", 1)[-1]

    def lines(self, lang: str) -> list[str]:
        out = [
            T_TITLE.render(lang),
            T_DISK.render(lang, disk=self.disk, model=self.model or "?", size=human_size(self.size)),
            T_NOW.render(lang),
        ]
        for part in self.partitions:
            out.append(
                T_PART.render(
                    lang,
                    device=part.device,
                    fstype=part.fstype or "-",
                    label=part.label or "-",
                    os=part.os or "",
                ).rstrip()
            )
        if not self.partitions:
            out.append(T_EMPTY.render(lang))
        out.append(T_ERASE.render(lang, image=self.image, image_size=human_size(self.image_size)))
        out.append(T_TYPE.render(lang, name=self.name))
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "action_id": self.action_id,
            "disk": self.disk,
            "name": self.name,
            "model": self.model,
            "size": self.size,
            "image": self.image,
            "image_size": self.image_size,
            "partitions": [vars(p) for p in self.partitions],
            "text": {lang: self.lines(lang) for lang in ("zh-CN", "en")},
        }


def confirmed(question: DiskQuestion, typed: str | None) -> bool:
    """True only when the user typed the disk's name (or its full path); spaces around are forgiven."""
    if typed is None:
        return False
    text = typed.strip()
    return text != "" and text in (question.name, question.disk)


def edit(buffer: str, key: str) -> tuple[str, bool]:
    """One key typed into the answer: (the new buffer, whether the answer is finished). Enter finishes;
    Esc finishes with an empty answer (cancel); Backspace deletes; other control keys are ignored."""
    if key in ("\r", "\n"):
        return buffer, True
    if key == ESC:
        return "", True
    if key in ("\x7f", "\b"):
        return buffer[:-1], False
    if key.isprintable() and len(buffer) < 64:
        return buffer + key, False
    return buffer, False


class DiskQuestions:
    """The questions waiting for a typed name, one per action. `on_change` redraws the screens."""

    def __init__(self, on_change: Callable[[], None] | None = None) -> None:
        self.on_change = on_change
        self._waiting: dict[str, tuple[DiskQuestion, asyncio.Future[str | None]]] = {}

    def pending(self) -> list[DiskQuestion]:
        return [question for question, _future in self._waiting.values()]

    async def ask(self, question: DiskQuestion, timeout: float) -> str | None:  # noqa: ASYNC109 (the question's own deadline)
        """What the user typed, or None (cancelled, stopped, or no answer within `timeout` seconds)."""
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._waiting[question.action_id] = (question, future)
        self._changed()
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            return None
        finally:
            self._waiting.pop(question.action_id, None)
            self._changed()

    def answer(self, action_id: str, typed: str) -> bool:
        found = self._waiting.get(action_id)
        if found is None or found[1].done():
            return False
        found[1].set_result(typed)
        return True

    def cancel(self, action_id: str) -> None:
        found = self._waiting.get(action_id)
        if found is not None and not found[1].done():
            found[1].set_result(None)

    def _changed(self) -> None:
        if self.on_change is not None:
            with contextlib.suppress(Exception):
                self.on_change()
