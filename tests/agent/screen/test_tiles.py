"""The pure parts of the screen view: which tiles changed, how they merge, the pace, the slot."""

from __future__ import annotations

import numpy as np
import simplejpeg

from agent.screen.capture import Slot
from agent.screen.encoder import Pace, encode_tiles
from agent.screen.tiles import TILE, Rect, changed_mask, rects
from protocol.screen import ScreenFrame


def picture(h: int = 100, w: int = 150) -> np.ndarray:
    return np.zeros((h, w, 4), dtype=np.uint8)


def test_no_previous_picture_means_everything_changed() -> None:
    mask = changed_mask(None, picture())
    assert mask.shape == (-(-100 // TILE), -(-150 // TILE)) and mask.all()


def test_one_changed_pixel_changes_one_tile_only() -> None:
    before, after = picture(), picture()
    after[TILE + 3, 2 * TILE + 1] = (1, 2, 3, 255)
    mask = changed_mask(before, after)
    assert mask.sum() == 1 and mask[1, 2]
    assert rects(mask, 150, 100) == [Rect(2 * TILE, TILE, min(150, 3 * TILE) - 2 * TILE, TILE)]


def test_neighbouring_tiles_in_a_row_merge_and_edges_are_clipped() -> None:
    before, after = picture(70, 4 * TILE + 10), picture(70, 4 * TILE + 10)
    after[0, TILE * 3 : TILE * 4 + 10] = 255  # the last two tiles of the first row, the last one partial
    mask = changed_mask(before, after)
    assert rects(mask, after.shape[1], 70) == [Rect(3 * TILE, 0, TILE + 10, TILE)]


def test_most_of_the_picture_changed_is_sent_whole() -> None:
    before, after = picture(), picture()
    after[:, :] = 9
    assert rects(changed_mask(before, after), 150, 100) == [Rect(0, 0, 150, 100)]


def test_tiles_encode_to_jpeg_of_their_own_size_and_colour() -> None:
    pic = picture(64, 64)
    pic[:, :] = (0x56, 0xC4, 0x12, 255)  # BGRA of #12c456
    (tile,) = encode_tiles(pic, [Rect(16, 8, 32, 24)], 80)
    rgb = simplejpeg.decode_jpeg(bytes(tile.jpeg), colorspace="RGB")
    assert rgb.shape == (24, 32, 3) and np.allclose(rgb[12, 16], (0x12, 0xC4, 0x56), atol=6)


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
