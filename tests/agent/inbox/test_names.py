"""Hostile file names become one plain, safe name."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.inbox.names import MAX_NAME_BYTES, is_device_name, numbered, sanitize_name


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/x", "_._etc_x"),
        ("/etc/passwd", "_etc_passwd"),
        ("C:\\Windows\\System32\\drivers\\etc\\hosts", "C__Windows_System32_drivers_etc_hosts"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("com1.tar.gz", "_com1.tar.gz"),
        ("LPT¹", "_LPT¹"),
        ("CONOUT$", "_CONOUT$"),
        ("a\x00b\x1fc\x7f.txt", "abc.txt"),
        ("evil\u202etxt.exe", "eviltxt.exe"),
        ("name:stream", "name_stream"),
        ("..", "file"),
        ("   ", "file"),
        (".bashrc", "bashrc"),
        ("trailing. . ", "trailing"),
        ("文件.docx", "文件.docx"),
        (".rme-partial-abc", "rme-partial-abc"),
    ],
)
def test_sanitize(raw: str, expected: str) -> None:
    assert sanitize_name(raw) == expected


def test_long_names_keep_their_extension() -> None:
    name = sanitize_name("x" * 300 + ".txt")
    assert name.endswith(".txt")
    assert len(name.encode()) <= MAX_NAME_BYTES
    chinese = sanitize_name("文" * 300 + ".pdf")
    assert chinese.endswith(".pdf") and len(chinese.encode()) <= MAX_NAME_BYTES
    chinese.encode("utf-8")  # never cut inside a character


def test_numbered() -> None:
    assert numbered("a.pdf", 0) == "a.pdf"
    assert numbered("a.pdf", 2) == "a (2).pdf"
    assert numbered("README", 1) == "README (1)"


@given(st.text(min_size=0, max_size=400))
def test_any_input_gives_one_safe_component(raw: str) -> None:
    name = sanitize_name(raw)
    assert name and "/" not in name and "\\" not in name and ".." not in name
    assert not any(ord(ch) < 32 or ch in '<>:"|?*' for ch in name)
    assert not name.startswith((".", " ")) and not name.endswith((".", " "))
    assert not is_device_name(name)
    assert len(name.encode("utf-8")) <= MAX_NAME_BYTES
