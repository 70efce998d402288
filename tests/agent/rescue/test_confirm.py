"""The second confirmation's pure core: only the disk's name goes on; the screen's line editing; the
question names the disk and what is on it, in both languages; the waiting room answers, times out and
is cancelled."""

from __future__ import annotations

import asyncio

import pytest

from agent.rescue.confirm import DiskQuestion, DiskQuestions, PartitionNow, confirmed, edit

QUESTION = DiskQuestion(
    action_id="a1",
    disk="/dev/sda",
    model="Samsung SSD 860",
    size=512_110_190_592,
    partitions=(
        PartitionNow("/dev/sda1", "vfat", "SYSTEM", "Windows Boot Manager"),
        PartitionNow("/dev/sda2", "ntfs", "Windows", "Windows"),
    ),
    image="debian-12.img.xz",
    image_size=2_147_483_648,
)


@pytest.mark.parametrize(
    ("typed", "goes_on"),
    [
        ("sda", True),
        ("  sda\t", True),
        ("/dev/sda", True),
        ("", False),
        ("   ", False),
        (None, False),
        ("y", False),
        ("yes", False),
        ("是", False),
        ("SDA", False),
        ("sdb", False),
        ("sda1", False),
        ("sd", False),
        ("dev/sda", False),
    ],
)
def test_only_the_disks_name_goes_on(typed: str | None, goes_on: bool) -> None:
    assert confirmed(QUESTION, typed) is goes_on


def test_the_name_is_the_last_path_component() -> None:
    nvme = DiskQuestion("a2", "/dev/nvme0n1", None, 1, (), "x.img", 1)
    assert nvme.name == "nvme0n1" and confirmed(nvme, "nvme0n1") and not confirmed(nvme, "nvme0")


def test_line_editing() -> None:
    buffer, done = "", False
    for key in "sdx\x7fa":
        buffer, done = edit(buffer, key)
        assert not done
    assert buffer == "sda"
    assert edit(buffer, "\r") == ("sda", True)
    assert edit(buffer, "\n") == ("sda", True)
    assert edit(buffer, "\x1b") == ("", True)  # Esc: an empty answer, which cancels
    assert edit(buffer, "\x03") == ("sda", False)  # other control keys are ignored
    assert edit("x" * 64, "y") == ("x" * 64, False)  # bounded


def test_the_question_names_the_disk_and_what_is_on_it() -> None:
    en = "\n".join(QUESTION.lines("en"))
    zh = "\n".join(QUESTION.lines("zh-CN"))
    for text in (en, zh):
        for word in ("/dev/sda", "Samsung SSD 860", "512.1 GB", "/dev/sda2", "ntfs", "Windows Boot Manager",
                     "debian-12.img.xz", "2.1 GB", "sda"):  # fmt: skip
            assert word in text, word
    assert "type the disk's name sda" in en and "Esc cancels" in en
    assert "请输入这块硬盘的名字 sda" in zh and "无法撤销" in zh
    doc = QUESTION.to_json()
    assert doc["name"] == "sda" and doc["text"]["en"] == QUESTION.lines("en")
    empty = DiskQuestion("a3", "/dev/sdb", None, 8 << 30, (), "x.img", 1)
    assert "(no partitions)" in "\n".join(empty.lines("en"))


async def test_the_waiting_room() -> None:
    changes: list[int] = []
    room = DiskQuestions(on_change=lambda: changes.append(len(room.pending())))
    asked = asyncio.ensure_future(room.ask(QUESTION, 5))
    await asyncio.sleep(0)
    assert room.pending() == [QUESTION] and changes == [1]
    assert not room.answer("other", "sda")
    assert room.answer("a1", "sda")
    assert not room.answer("a1", "sda")  # answered once
    assert await asked == "sda"
    assert room.pending() == [] and changes[-1] == 0

    asked = asyncio.ensure_future(room.ask(QUESTION, 5))
    await asyncio.sleep(0)
    room.cancel("a1")  # the kill switch
    assert await asked is None

    assert await room.ask(QUESTION, 0.05) is None  # nobody answered in time
    assert room.pending() == []
