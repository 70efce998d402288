"""The screen view in the console, in Chromium, against a real agent on a real X server (Xvfb) with a
real Tk program: the canvas shows the known colour at the right place; a click in the canvas presses
the program's button; text typed in the console (Chinese too) arrives in its field; fps and bandwidth
are shown; a screenshot saves to the engineer's PC; Stop on the user's panel ends the view."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.console.conftest import Agent, allow_on_panel, login, new_context, running_agent, start_session
from tests.screen.xdisplay import COLOUR, TkApp, xvfb
from tests.server.helpers import ADMIN, RunningServer

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with xvfb(1024, 768) as name:
        yield name


@pytest.fixture(scope="module")
def screen_agent(
    console_server: RunningServer, tmp_path_factory: pytest.TempPathFactory, display: str
) -> Iterator[Agent]:
    with running_agent(console_server, tmp_path_factory, DISPLAY=display) as running:
        yield running


def canvas_point(console: Page, x: int, y: int) -> tuple[float, float]:
    """Where screen pixel (x, y) is on the page (the canvas is scaled to its column)."""
    console.locator("#screen-canvas").scroll_into_view_if_needed()
    box = console.locator("#screen-canvas").bounding_box()
    assert box is not None
    size = console.evaluate(
        "() => { const c = document.querySelector('#screen-canvas'); return [c.width, c.height]; }"
    )
    return box["x"] + x * box["width"] / size[0], box["y"] + y * box["height"] / size[1]


def pixel(console: Page, x: int, y: int) -> list[int]:
    return list(
        console.evaluate(
            "([x, y]) => Array.from(document.querySelector('#screen-canvas').getContext('2d')"
            ".getImageData(x, y, 1, 1).data.slice(0, 3))",
            [x, y],
        )
    )


def test_the_console_views_and_controls_the_users_screen(
    browser: Browser, console_server: RunningServer, screen_agent: Agent, display: str, tmp_path: Path
) -> None:
    app = TkApp(display)
    context = new_context(browser, "en")
    try:
        console = context.new_page()
        login(console, console_server, ADMIN)
        panel = start_session(context, console, screen_agent, "please look at my screen")
        expect(console.locator("#screen-idle")).to_be_visible()
        expect(console.locator("#req-control")).to_be_disabled()  # no control before a view
        console.click("#req-screen")
        allow_on_panel(panel)
        expect(console.locator("#screen-canvas")).to_be_visible()
        block = app.geometry["block"]
        cx, cy = block.centre
        console.wait_for_function(
            "([x, y, c]) => { const d = document.querySelector('#screen-canvas').getContext('2d')"
            ".getImageData(x, y, 1, 1).data; return Math.abs(d[0]-c[0]) < 8 && Math.abs(d[1]-c[1]) < 8"
            " && Math.abs(d[2]-c[2]) < 8; }",
            arg=[cx, cy, list(COLOUR)],
        )
        assert pixel(console, cx, block.y - 20) != pytest.approx(list(COLOUR), abs=8)  # only there
        expect(console.locator("#screen-stats")).to_contain_text("fps")
        expect(console.locator("#screen-stats")).to_contain_text("Mb/s")

        # The screenshot lands on the engineer's own PC (a download of this page).
        with console.expect_download() as download:
            console.click("#screenshot")
        saved = tmp_path / "shot.png"
        download.value.save_as(saved)
        assert saved.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

        # Control: a second consent; then a click in the canvas presses the program's button.
        console.click("#req-control")
        allow_on_panel(panel)
        expect(console.locator("#control-on")).to_be_visible()
        bx, by = app.geometry["button"].centre
        console.mouse.click(*canvas_point(console, bx, by))
        assert app.wait_for("pressed", 10), app.lines[-3:]
        ex, ey = app.geometry["entry"].centre
        console.mouse.click(*canvas_point(console, ex, ey))
        console.locator("#screen-canvas").press("H")
        console.locator("#screen-canvas").press("i")
        console.fill("#screen-text", " 你好，世界")
        console.press("#screen-text", "Enter")
        assert app.wait_for("text Hi 你好，世界", 10), app.lines[-3:]

        # The user's Stop on the panel ends the view (and its control) in the console too.
        stop = panel.locator("#screens button.stop-screen").first
        stop.wait_for(state="visible")
        stop.click()
        expect(console.locator("#req-screen")).to_be_enabled()
        expect(console.locator("#control-on")).to_be_hidden()
    finally:
        context.close()
        app.close()
