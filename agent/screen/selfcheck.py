"""`rme-agent _screen-check`: does this build carry the screen view? (hidden; tests/build runs it on
the single-file binary.) It imports every part, asks the executors whether they would refuse, sends a
known picture through the tile diff and the JPEG encoder and decodes it back; with a display
(`DISPLAY`, or always on Windows) it also grabs the first monitor and puts the indicator on screen —
started the way the view starts it — then closes it. Prints one JSON object; exit status 0 when all
held, 1 otherwise.
"""

from __future__ import annotations

import io
import json
import os
import sys
from typing import Any


def _codec() -> dict[str, Any]:
    from PIL import Image  # noqa: PLC0415

    from agent.screen.encoder import encode_tiles  # noqa: PLC0415
    from agent.screen.tiles import Picture, changed_mask, rects  # noqa: PLC0415

    w, h = 96, 64
    before = Picture(w, h, bytes(w * h * 4))
    after = bytearray(before.data)
    for y in range(32, 64):
        for x in range(32, 64):
            after[(y * w + x) * 4 : (y * w + x) * 4 + 4] = bytes((0x56, 0xC4, 0x12, 255))  # #12c456
    picture = Picture(w, h, bytes(after))
    changed = rects(changed_mask(before, picture), w, h)
    (tile,) = encode_tiles(picture, changed, 80)
    decoded = Image.open(io.BytesIO(bytes(tile.jpeg))).convert("RGB")
    pixel = decoded.getpixel((16, 16))
    assert isinstance(pixel, tuple)
    ok = (tile.x, tile.y, tile.w, tile.h) == (32, 32, 32, 32) and all(
        abs(a - b) <= 8 for a, b in zip(pixel, (0x12, 0xC4, 0x56), strict=True)
    )
    return {"ok": ok, "tile": [tile.x, tile.y, tile.w, tile.h], "jpeg_bytes": len(tile.jpeg)}


def _on_screen(lang: str) -> dict[str, Any]:
    from agent.screen.capture import _grabber, monitors  # noqa: PLC0415
    from agent.screen.indicator import Indicator  # noqa: PLC0415

    found = monitors()
    m = found[0]
    with _grabber() as grabber:
        shot = grabber.grab({"left": m.left, "top": m.top, "width": m.width, "height": m.height})
    indicator = Indicator("self-check", lang, lambda: None)
    try:
        shown = indicator.start(timeout=20.0)
    finally:
        indicator.close()
    return {"monitors": len(found), "grab": [shot.width, shot.height], "indicator_shown": shown}


def main(argv: list[str]) -> int:
    from agent.executors.screen import ScreenControlExecutor, ScreenViewExecutor  # noqa: PLC0415
    from protocol.actions import ScreenControlParams, ScreenViewParams  # noqa: PLC0415

    view = ScreenViewExecutor(lambda: "en")
    control = ScreenControlExecutor(view)
    view_refused = view.refusal(ScreenViewParams())
    control_refused = control.refusal(ScreenControlParams(view="v"))
    report: dict[str, Any] = {
        "frozen": bool(getattr(sys, "frozen", False)),
        "view": "refused" if view_refused else "ready",
        "control": "refused" if control_refused else "ready",
    }
    ok = view_refused is None and control_refused is None
    try:
        report["codec"] = _codec()
        ok = ok and report["codec"]["ok"]
    except Exception as exc:  # a part missing from the build: say which
        report["codec"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        ok = False
    if "--screen" in argv or (os.environ.get("DISPLAY") and "--no-screen" not in argv):
        try:
            report["screen"] = _on_screen("en")
            ok = ok and bool(report["screen"]["indicator_shown"])
        except Exception as exc:
            report["screen"] = {"error": f"{type(exc).__name__}: {exc}"}
            ok = False
    print(json.dumps(report))
    return 0 if ok else 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
