"""The pure parts of the screen view: which tiles changed, how they merge, the pace, the slot."""

from __future__ import annotations

import io
import os

import pytest
from PIL import Image

from agent.screen.capture import Slot
from agent.screen.encoder import Pace, crop, encode_tiles
from agent.screen.tiles import TILE, Picture, Rect, changed_mask, rects
from protocol.screen import ScreenFrame


class Canvas:
    """A BGRA picture being drawn on (a bytearray), frozen into a `Picture` when compared."""

    def __init__(self, h: int = 100, w: int = 150, fill: bytes = bytes(4)) -> None:
        self.h, self.w = h, w
        self.data = bytearray(fill * (w * h))

    def set(self, x: int, y: int, bgra: tuple[int, int, int, int]) -> None:
        o = (y * self.w + x) * 4
        self.data[o : o + 4] = bytes(bgra)

    def fill(self, x0: int, y0: int, x1: int, y1: int, bgra: tuple[int, int, int, int]) -> None:
        for y in range(y0, y1):
            for x in range(x0, x1):
                self.set(x, y, bgra)

    def picture(self) -> Picture:
        return Picture(self.w, self.h, bytes(self.data))


def picture(h: int = 100, w: int = 150) -> Picture:
    return Canvas(h, w).picture()


def changed(mask: list[list[bool]]) -> list[tuple[int, int]]:
    return [(r, c) for r, line in enumerate(mask) for c, on in enumerate(line) if on]


def test_no_previous_picture_means_everything_changed() -> None:
    mask = changed_mask(None, picture())
    assert (len(mask), len(mask[0])) == (-(-100 // TILE), -(-150 // TILE))
    assert all(all(line) for line in mask)


def test_a_picture_of_another_size_is_all_changed_and_a_wrong_buffer_is_refused() -> None:
    assert all(all(line) for line in changed_mask(picture(64, 64), picture(100, 150)))
    with pytest.raises(ValueError, match="needs"):
        Picture(10, 10, bytes(399))


def test_one_changed_pixel_changes_one_tile_only() -> None:
    before, after = Canvas(), Canvas()
    after.set(2 * TILE + 1, TILE + 3, (1, 2, 3, 255))
    mask = changed_mask(before.picture(), after.picture())
    assert changed(mask) == [(1, 2)]
    assert rects(mask, 150, 100) == [Rect(2 * TILE, TILE, min(150, 3 * TILE) - 2 * TILE, TILE)]


@pytest.mark.parametrize("seed", range(8))
def test_the_bytes_diff_finds_exactly_the_tiles_a_pixel_changed_in(seed: int) -> None:
    """Random pixels on a random picture with partial edge tiles: the mask is exactly the set of tiles
    holding a changed pixel (checked against the definition, pixel by pixel)."""
    rnd = __import__("random").Random(seed)
    h, w = rnd.randint(1, 140), rnd.randint(1, 200)
    before = Canvas(h, w)
    before.data[:] = os.urandom(len(before.data))
    after = Canvas(h, w)
    after.data[:] = before.data
    touched = {(rnd.randrange(w), rnd.randrange(h)) for _ in range(rnd.randint(0, 6))}
    for x, y in touched:
        o = (y * w + x) * 4 + rnd.randrange(4)
        after.data[o] ^= 1 + rnd.randrange(255)
    want = sorted({(y // TILE, x // TILE) for x, y in touched})
    assert changed(changed_mask(before.picture(), after.picture())) == want


def test_neighbouring_tiles_in_a_row_merge_and_edges_are_clipped() -> None:
    w = 4 * TILE + 10
    before, after = Canvas(70, w), Canvas(70, w)
    after.fill(TILE * 3, 0, TILE * 4 + 10, 1, (255, 255, 255, 255))  # the first row's last two tiles
    mask = changed_mask(before.picture(), after.picture())
    assert rects(mask, w, 70) == [Rect(3 * TILE, 0, TILE + 10, TILE)]


def test_most_of_the_picture_changed_is_sent_whole() -> None:
    after = Canvas(fill=bytes((9, 9, 9, 9)))
    assert rects(changed_mask(picture(), after.picture()), 150, 100) == [Rect(0, 0, 150, 100)]


def test_a_crop_holds_exactly_the_rectangle() -> None:
    canvas = Canvas(40, 50)
    canvas.data[:] = os.urandom(len(canvas.data))
    pic = canvas.picture()
    r = Rect(7, 3, 20, 11)
    want = b"".join(pic.data[(y * 50 + 7) * 4 : (y * 50 + 27) * 4] for y in range(3, 14))
    assert crop(pic, r) == want
    assert crop(pic, Rect(0, 5, 50, 2)) == pic.data[5 * 200 : 7 * 200]


def test_tiles_encode_to_jpeg_of_their_own_size_and_colour() -> None:
    canvas = Canvas(64, 64, fill=bytes((0x56, 0xC4, 0x12, 255)))  # BGRA of #12c456
    (tile,) = encode_tiles(canvas.picture(), [Rect(16, 8, 32, 24)], 80)
    image = Image.open(io.BytesIO(bytes(tile.jpeg)))
    assert image.format == "JPEG" and image.size == (32, 24)
    pixel = image.convert("RGB").getpixel((16, 12))
    assert isinstance(pixel, tuple)
    assert all(abs(a - b) <= 6 for a, b in zip(pixel, (0x12, 0xC4, 0x56), strict=True)), pixel


def test_the_pace_lowers_quality_then_rate_on_a_slow_link_and_recovers() -> None:
    pace = Pace(quality=70, fps=30)
    for _ in range(10):
        pace.sent(send_s=0.2, interval_s=1 / 30)
    assert pace.quality == pace.min_quality and pace.fps < 30
    for _ in range(40):
        pace.sent(send_s=0.0001, interval_s=1 / pace.fps)
    assert pace.fps == pace.max_fps and pace.quality == pace.max_quality


def test_the_cpu_cap_stretches_the_pause() -> None:
    pace = Pace(fps=30, cpu_share=0.25)
    assert pace.pause(0.03) >= 0.09 - 1e-9  # 30 ms of work at a 25 % share: 90 ms of rest
    assert (
        abs(Pace(fps=10, cpu_share=0.5).pause(0.01) - 0.09) < 1e-9
    )  # the rate, when it is the tighter limit


def test_the_slot_keeps_only_the_newest_frame() -> None:
    slot = Slot()
    for seq in range(3):
        slot.put(ScreenFrame("v", seq, 8, 8, ()), picture(8, 8), [])
    item = slot.take(0.01)
    assert item is not None and item[0].seq == 2 and slot.replaced == 2
    assert slot.take(0.01) is None


def test_enough_changed_tiles_stop_the_diff_and_call_everything_changed() -> None:
    before, after = Canvas(), Canvas()
    after.fill(0, 0, 150, 40, (1, 1, 1, 1))  # the first two bands: 10 tiles of 20
    assert len(changed(changed_mask(before.picture(), after.picture()))) == 10
    assert all(all(line) for line in changed_mask(before.picture(), after.picture(), enough=9))
    assert len(changed(changed_mask(before.picture(), after.picture(), enough=11))) == 10
