"""The screendump reader the QEMU tests use to see Chinese drawn as Chinese (`tests/rescue/glyphs.py`),
on the title lines of two real screendumps: fbterm's (four glyphs) and the Linux console's (four boxes)."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from tests.rescue.glyphs import draws_chinese, title_glyphs

DATA = Path(__file__).with_name("data")


def test_fbterm_draws_four_different_characters() -> None:
    shot = DATA / "title-fbterm.png"
    assert len(title_glyphs(shot)) == 4
    assert draws_chinese(shot)


def test_the_linux_console_draws_four_equal_boxes() -> None:
    shot = DATA / "title-console.png"
    glyphs = title_glyphs(shot)
    assert all((g == glyphs[0]).all() for g in glyphs)
    assert not draws_chinese(shot)


def test_a_blank_screen_is_not_chinese(tmp_path: Path) -> None:
    Image.new("RGB", (64, 32)).save(tmp_path / "blank.png")
    assert not draws_chinese(tmp_path / "blank.png")
